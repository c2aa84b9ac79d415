import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ROLES } from '../../auth/tokens.js'
import { toPem } from '../../cms/pem.js'
import { Errors } from '../../errors.js'
import { actorOf } from '../../plugins/auth.js'
import { etag } from '../../store/preconditions.js'
import { Alias, binaryBody, CERTIFICATE_ERRORS, ConditionalHeaders, ref, textBody } from '../schemas.js'
import {
  CertificateCheckSchema,
  CertificateJsonBody,
  KeystoreEntryDetailsSchema,
  KeystoreEntrySchema,
  ListQuery,
} from './schemas.js'
import { deleteRoute, preconditions, SAVED_HEADERS, savedResponses, sendSaved } from '../versioned.js'
import { entryDetailsView, entryView, uploadCheckView } from './view.js'
import keyPairRoutes from './key-pairs.js'

const AliasParams = Type.Object({ alias: Alias })
/** Media types a certificate may be uploaded as, besides JSON and text/plain (which Fastify parses itself). */
const CERTIFICATE_MEDIA_TYPES = [
  'application/x-pem-file',
  'application/pkix-cert',
  'application/x-x509-ca-cert',
  'application/octet-stream',
]
const KeystoreEntry = ref(KeystoreEntrySchema)
/** Validated by the certificate parser, not by a schema; JSON is the one body with a schema. */
const CERTIFICATE_BODIES = {
  'application/x-pem-file': textBody('One certificate, PEM.'),
  'text/plain': textBody('One certificate, PEM.'),
  'application/pkix-cert': binaryBody('One certificate, DER.'),
  'application/x-x509-ca-cert': binaryBody('One certificate, DER or PEM.'),
  'application/octet-stream': binaryBody('One certificate, DER or PEM.'),
}
const CertificateBody = { content: { 'application/json': { schema: CertificateJsonBody } } }
/** Why an upload is refused before anything is written: PUT and its check answer the same. */
const UPLOAD_ERRORS = [
  ...CERTIFICATE_ERRORS,
  Errors.PRECONDITION_FAILED,
  Errors.RENEWAL_IN_PROGRESS,
  Errors.SUBJECT_KEY_IDENTIFIER_MISSING,
  Errors.ALIAS_TAKEN,
]

/** The certificate bytes of an upload, whichever media type it came as. */
function uploadOf(body: unknown): Buffer {
  const upload = body as Buffer | string | { certificate: string } | undefined
  if (Buffer.isBuffer(upload)) return upload
  if (typeof upload === 'string') return Buffer.from(upload, 'utf8')
  return Buffer.from(upload?.certificate ?? '', 'utf8')
}

/** Receiver certificates by alias. Writes are the tenant administrator's; any role may read. */
const keystoreRoutes: FastifyPluginAsyncTypebox<{ expiryWarningDays: number }> = async (fastify, opts) => {
  const warningDays = opts.expiryWarningDays
  fastify.addContentTypeParser(CERTIFICATE_MEDIA_TYPES, { parseAs: 'buffer' }, (_req, body, done) => done(null, body))
  fastify.addSchema(KeystoreEntrySchema)
  fastify.addSchema(KeystoreEntryDetailsSchema)
  // Its own context: JSON only, parsed without quoting a body that holds a private key.
  await fastify.register(keyPairRoutes)

  fastify.get(
    '/keystore/entries',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['keystore'],
        summary: 'List keystore entries',
        querystring: ListQuery,
        response: {
          200: Type.Object(
            {
              entries: Type.Array(KeystoreEntry, { description: 'Entries, by alias.' }),
              expiryWarningDays: Type.Integer({
                description: 'EXPIRY_WARNING_DAYS: an entry is expiringSoon when it ends within this many days.',
              }),
            },
            { description: 'The keystore entries.' },
          ),
        },
      },
    },
    async (request) => {
      const entries = await fastify.keystore.list({ expiringWithinDays: request.query.expiringWithinDays })
      return { entries: entries.map((e) => entryView(e, warningDays)), expiryWarningDays: warningDays }
    },
  )

  fastify.get(
    '/keystore/entries/:alias',
    {
      config: { roles: ROLES, errors: [Errors.ALIAS_NOT_FOUND], responseHeaders: { 200: ['ETag'] } },
      schema: {
        tags: ['keystore'],
        summary: 'Get a keystore entry, its users and history',
        params: AliasParams,
        response: { 200: ref(KeystoreEntryDetailsSchema) },
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
      config: { roles: ROLES, errors: [Errors.ALIAS_NOT_FOUND], responseHeaders: { 200: ['ETag'] } },
      schema: {
        tags: ['keystore'],
        summary: 'Download the certificate as PEM',
        params: AliasParams,
        response: {
          200: {
            description: 'The certificate, PEM.',
            content: { 'application/x-pem-file': textBody('-----BEGIN CERTIFICATE-----') },
          },
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
      config: {
        roles: ['tenant-admin'],
        errors: [Errors.AUDIT_ANCHOR_BROKEN, ...UPLOAD_ERRORS],
        responseHeaders: SAVED_HEADERS,
        documentedBody: CERTIFICATE_BODIES,
      },
      schema: {
        tags: ['keystore'],
        summary: 'Store a receiver certificate under an alias (create or replace)',
        description:
          'Body: one certificate as PEM (application/x-pem-file, text/plain), DER (application/pkix-cert) or ' +
          'JSON {"certificate": "<PEM>"}. A replaced certificate is kept in the history.',
        params: AliasParams,
        headers: ConditionalHeaders,
        body: CertificateBody,
        response: savedResponses(KeystoreEntrySchema),
      },
    },
    async (request, reply) => {
      const { created, entry } = await fastify.keystore.put(
        request.params.alias,
        uploadOf(request.body),
        actorOf(request),
        preconditions(request.headers),
      )
      request.log.info(
        { alias: entry.alias, version: entry.version, sha256Fingerprint: entry.certificate.sha256Fingerprint, created },
        'certificate stored',
      )
      sendSaved(reply, { created, version: entry.version, location: `/keystore/entries/${entry.alias}` })
      return entryView(entry, warningDays)
    },
  )

  fastify.post(
    '/keystore/entries/:alias/check',
    {
      config: { roles: ['tenant-admin'], errors: UPLOAD_ERRORS, documentedBody: CERTIFICATE_BODIES },
      schema: {
        tags: ['keystore'],
        summary: 'Check a certificate as PUT would, without storing it',
        description:
          'The same bodies, headers and checks as PUT /keystore/entries/{alias}, with the same errors; a 200 ' +
          'lists how each check was passed and what PUT would do. Nothing is stored or audited.',
        params: AliasParams,
        headers: ConditionalHeaders,
        body: CertificateBody,
        response: { 200: CertificateCheckSchema },
      },
    },
    async (request) => {
      const result = await fastify.keystore.check(
        request.params.alias,
        uploadOf(request.body),
        preconditions(request.headers),
      )
      return uploadCheckView(result, warningDays)
    },
  )

  deleteRoute(fastify, {
    url: '/keystore/entries/:alias',
    tag: 'keystore',
    summary: 'Delete a keystore entry (kept in its history)',
    param: { name: 'alias', schema: Alias, logAs: 'alias' },
    roles: ['tenant-admin'],
    errors: [Errors.AUDIT_ANCHOR_BROKEN, Errors.ALIAS_NOT_FOUND, Errors.RENEWAL_IN_PROGRESS, Errors.ALIAS_IN_USE],
    remove: (alias, actor, conditions) => fastify.keystore.delete(alias, actor, conditions),
    logMessage: 'certificate deleted',
  })
}

export default keystoreRoutes
