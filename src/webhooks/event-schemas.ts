import { Type, type TSchema } from 'typebox'
import { EVENT_TYPES, type EventType } from './event-types.js'
import { TEST_EVENT } from './outbox.js'

/**
 * What each event's body holds, as JSON Schema: the OpenAPI document's `webhooks` (3.1), so receivers can
 * generate their types, and what the tests hold every received event to (additionalProperties: false, so a
 * field added in code and not here fails them). A published field keeps its name and meaning.
 */
const text = (description: string) => Type.String({ description })
const nullable = (schema: TSchema, description: string) => Type.Union([schema, Type.Null()], { description })
const object = (properties: Record<string, TSchema>, description: string) =>
  Type.Object(properties, { additionalProperties: false, description })
const instant = (description: string) => Type.String({ format: 'date-time', description })

const step = object(
  { step: text('The step, e.g. add-alias.'), role: text('The role that takes it.') },
  'A step of the procedure and the role that must take it.',
)
const by = text('Name of the token that made the change.')
const auditRecordId = Type.Integer({ description: 'The audit record of the change (GET /audit).' })
const renewalNames = {
  renewalId: Type.String({ format: 'uuid', description: 'The renewal.' }),
  procedure: text('exchange, add-alias, prepared-alias, downtime, or signer-key (renews the tenant’s signing key).'),
  encryptorId: text('The encryptor it renews a receiver (signer-key: the signer) of.'),
  currentAlias: text('The alias of the receiver’s current certificate (signer-key: of the current key pair).'),
  newAlias: nullable(
    Type.String(),
    'The alias the new certificate goes under (add-alias, prepared-alias; signer-key: the new key pair’s).',
  ),
}
const fingerprint = (description: string) => Type.String({ pattern: '^[0-9a-f]{64}$', description })
const certificate = {
  notAfter: instant('End of validity.'),
  subject: text('Subject distinguished name.'),
  issuer: text('Issuer distinguished name.'),
  serialNumber: text('Serial number, hex.'),
  sha256Fingerprint: fingerprint('SHA-256 of the certificate (DER), hex.'),
}
const usedBy = Type.Array(Type.String(), { description: 'Encryptors that list the alias.' })
const signedBy = Type.Array(Type.String(), { description: 'Encryptors that sign with the key pair.' })
const byRenewal = nullable(Type.String({ format: 'uuid' }), 'The renewal whose step made the change, if any.')

export const EVENT_DATA: Record<EventType | typeof TEST_EVENT, TSchema> = {
  'renewal.started': object(
    {
      ...renewalNames,
      sha256Fingerprint: fingerprint('The new certificate.'),
      downtime: nullable(
        object({ start: instant('Start.'), end: instant('End.') }, 'The planned window.'),
        'The planned downtime window (downtime procedure), if one was given.',
      ),
      by,
      steps: Type.Array(step, { description: 'The procedure’s steps, in order.' }),
      nextStep: nullable(step, 'The first step.'),
      auditRecordId,
    },
    'A renewal was started.',
  ),
  'renewal.step-completed': object(
    {
      ...renewalNames,
      step: object(
        {
          step: text('The step taken.'),
          role: text('The role it was taken as.'),
          by,
          comment: nullable(Type.String(), 'The comment given with it.'),
        },
        'The step that was taken.',
      ),
      done: Type.Integer({ minimum: 1, description: 'Steps done now.' }),
      total: Type.Integer({ minimum: 1, description: 'Steps of the procedure.' }),
      nextStep: nullable(step, 'Whose turn it is now: the next step and its role; null after the last.'),
      auditRecordId,
    },
    'A renewal step was taken.',
  ),
  'renewal.completed': object(
    { ...renewalNames, sha256Fingerprint: fingerprint('The new certificate.'), by, auditRecordId },
    'A renewal took its last step.',
  ),
  'renewal.aborted': object(
    {
      ...renewalNames,
      done: Type.Integer({ minimum: 0, description: 'Steps that had been done.' }),
      undone: Type.Array(Type.String(), { description: 'The effects rolled back, e.g. remove-alias.' }),
      by,
      comment: nullable(Type.String(), 'The comment given with the abort.'),
      auditRecordId,
    },
    'A renewal was aborted.',
  ),
  'renewal.waiting': object(
    {
      renewalId: renewalNames.renewalId,
      procedure: renewalNames.procedure,
      encryptorId: renewalNames.encryptorId,
      waitingFor: step,
      waitingSince: instant('When the step before was taken (or the renewal started).'),
      hoursWaiting: Type.Integer({ minimum: 0, description: 'Whole hours waited so far.' }),
    },
    'A renewal has waited on one step longer than WEBHOOK_RENEWAL_WAITING_HOURS.',
  ),
  'certificate.expiring': object(
    {
      alias: text('The keystore alias.'),
      thresholdDays: Type.Integer({ minimum: 1, description: 'The threshold crossed.' }),
      daysLeft: Type.Integer({ minimum: 0, description: 'Whole days left.' }),
      ...certificate,
      usedBy,
    },
    'A certificate came within an expiry threshold.',
  ),
  'certificate.expired-in-use': object(
    { alias: text('The keystore alias.'), ...certificate, usedBy },
    'A certificate expired while encryptors list its alias.',
  ),
  'encryptor.paused': object(
    {
      encryptorId: text('The encryptor.'),
      pausedUntil: nullable(instant('End.'), 'End of the planned downtime window, if known.'),
      by,
      renewalId: byRenewal,
      auditRecordId,
    },
    'An encryptor was paused: encrypt answers 503 until it is resumed.',
  ),
  'encryptor.resumed': object(
    {
      encryptorId: text('The encryptor.'),
      pausedUntil: Type.Null({ description: 'Always null.' }),
      by,
      renewalId: byRenewal,
      auditRecordId,
    },
    'An encryptor was resumed.',
  ),
  'keystore.changed': object(
    {
      alias: text('The keystore alias.'),
      change: Type.Enum(['created', 'replaced', 'deleted'], { description: 'What happened to it.' }),
      certificate: nullable(object(certificate, 'The certificate.'), 'What the alias holds now; null: deleted.'),
      previousSha256Fingerprint: nullable(Type.String(), 'What it held before; null: created.'),
      usedBy,
      by,
      renewalId: byRenewal,
      auditRecordId,
    },
    'An alias got, changed or lost its certificate.',
  ),
  'key-pair.changed': object(
    {
      alias: text('The key pair’s alias.'),
      change: Type.Enum(['created', 'replaced', 'deleted'], { description: 'What happened to it.' }),
      certificate: nullable(
        object(certificate, 'The signer certificate (the key itself is never sent).'),
        'What the alias holds now; null: deleted.',
      ),
      previousSha256Fingerprint: nullable(Type.String(), 'The certificate it held before; null: created.'),
      usedBy: signedBy,
      by,
      renewalId: byRenewal,
      auditRecordId,
    },
    'A key pair was added, replaced or removed.',
  ),
  'key-pair.expiring': object(
    {
      alias: text('The key pair’s alias.'),
      thresholdDays: Type.Integer({ minimum: 1, description: 'The threshold crossed.' }),
      daysLeft: Type.Integer({ minimum: 0, description: 'Whole days left.' }),
      ...certificate,
      usedBy: signedBy,
    },
    'A key pair’s certificate came within an expiry threshold.',
  ),
  'key-pair.expired-in-use': object(
    { alias: text('The key pair’s alias.'), ...certificate, usedBy: signedBy },
    'A key pair’s certificate expired while encryptors sign with it.',
  ),
  'encryptor.changed': object(
    {
      encryptorId: text('The encryptor.'),
      change: Type.Enum(['created', 'changed', 'deleted'], { description: 'What happened to it.' }),
      receiverAliases: nullable(Type.Array(Type.String()), 'Its receiver aliases now; null: deleted.'),
      previousReceiverAliases: nullable(Type.Array(Type.String()), 'Before; null: created.'),
      version: nullable(Type.Integer(), 'Its version now; null: deleted.'),
      by,
      renewalId: byRenewal,
      auditRecordId,
    },
    'An encryptor was created, changed or deleted.',
  ),
  [TEST_EVENT]: object(
    {
      subscriptionId: Type.String({ format: 'uuid', description: 'The subscription pinged.' }),
      message: text('Says what this is.'),
    },
    'A ping, sent on request (POST /webhooks/{id}/test).',
  ),
}

/** The whole body of an event of `type`: `{type, timestamp, data}`, as Standard Webhooks suggests. */
export function eventBodySchema(type: keyof typeof EVENT_DATA): TSchema {
  return object(
    {
      type: Type.Literal(type, { description: 'The event type.' }),
      timestamp: instant('When the event happened (its change committed).'),
      data: EVENT_DATA[type],
    },
    `The body of a ${type} event.`,
  )
}

const SIGNATURE_HEADERS = [
  ['webhook-id', 'The event id (evt_…): the same on every attempt; deduplicate by it.'],
  ['webhook-timestamp', 'When this attempt was made, Unix seconds; refuse stale ones.'],
  [
    'webhook-signature',
    'v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}" under the secret>; two, space-separated, ' +
      'while a rotation’s grace period runs.',
  ],
] as const

/** The OpenAPI 3.1 `webhooks` section: one POST per event type, as the receiver gets it. */
export function webhooksDocument(): Record<string, unknown> {
  const types = [...(Object.keys(EVENT_TYPES) as EventType[]), TEST_EVENT] as const
  return Object.fromEntries(
    types.map((type) => [
      type,
      {
        post: {
          summary: type,
          description:
            (type === TEST_EVENT ? 'A ping (POST /webhooks/{id}/test).' : EVENT_TYPES[type as EventType]) +
            ' Signed per Standard Webhooks; retried until a 2xx for WEBHOOK_RETRY_FOR_HOURS.',
          tags: ['webhooks'],
          parameters: SIGNATURE_HEADERS.map(([name, description]) => ({
            name,
            in: 'header',
            required: true,
            description,
            schema: { type: 'string' },
          })),
          requestBody: {
            required: true,
            content: { 'application/json': { schema: eventBodySchema(type) } },
          },
          responses: {
            '2XX': { description: 'Received: the delivery is done. Anything else (or no answer) is retried.' },
          },
        },
      },
    ]),
  )
}
