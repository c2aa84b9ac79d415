import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ROLES } from '../../auth/tokens.js'
import { Errors } from '../../errors.js'
import { actorOf } from '../../plugins/auth.js'
import { etag } from '../../store/preconditions.js'
import { Alias, ConditionalHeaders, EncryptorId, EncryptorIdParams, RECIPIENT_ERRORS, ref } from '../schemas.js'
import { deleteRoute, preconditions, SAVED_HEADERS, savedResponses, sendSaved } from '../versioned.js'
import { AliasBody, EncryptorBody, EncryptorSchema } from './schemas.js'

const Encryptor = ref(EncryptorSchema)
/** Every write proves the encryptor can still encrypt, and leaves a renewal's aliases alone. */
const WRITE_ERRORS = [
  Errors.AUDIT_ANCHOR_BROKEN,
  Errors.PRECONDITION_FAILED,
  Errors.RENEWAL_IN_PROGRESS,
  ...RECIPIENT_ERRORS,
  // A signer that cannot sign: not a key pair, a scheme its key cannot use, GCM around a SignedData.
  Errors.SIGNER_NOT_KEY_PAIR,
  Errors.SIGNATURE_SCHEME_MISMATCH,
  Errors.SIGNER_CONTENT_ENCRYPTION,
]

/** Encryptor configurations. Writes are the integration developer's; any role may read. */
const encryptorRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.addSchema(EncryptorSchema)

  fastify.get(
    '/encryptors',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['encryptors'],
        summary: 'List encryptors',
        response: {
          200: Type.Object(
            { encryptors: Type.Array(Encryptor, { description: 'Encryptors, by id.' }) },
            { description: 'The encryptors.' },
          ),
        },
      },
    },
    async () => ({ encryptors: await fastify.encryptors.list() }),
  )

  fastify.get(
    '/encryptors/:id',
    {
      config: { roles: ROLES, errors: [Errors.ENCRYPTOR_NOT_FOUND], responseHeaders: { 200: ['ETag'] } },
      schema: {
        tags: ['encryptors'],
        summary: 'Get an encryptor',
        params: EncryptorIdParams,
        response: { 200: Encryptor },
      },
    },
    async (request, reply) => {
      const encryptor = await fastify.encryptors.get(request.params.id)
      reply.header('etag', etag(encryptor.version))
      return encryptor
    },
  )

  fastify.put(
    '/encryptors/:id',
    {
      config: { roles: ['integration-developer'], errors: WRITE_ERRORS, responseHeaders: SAVED_HEADERS },
      schema: {
        tags: ['encryptors'],
        summary: 'Create or replace an encryptor',
        params: EncryptorIdParams,
        headers: ConditionalHeaders,
        body: EncryptorBody,
        response: savedResponses(EncryptorSchema),
      },
    },
    async (request, reply) => {
      const { created, encryptor } = await fastify.encryptors.put(
        request.params.id,
        request.body,
        actorOf(request),
        preconditions(request.headers),
      )
      request.log.info(
        { encryptorId: encryptor.id, version: encryptor.version, receiverAliases: encryptor.receiverAliases, created },
        'encryptor saved',
      )
      sendSaved(reply, { created, version: encryptor.version, location: `/encryptors/${encryptor.id}` })
      return encryptor
    },
  )

  deleteRoute(fastify, {
    url: '/encryptors/:id',
    tag: 'encryptors',
    summary: 'Delete an encryptor',
    param: { name: 'id', schema: EncryptorId, logAs: 'encryptorId' },
    roles: ['integration-developer'],
    errors: [Errors.ENCRYPTOR_NOT_FOUND, Errors.RENEWAL_IN_PROGRESS],
    remove: (id, actor, conditions) => fastify.encryptors.delete(id, actor, conditions),
    logMessage: 'encryptor deleted',
  })

  fastify.post(
    '/encryptors/:id/aliases',
    {
      config: {
        roles: ['integration-developer'],
        errors: [...WRITE_ERRORS, Errors.ENCRYPTOR_NOT_FOUND, Errors.ALIAS_ALREADY_LISTED, Errors.TOO_MANY_ALIASES],
        responseHeaders: { 200: ['ETag'] },
      },
      schema: {
        tags: ['encryptors'],
        summary: 'Add a receiver alias',
        params: EncryptorIdParams,
        headers: ConditionalHeaders,
        body: AliasBody,
        response: { 200: ref(EncryptorSchema, 'The encryptor with the alias added.') },
      },
    },
    async (request, reply) => {
      const { encryptor } = await fastify.encryptors.addAlias(request.params.id, request.body.alias, actorOf(request), {
        ifMatch: request.headers['if-match'],
      })
      request.log.info(
        { encryptorId: encryptor.id, alias: request.body.alias, version: encryptor.version },
        'receiver alias added',
      )
      reply.header('etag', etag(encryptor.version))
      return encryptor
    },
  )

  fastify.delete(
    '/encryptors/:id/aliases/:alias',
    {
      config: {
        roles: ['integration-developer'],
        errors: [...WRITE_ERRORS, Errors.ENCRYPTOR_NOT_FOUND, Errors.ALIAS_NOT_LISTED, Errors.LAST_ALIAS],
        responseHeaders: { 200: ['ETag'] },
      },
      schema: {
        tags: ['encryptors'],
        summary: 'Remove a receiver alias',
        params: Type.Object({ id: EncryptorId, alias: Alias }),
        headers: ConditionalHeaders,
        response: { 200: ref(EncryptorSchema, 'The encryptor with the alias removed.') },
      },
    },
    async (request, reply) => {
      const { encryptor } = await fastify.encryptors.removeAlias(
        request.params.id,
        request.params.alias,
        actorOf(request),
        { ifMatch: request.headers['if-match'] },
      )
      request.log.info(
        { encryptorId: encryptor.id, alias: request.params.alias, version: encryptor.version },
        'receiver alias removed',
      )
      reply.header('etag', etag(encryptor.version))
      return encryptor
    },
  )
}

export default encryptorRoutes
