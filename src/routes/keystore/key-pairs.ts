import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { ROLES } from '../../auth/tokens.js'
import { Errors } from '../../errors.js'
import { actorOf } from '../../plugins/auth.js'
import { etag } from '../../store/preconditions.js'
import { Alias, ConditionalHeaders, ref, textBody } from '../schemas.js'
import { deleteRoute, preconditions, SAVED_HEADERS, savedResponses, sendSaved } from '../versioned.js'
import {
  CertificateQuery,
  KEY_PAIR_UPLOAD_ERRORS,
  KeyPairDetailsSchema,
  KeyPairSchema,
  KeyPairUploadBody,
  UPLOAD_SHAPES,
} from './key-pair-schemas.js'
import { keyPairDetailsView, keyPairPem, keyPairView } from './key-pair-view.js'

const AliasParams = Type.Object({ alias: Alias })

/**
 * JSON only (a PEM or DER body answers 415 here, not a schema error). Fastify's JSON parser never
 * quotes the body in its error, which here holds a private key or a password; the usual mistake, a
 * PEM pasted into a JSON string with its raw line breaks, is named.
 */
function jsonOnly(fastify: FastifyInstance) {
  const parseJson = fastify.getDefaultJsonParser('error', 'error')
  fastify.removeAllContentTypeParsers()
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') return done(null, undefined)
    parseJson(request, body as string, (err, value) => {
      if (!err) return done(null, value)
      const rawPem = /-----BEGIN [A-Z0-9 ]+-----\r?\n/.test(body as string)
      done(
        new Errors.MALFORMED_JSON(
          rawPem ? 'a PEM inside a JSON string needs its line breaks written as \\n' : 'it cannot be parsed',
        ),
      )
    })
  })
}

/**
 * Exactly one shape, each property a string, said precisely before the schema's anyOf, whose first
 * failure would name a property of whichever branch Ajv tried first. Never quotes a value.
 */
async function checkUploadShape(request: FastifyRequest) {
  const body = request.body
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) return
  const keys = Object.keys(body)
  const matching = UPLOAD_SHAPES.filter((shape) => shape.some((key) => keys.includes(key)))
  const shape = matching[0]
  if (matching.length !== 1 || !shape) {
    throw new Errors.VALIDATION(
      'body must be either {"pkcs12", "password"} (a PKCS#12 file, base64) or {"privateKey", "certificateChain"} ' +
        `(PEM); it holds ${matching.length === 0 ? 'neither' : 'parts of both'}.`,
    )
  }
  const wanted = `body must hold exactly "${shape[0]}" and "${shape[1]}"`
  if (keys.length !== 2 || !shape.every((key) => keys.includes(key))) throw new Errors.VALIDATION(`${wanted}.`)
  for (const key of shape) {
    if (typeof (body as Record<string, unknown>)[key] !== 'string') {
      throw new Errors.VALIDATION(`body/${key} must be a string.`)
    }
  }
}

/**
 * The tenant's own key pairs, which encryptors sign with (sign, then encrypt). Writes are the tenant
 * administrator's; any role may read the public part, and download the signer certificate to hand
 * to receivers. The private key is never answered, logged or audited.
 */
const keyPairRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  jsonOnly(fastify)
  fastify.addSchema(KeyPairSchema)
  fastify.addSchema(KeyPairDetailsSchema)

  fastify.get(
    '/keystore/key-pairs',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['keystore'],
        summary: 'List key pairs (public parts)',
        response: {
          200: Type.Object(
            { keyPairs: Type.Array(ref(KeyPairSchema), { description: 'Key pairs, by alias.' }) },
            { description: 'The key pairs.' },
          ),
        },
      },
    },
    async () => ({ keyPairs: (await fastify.keyPairs.list()).map(keyPairView) }),
  )

  fastify.get(
    '/keystore/key-pairs/:alias',
    {
      config: { roles: ROLES, errors: [Errors.KEY_PAIR_NOT_FOUND], responseHeaders: { 200: ['ETag'] } },
      schema: {
        tags: ['keystore'],
        summary: 'Get a key pair (public part), the encryptors that sign with it and its history',
        params: AliasParams,
        response: { 200: ref(KeyPairDetailsSchema) },
      },
    },
    async (request, reply) => {
      const details = await fastify.keyPairs.get(request.params.alias)
      reply.header('etag', etag(details.version))
      return keyPairDetailsView(details)
    },
  )

  fastify.get(
    '/keystore/key-pairs/:alias/certificate',
    {
      config: { roles: ROLES, errors: [Errors.KEY_PAIR_NOT_FOUND], responseHeaders: { 200: ['ETag'] } },
      schema: {
        tags: ['keystore'],
        summary: 'Download the signer certificate (and chain) as PEM, for receivers',
        params: AliasParams,
        querystring: CertificateQuery,
        response: {
          200: {
            description: 'The signer certificate, PEM; with chain=true the chain follows it.',
            content: { 'application/x-pem-file': textBody('-----BEGIN CERTIFICATE-----') },
          },
        },
      },
    },
    async (request, reply) => {
      const details = await fastify.keyPairs.get(request.params.alias)
      return reply
        .header('etag', etag(details.version))
        .type('application/x-pem-file')
        .send(keyPairPem(details, request.query.chain === true))
    },
  )

  fastify.put(
    '/keystore/key-pairs/:alias',
    {
      config: {
        roles: ['tenant-admin'],
        errors: [
          Errors.AUDIT_ANCHOR_BROKEN,
          ...KEY_PAIR_UPLOAD_ERRORS,
          Errors.PRECONDITION_FAILED,
          Errors.ALIAS_TAKEN,
          Errors.RENEWAL_IN_PROGRESS,
          Errors.SIGNATURE_SCHEME_MISMATCH,
        ],
        responseHeaders: SAVED_HEADERS,
      },
      schema: {
        tags: ['keystore'],
        summary: "Store one of the tenant's key pairs under an alias (create or replace)",
        description:
          'Body: JSON {"pkcs12": "<base64>", "password": "..."} or {"privateKey": "<PEM>", "certificateChain": ' +
          '"<PEM, signer first>"}. The private key is sealed at rest and never returned. An alias holds either a ' +
          'receiver certificate or a key pair. Replacing a key pair an encryptor signs with needs a key of the ' +
          'kind its signature scheme takes.',
        params: AliasParams,
        headers: ConditionalHeaders,
        body: KeyPairUploadBody,
        response: savedResponses(KeyPairSchema),
      },
      preValidation: checkUploadShape,
    },
    async (request, reply) => {
      const { created, entry } = await fastify.keyPairs.put(
        request.params.alias,
        request.body,
        actorOf(request),
        preconditions(request.headers),
      )
      request.log.info(
        { alias: entry.alias, version: entry.version, sha256Fingerprint: entry.certificate.sha256Fingerprint, created },
        'key pair stored',
      )
      sendSaved(reply, { created, version: entry.version, location: `/keystore/key-pairs/${entry.alias}` })
      return keyPairView(entry)
    },
  )

  deleteRoute(fastify, {
    url: '/keystore/key-pairs/:alias',
    tag: 'keystore',
    summary: 'Delete a key pair (its private key is gone; the certificate kept in its history)',
    param: { name: 'alias', schema: Alias, logAs: 'alias' },
    roles: ['tenant-admin'],
    errors: [Errors.AUDIT_ANCHOR_BROKEN, Errors.KEY_PAIR_NOT_FOUND, Errors.ALIAS_IN_USE, Errors.RENEWAL_IN_PROGRESS],
    remove: (alias, actor, conditions) => fastify.keyPairs.delete(alias, actor, conditions),
    logMessage: 'key pair deleted',
  })
}

export default keyPairRoutes
