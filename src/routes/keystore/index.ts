import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ROLES } from '../../auth/tokens.js'
import { actorOf } from '../../plugins/auth.js'
import { etag } from '../../store/preconditions.js'
import { Alias, ConditionalHeaders, problemResponses } from '../schemas.js'
import { CertificateJsonBody, KeystoreEntryDetailsSchema, KeystoreEntrySchema, ListQuery } from './schemas.js'
import { entryDetailsView, entryView, toPem } from './view.js'

const AliasParams = Type.Object({ alias: Alias })
/** Media types a certificate may be uploaded as, besides JSON and text/plain (which Fastify parses itself). */
const CERTIFICATE_MEDIA_TYPES = [
  'application/x-pem-file',
  'application/pkix-cert',
  'application/x-x509-ca-cert',
  'application/octet-stream',
]

/** Receiver certificates by alias. Writes are the tenant administrator's; any role may read. */
const keystoreRoutes: FastifyPluginAsyncTypebox<{ expiryWarningDays: number }> = async (fastify, opts) => {
  const warningDays = opts.expiryWarningDays
  fastify.addContentTypeParser(CERTIFICATE_MEDIA_TYPES, { parseAs: 'buffer' }, (_req, body, done) => done(null, body))

  fastify.get(
    '/keystore/entries',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['keystore'],
        summary: 'List keystore entries',
        querystring: ListQuery,
        response: {
          200: Type.Object({ entries: Type.Array(KeystoreEntrySchema, { description: 'Entries, by alias.' }) }),
          ...problemResponses(401, 403),
        },
      },
    },
    async (request) => {
      const entries = await fastify.keystore.list({ expiringWithinDays: request.query.expiringWithinDays })
      return { entries: entries.map((e) => entryView(e, warningDays)) }
    },
  )

  fastify.get(
    '/keystore/entries/:alias',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['keystore'],
        summary: 'Get a keystore entry, its users and history',
        params: AliasParams,
        response: { 200: KeystoreEntryDetailsSchema, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const entry = await fastify.keystore.get(request.params.alias)
      reply.header('etag', etag(entry.version))
      return entryDetailsView(entry, warningDays)
    },
  )

  fastify.get(
    '/keystore/entries/:alias/certificate',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['keystore'],
        summary: 'Download the certificate as PEM',
        params: AliasParams,
        response: {
          200: Type.String({ description: 'The certificate, PEM.' }),
          ...problemResponses(400, 401, 403, 404),
        },
      },
    },
    async (request, reply) => {
      const entry = await fastify.keystore.get(request.params.alias)
      return reply.header('etag', etag(entry.version)).type('application/x-pem-file').send(toPem(entry.certificate.der))
    },
  )

  fastify.put(
    '/keystore/entries/:alias',
    {
      config: { roles: ['tenant-admin'] },
      schema: {
        tags: ['keystore'],
        summary: 'Store a receiver certificate under an alias (create or replace)',
        description:
          'Body: one certificate as PEM (application/x-pem-file, text/plain), DER (application/pkix-cert) or JSON {"certificate": "<PEM>"}. A replaced certificate is kept in the history.',
        params: AliasParams,
        headers: ConditionalHeaders,
        body: { content: { 'application/json': { schema: CertificateJsonBody } } },
        response: {
          200: KeystoreEntrySchema,
          201: KeystoreEntrySchema,
          ...problemResponses(400, 401, 403, 409, 412, 413, 415, 422),
        },
      },
    },
    async (request, reply) => {
      const body = request.body as Buffer | string | { certificate: string } | undefined
      const upload = Buffer.isBuffer(body)
        ? body
        : typeof body === 'string'
          ? Buffer.from(body, 'utf8')
          : Buffer.from(body?.certificate ?? '', 'utf8')
      const { created, entry } = await fastify.keystore.put(request.params.alias, upload, actorOf(request), {
        ifMatch: request.headers['if-match'],
        ifNoneMatch: request.headers['if-none-match'],
      })
      request.log.info(
        { alias: entry.alias, version: entry.version, sha256Fingerprint: entry.certificate.sha256Fingerprint, created },
        'certificate stored',
      )
      reply.code(created ? 201 : 200).header('etag', etag(entry.version))
      if (created) reply.header('location', `/keystore/entries/${entry.alias}`)
      return entryView(entry, warningDays)
    },
  )

  fastify.delete(
    '/keystore/entries/:alias',
    {
      config: { roles: ['tenant-admin'] },
      schema: {
        tags: ['keystore'],
        summary: 'Delete a keystore entry (kept in its history)',
        params: AliasParams,
        headers: ConditionalHeaders,
        response: { 204: Type.Null({ description: 'Deleted.' }), ...problemResponses(400, 401, 403, 404, 409, 412) },
      },
    },
    async (request, reply) => {
      await fastify.keystore.delete(request.params.alias, actorOf(request), { ifMatch: request.headers['if-match'] })
      request.log.info({ alias: request.params.alias }, 'certificate deleted')
      return reply.code(204).send(null)
    },
  )
}

export default keystoreRoutes
