import type { FastifyInstance } from 'fastify'
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
  }
}

const BEARER = /^Bearer ([\x21-\x7e]{1,512})$/

/**
 * Bearer-token authentication and role checks, before the body is read: a caller without the right
 * role cannot make the service buffer or decrypt anything.
 */
export default fp(async function auth(fastify: FastifyInstance, opts: { tokens: TokenRegistry }) {
  fastify.decorateRequest('principal', undefined)
  fastify.addHook('onRequest', async (request) => {
    const roles = request.routeOptions.config.roles
    if (!roles) return
    const match = BEARER.exec(request.headers.authorization ?? '')
    if (!match) throw new Errors.UNAUTHENTICATED('Send a bearer token: "Authorization: Bearer <token>".')
    const principal = opts.tokens.authenticate(match[1]!)
    if (!principal) throw new Errors.UNAUTHENTICATED('The bearer token is not valid.')
    request.principal = principal
    if (!principal.roles.some((r) => roles.includes(r))) {
      throw new Errors.FORBIDDEN(`This operation needs the role ${roles.join(' or ')}; the token "${principal.name}" has ${principal.roles.join(', ')}.`)
    }
  })
}, { name: 'auth' })
