import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Actor } from '../audit/audit.js'
import fp from 'fastify-plugin'
import type { Principal, Role, TokenRegistry } from '../auth/tokens.js'
import { Errors } from '../errors.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Roles allowed on the route; a route without `roles` is public (health). */
    roles?: readonly Role[]
  }
  interface FastifyRequest {
    principal?: Principal
    /** Who is acting and in which role, for audit records; set on every authenticated route. */
    actor?: Actor
  }
}

/** The actor of an authenticated request (routes with `roles` always have one). */
export function actorOf(request: FastifyRequest): Actor {
  if (!request.actor) throw new Error('actorOf() on a route without roles')
  return request.actor
}

const BEARER = /^Bearer ([\x21-\x7e]{1,512})$/

/**
 * Bearer-token authentication and role checks, before the body is read: a caller without the right
 * role cannot make the service buffer or decrypt anything.
 */
export default fp(
  async function auth(fastify: FastifyInstance, opts: { tokens: TokenRegistry }) {
    fastify.decorateRequest('principal', undefined)
    fastify.decorateRequest('actor', undefined)
    fastify.addHook('onRequest', async (request) => {
      const roles = request.routeOptions.config.roles
      if (!roles) return
      const match = BEARER.exec(request.headers.authorization ?? '')
      if (!match) throw new Errors.UNAUTHENTICATED('Send a bearer token: "Authorization: Bearer <token>".')
      const principal = opts.tokens.authenticate(match[1]!)
      if (!principal) throw new Errors.UNAUTHENTICATED('The bearer token is not valid.')
      request.principal = principal
      const role = principal.roles.find((r) => roles.includes(r))
      if (!role) {
        throw new Errors.FORBIDDEN(
          `This operation needs the role ${roles.join(' or ')}; the token "${principal.name}" has ${principal.roles.join(', ')}.`,
        )
      }
      request.actor = { name: principal.name, role }
    })
  },
  { name: 'auth' },
)
