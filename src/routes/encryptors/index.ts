import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ROLES } from '../../auth/tokens.js'
import { actorOf } from '../../plugins/auth.js'
import { etag } from '../../store/preconditions.js'
import { Alias, ConditionalHeaders, EncryptorId, problemResponses } from '../schemas.js'
import { AliasBody, EncryptorBody, EncryptorSchema } from './schemas.js'

const IdParams = Type.Object({ id: EncryptorId })

/** Encryptor configurations. Writes are the integration developer's; any role may read. */
const encryptorRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get(
    '/encryptors',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['encryptors'],
        summary: 'List encryptors',
        response: {
          200: Type.Object({ encryptors: Type.Array(EncryptorSchema, { description: 'Encryptors, by id.' }) }),
          ...problemResponses(401, 403),
        },
      },
    },
    async () => ({ encryptors: await fastify.encryptors.list() }),
  )

  fastify.get(
    '/encryptors/:id',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['encryptors'],
        summary: 'Get an encryptor',
        params: IdParams,
        response: { 200: EncryptorSchema, ...problemResponses(400, 401, 403, 404) },
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
      config: { roles: ['integration-developer'] },
      schema: {
        tags: ['encryptors'],
        summary: 'Create or replace an encryptor',
        params: IdParams,
        headers: ConditionalHeaders,
        body: EncryptorBody,
        response: {
          200: EncryptorSchema,
          201: EncryptorSchema,
          ...problemResponses(400, 401, 403, 409, 412, 413, 415),
        },
      },
    },
    async (request, reply) => {
      const { created, encryptor } = await fastify.encryptors.put(request.params.id, request.body, actorOf(request), {
        ifMatch: request.headers['if-match'],
        ifNoneMatch: request.headers['if-none-match'],
      })
      request.log.info(
        { encryptorId: encryptor.id, version: encryptor.version, receiverAliases: encryptor.receiverAliases, created },
        'encryptor saved',
      )
      reply.code(created ? 201 : 200).header('etag', etag(encryptor.version))
      if (created) reply.header('location', `/encryptors/${encryptor.id}`)
      return encryptor
    },
  )

  fastify.delete(
    '/encryptors/:id',
    {
      config: { roles: ['integration-developer'] },
      schema: {
        tags: ['encryptors'],
        summary: 'Delete an encryptor',
        params: IdParams,
        headers: ConditionalHeaders,
        response: { 204: Type.Null({ description: 'Deleted.' }), ...problemResponses(400, 401, 403, 404, 412) },
      },
    },
    async (request, reply) => {
      await fastify.encryptors.delete(request.params.id, actorOf(request), { ifMatch: request.headers['if-match'] })
      request.log.info({ encryptorId: request.params.id }, 'encryptor deleted')
      return reply.code(204).send(null)
    },
  )

  fastify.post(
    '/encryptors/:id/aliases',
    {
      config: { roles: ['integration-developer'] },
      schema: {
        tags: ['encryptors'],
        summary: 'Add a receiver alias',
        params: IdParams,
        headers: ConditionalHeaders,
        body: AliasBody,
        response: { 200: EncryptorSchema, ...problemResponses(400, 401, 403, 404, 409, 412) },
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
      config: { roles: ['integration-developer'] },
      schema: {
        tags: ['encryptors'],
        summary: 'Remove a receiver alias',
        params: Type.Object({ id: EncryptorId, alias: Alias }),
        headers: ConditionalHeaders,
        response: { 200: EncryptorSchema, ...problemResponses(400, 401, 403, 404, 409, 412) },
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
