import { Type } from 'typebox'
import { PROCEDURES, STEPS } from '../../renewals/procedures.js'
import { ROLES } from '../../auth/tokens.js'
import { KeyPairUploadBody } from '../keystore/key-pair-schemas.js'
import { Alias, EncryptorId } from '../schemas.js'

export const StartRenewalBody = Type.Object(
  {
    procedure: Type.Enum([...PROCEDURES], {
      description:
        'exchange: same alias, receiver decrypts with old and new key; ' +
        'add-alias: second alias, two RecipientInfos, then drop the old; ' +
        "prepared-alias: fill the encryptor's empty second slot; " +
        'downtime: pause encrypting while the receiver swaps its only key; ' +
        'signer-key: renew the key pair an encryptor signs with (currentAlias: its key pair, newAlias: the new one).',
    }),
    encryptorId: EncryptorId,
    currentAlias: Alias,
    newAlias: Type.Optional(Alias),
    certificate: Type.String({
      minLength: 1,
      description:
        "The receiver's new certificate, PEM, checked like a keystore upload before anything changes. " +
        'signer-key: the new signer certificate, which the add-key-pair step must bring the private key of.',
    }),
    downtime: Type.Optional(
      Type.Object(
        {
          start: Type.String({ format: 'date-time', description: 'Planned start (ISO 8601).' }),
          end: Type.String({
            format: 'date-time',
            description: 'Planned end (ISO 8601); Retry-After points at it while paused.',
          }),
        },
        { additionalProperties: false, description: 'Planned downtime window (downtime procedure only).' },
      ),
    ),
  },
  {
    additionalProperties: false,
    description:
      'A renewal to start; newAlias is required for add-alias and prepared-alias and refused for the others.',
  },
)

/**
 * The comment is optional, and so is the body: no body, `null`, `{}` and `{"comment": "…"}` are all
 * accepted (Fastify validates an absent body as null). Unknown properties are still refused.
 */
export const CommentBody = Type.Union(
  [
    Type.Object(
      { comment: Type.Optional(Type.String({ maxLength: 2000, description: 'Kept in the audit record.' })) },
      { additionalProperties: false },
    ),
    Type.Null(),
  ],
  { description: 'Optional comment; the body may be left out.' },
)

export const StepBody = Type.Union(
  [
    Type.Object(
      {
        comment: Type.Optional(Type.String({ maxLength: 2000, description: 'Kept in the audit record.' })),
        keyPair: Type.Optional({
          ...KeyPairUploadBody,
          description:
            "signer-key's add-key-pair step only: the new key pair, as PUT /keystore/key-pairs/{alias} takes it. " +
            'Its certificate must be the one the renewal announced. Never kept in the audit record.',
        }),
      },
      { additionalProperties: false },
    ),
    Type.Null(),
  ],
  { description: 'Optional comment (and, for add-key-pair, the key pair); the body may be left out otherwise.' },
)

export const RenewalSchema = Type.Object(
  {
    id: Type.String({ description: 'Renewal id.' }),
    procedure: Type.Enum([...PROCEDURES], { description: 'The procedure.' }),
    encryptorId: EncryptorId,
    currentAlias: Alias,
    newAlias: Type.Union([Alias, Type.Null()], { description: 'The second alias (add-alias, prepared-alias).' }),
    state: Type.Enum(['active', 'completed', 'aborted'], { description: 'Where the renewal stands.' }),
    steps: Type.Array(
      Type.Object({
        name: Type.Enum([...STEPS], { description: 'Step name.' }),
        role: Type.Enum([...ROLES], { description: 'Role that takes it.' }),
        change: Type.String({
          description: "What taking the step changes, with the renewal's aliases: one sentence for a person.",
        }),
        status: Type.Enum(['done', 'next', 'pending'], { description: 'Done, next to take, or later.' }),
        at: Type.Optional(Type.String({ format: 'date-time', description: 'When it was done.' })),
        by: Type.Optional(Type.String({ description: 'Token name that took it.' })),
        comment: Type.Optional(Type.String({ description: 'Comment given with the step.' })),
      }),
      { description: 'Steps of the procedure, in order.' },
    ),
    next: Type.Union(
      [
        Type.Object({
          step: Type.Enum([...STEPS], { description: 'Next step.' }),
          role: Type.Enum([...ROLES], { description: 'Role that takes it.' }),
        }),
        Type.Null(),
      ],
      { description: 'The next step, or null when the renewal is over.' },
    ),
    abort: Type.Object(
      {
        allowed: Type.Boolean({ description: 'Whether POST /renewals/{id}/abort would be accepted now.' }),
        pointOfNoReturn: Type.Enum([...STEPS], { description: 'Abort is possible until this step is done.' }),
        explanation: Type.String({
          description:
            'What an abort would restore now, or why it is refused (past the point of no return, or the ' +
            'renewal is over): the message a refused abort answers with.',
        }),
      },
      { description: 'Whether the renewal can be aborted now, and what that would do.' },
    ),
    recipients: Type.Array(Alias, {
      description: 'The aliases the encryptor encrypts for right now (none while paused).',
    }),
    paused: Type.Boolean({ description: 'True while the downtime pause is on (encrypt answers 503).' }),
    certificate: Type.Object(
      {
        subject: Type.String({ description: 'Subject of the new certificate.' }),
        notAfter: Type.String({ format: 'date-time', description: 'End of validity of the new certificate.' }),
        sha256Fingerprint: Type.String({ description: 'SHA-256 of the new certificate.' }),
      },
      { description: "The receiver's new certificate." },
    ),
    downtime: Type.Union(
      [
        Type.Object({
          start: Type.String({ format: 'date-time', description: 'Planned start.' }),
          end: Type.String({ format: 'date-time', description: 'Planned end.' }),
        }),
        Type.Null(),
      ],
      { description: 'Planned downtime window, when given.' },
    ),
    createdBy: Type.String({ description: 'Token name that started it.' }),
    createdAt: Type.String({ format: 'date-time', description: 'When it started.' }),
    updatedAt: Type.String({ format: 'date-time', description: 'When it last changed.' }),
  },
  { $id: 'Renewal', description: 'A renewal of a receiver key, step by step.' },
)
