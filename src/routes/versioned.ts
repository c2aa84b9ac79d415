import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import { Type, type Static, type TSchema } from 'typebox'
import type { Actor } from '../audit/audit.js'
import type { Role } from '../auth/tokens.js'
import { Errors, type CatalogueError } from '../errors.js'
import { actorOf } from '../plugins/auth.js'
import { etag, type Preconditions } from '../store/preconditions.js'
import { ConditionalHeaders, ref } from './schemas.js'

/**
 * Keystore entries and encryptors are versioned resources: written with If-Match / If-None-Match,
 * answered with their version as ETag. What they have in common is written here once.
 */
type Scope = Parameters<FastifyPluginAsyncTypebox>[0]

/** The conditional-request headers of a request, as the services take them. */
export const preconditions = (headers: Static<typeof ConditionalHeaders>): Preconditions => ({
  ifMatch: headers['if-match'],
  ifNoneMatch: headers['if-none-match'],
})

/** The responses of a create-or-replace (PUT) of the resource `schema` describes. */
export const savedResponses = <T extends TSchema>(schema: T) => ({
  200: ref(schema, 'Replaced.'),
  201: ref(schema, 'Created.'),
})

/** Headers the answers of a create-or-replace carry (besides Location on a 201, which every 201 has). */
export const SAVED_HEADERS = { 200: ['ETag'], 201: ['ETag'] } as const

/** Answers a create-or-replace: 201 and Location for a new resource, 200 for a replaced one; the ETag either way. */
export function sendSaved(reply: FastifyReply, saved: { created: boolean; version: number; location: string }) {
  reply.code(saved.created ? 201 : 200).header('etag', etag(saved.version))
  if (saved.created) reply.header('location', saved.location)
  return reply
}

/**
 * DELETE of a versioned resource named by the path parameter `param`: If-Match honoured, 204 with no
 * body, one log line naming what was deleted.
 */
export function deleteRoute(
  fastify: Scope,
  route: {
    url: string
    tag: string
    summary: string
    param: { name: string; schema: TSchema; logAs: string }
    roles: readonly Role[]
    errors: readonly CatalogueError[]
    remove: (name: string, actor: Actor, preconditions: Preconditions) => Promise<void>
    logMessage: string
  },
) {
  const { name, schema, logAs } = route.param
  fastify.delete(
    route.url,
    {
      config: { roles: route.roles, errors: [...route.errors, Errors.PRECONDITION_FAILED] },
      schema: {
        tags: [route.tag],
        summary: route.summary,
        params: Type.Object({ [name]: schema }),
        headers: ConditionalHeaders,
        response: { 204: Type.Null({ description: 'Deleted.' }) },
      },
    },
    async (request, reply) => {
      const key = (request.params as Record<string, string>)[name]!
      await route.remove(key, actorOf(request), { ifMatch: request.headers['if-match'] })
      request.log.info({ [logAs]: key }, route.logMessage)
      return reply.code(204).send(null)
    },
  )
}
