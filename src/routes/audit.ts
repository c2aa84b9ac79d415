import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { listAudit, verifyAudit } from '../audit/audit.js'

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
          since: Type.Optional(Type.String({ format: 'date-time', description: 'From this instant (inclusive).' })),
          until: Type.Optional(Type.String({ format: 'date-time', description: 'Before this instant.' })),
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
    '/audit/verify',
    {
      config: { roles: ['tenant-admin', 'monitor'] },
      schema: {
        tags: ['audit'],
        summary: 'Verify the audit hash chain',
        description:
          'Each record hashes the previous one: a record changed or deleted in the database ' +
          'breaks the chain from there on.',
        response: {
          200: Type.Object(
            {
              valid: Type.Boolean({ description: 'True when every record follows from the one before.' }),
              records: Type.Integer({
                description: 'Records verified before the first break (all of them when valid).',
              }),
              firstInvalidId: Type.Union([Type.Integer(), Type.Null()], {
                description: 'The first record whose hash does not follow, or null.',
              }),
            },
            { description: 'The result of the check.' },
          ),
        },
      },
    },
    async () => verifyAudit(fastify.db),
  )
}

export default auditRoutes
