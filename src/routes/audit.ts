import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { AUDIT_PROBLEMS, readHead } from '../audit/anchor.js'
import { listAudit } from '../audit/audit.js'
import { verifyAudit } from '../audit/verify.js'
import { Errors } from '../errors.js'

const AuditRecordSchema = Type.Object(
  {
    id: Type.Integer({ description: 'Record id, increasing.' }),
    at: Type.String({ format: 'date-time', description: 'When the change committed.' }),
    actor: Type.String({ description: 'Token name.' }),
    role: Type.String({ description: 'Role that allowed the change.' }),
    action: Type.String({ description: 'What happened, e.g. keystore.replace, encryptor.alias.add, renewal.step.' }),
    target: Type.String({ description: 'What it happened to, e.g. keystore/partner-a.' }),
    before: Type.Unknown({ description: 'Fingerprints or alias lists before the change.' }),
    after: Type.Unknown({ description: 'Fingerprints or alias lists after the change.' }),
    renewalId: Type.Union([Type.String(), Type.Null()], { description: 'The renewal the change belongs to.' }),
    comment: Type.Union([Type.String(), Type.Null()], { description: 'Comment given with the change.' }),
  },
  { description: 'One audit record.' },
)

const Sha256Hex = (description: string) => Type.String({ pattern: '^[0-9a-f]{64}$', description })

const AuditHeadSchema = Type.Object(
  {
    lastId: Type.Integer({ description: 'Id of the newest record.' }),
    hash: Sha256Hex('Its chain hash.'),
    at: Type.String({ format: 'date-time', description: 'When it was written.' }),
    mac: Sha256Hex(
      'HMAC-SHA256 of id, hash and time under the audit key (AUDIT_KEY_FILE), which the database does not hold.',
    ),
  },
  {
    description:
      'The signed head: the newest record, signed with a key the database does not hold. A monitor that ' +
      'records it can later ask whether the chain still holds it (`GET /audit/verify?lastId=&hash=`).',
  },
)
const NullableHead = Type.Union([AuditHeadSchema, Type.Null()], {
  description: 'The signed head, or null before the first record.',
})

const Instant = (description: string) =>
  Type.String({ format: 'date-time', maxLength: 64, description: `${description} RFC 3339, any offset and precision.` })

/** The audit log: read-only through the API, for tenant administrators and monitoring. */
const auditRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get(
    '/audit',
    {
      config: { roles: ['tenant-admin', 'monitor'] },
      schema: {
        tags: ['audit'],
        summary: 'Read the audit log, newest first',
        querystring: Type.Object({
          action: Type.Optional(Type.String({ maxLength: 64, description: 'Only this action.' })),
          target: Type.Optional(
            Type.String({ maxLength: 300, description: 'Only this target, e.g. keystore/partner-a.' }),
          ),
          actor: Type.Optional(Type.String({ maxLength: 250, description: 'Only changes by this token name.' })),
          renewalId: Type.Optional(Type.String({ maxLength: 36, description: 'Only changes of this renewal.' })),
          since: Type.Optional(Instant('From this instant (inclusive).')),
          until: Type.Optional(Instant('Before this instant.')),
          before: Type.Optional(
            Type.Integer({
              minimum: 1,
              description: 'Cursor: records with a smaller id (the `next` of the previous page).',
            }),
          ),
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 100, description: 'Page size.' }),
        }),
        response: {
          200: Type.Object(
            {
              records: Type.Array(AuditRecordSchema, { description: 'Records, newest first.' }),
              next: Type.Union([Type.Integer(), Type.Null()], {
                description: 'Cursor for the next page (pass as `before`), or null.',
              }),
            },
            { description: 'One page of the audit log.' },
          ),
        },
      },
    },
    async (request) => listAudit(fastify.db, request.query),
  )

  fastify.get(
    '/audit/head',
    {
      config: { roles: ['tenant-admin', 'monitor'] },
      schema: {
        tags: ['audit'],
        summary: 'Read the signed head of the audit chain',
        description:
          'Cheap to ask often: record it outside the service, then check later that the chain still holds ' +
          'it (`GET /audit/verify?lastId=&hash=`). That catches even a store set back whole to an older copy.',
        response: {
          200: Type.Object({ head: NullableHead }, { description: 'The head as stored.' }),
        },
      },
    },
    async () => ({ head: (await readHead(fastify.db)) ?? null }),
  )

  fastify.get(
    '/audit/verify',
    {
      config: { roles: ['tenant-admin', 'monitor'] },
      schema: {
        tags: ['audit'],
        summary: 'Verify the audit hash chain and its signed head',
        description:
          'Each record hashes the previous one, and the newest one is signed with a key the database does not ' +
          'hold: a record changed, deleted or added in the database, the chain recomputed, or the newest records ' +
          'cut off, shows here. Records from before the hash chain existed (migration 0003) are counted as ' +
          '`unchained` and not checked.',
        querystring: Type.Object({
          lastId: Type.Optional(
            Type.Integer({ minimum: 1, description: 'A head recorded earlier (with `hash`): the chain must hold it.' }),
          ),
          hash: Type.Optional(Sha256Hex("The recorded head's hash (with `lastId`).")),
        }),
        response: {
          200: Type.Object(
            {
              valid: Type.Boolean({ description: 'True when the chain holds and ends at the signed head.' }),
              records: Type.Integer({
                description: 'Chained records verified before the first break (all of them when valid).',
              }),
              unchained: Type.Integer({
                description: 'Records written before the hash chain existed (migration 0003), not checked.',
              }),
              firstInvalidId: Type.Union([Type.Integer(), Type.Null()], {
                description:
                  'The first record whose hash does not follow, or the first past the signed head; else null.',
              }),
              problem: Type.Union([Type.Enum(Object.keys(AUDIT_PROBLEMS)), Type.Null()], {
                description:
                  'What is wrong, or null: ' +
                  Object.entries(AUDIT_PROBLEMS)
                    .map(([code, text]) => `\`${code}\`: ${text}`)
                    .join('; ') +
                  '.',
              }),
              head: NullableHead,
            },
            { description: 'The result of the check.' },
          ),
        },
      },
    },
    async (request) => {
      const { lastId, hash } = request.query
      if ((lastId === undefined) !== (hash === undefined))
        throw new Errors.VALIDATION('querystring: give both lastId and hash of a recorded head, or neither')
      return verifyAudit(fastify.db, lastId === undefined ? undefined : { lastId, hash: hash! })
    },
  )
}

export default auditRoutes
