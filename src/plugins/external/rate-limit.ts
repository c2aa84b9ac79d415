import rateLimit from '@fastify/rate-limit'
import type { FastifyContextConfig, FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Role } from '../../auth/tokens.js'
import { Errors } from '../../errors.js'
import { isPublic } from '../auth.js'
import { declareErrors } from '../errors.js'

const exemptRoles = (limitFlows: boolean): readonly Role[] => (limitFlows ? [] : ['integration-flow'])

/** Whether a request on a route with `config`, by a caller with `roles`, skips the limit. */
function exempt(config: FastifyContextConfig | undefined, roles: readonly Role[], limitFlows: boolean) {
  return isPublic(config) || roles.some((r) => exemptRoles(limitFlows).includes(r))
}

/**
 * Requests per token, checked after the token is known. Public routes (health, metrics, the API
 * documents) are exempt: they answer probes and scrapers, and need no token to be counted by.
 * Integration flows are exempt unless RATE_LIMIT_FLOWS is set: their traffic is the service's job.
 */
export default fp(
  async function rateLimiting(fastify: FastifyInstance, opts: { max: number; windowMs: number; limitFlows: boolean }) {
    if (opts.max === 0) return
    // A route can answer 429 when some role allowed on it is counted.
    fastify.addHook('onRoute', (route) => {
      const roles = route.config?.roles ?? []
      if (!isPublic(route.config) && roles.some((r) => !exempt(route.config, [r], opts.limitFlows)))
        declareErrors(route, Errors.RATE_LIMITED)
    })
    await fastify.register(rateLimit, {
      global: true,
      hook: 'preHandler',
      max: opts.max,
      timeWindow: opts.windowMs,
      keyGenerator: (request) => (request.principal ? `token:${request.principal.name}` : `ip:${request.ip}`),
      allowList: (request) => exempt(request.routeOptions.config, request.principal?.roles ?? [], opts.limitFlows),
      errorResponseBuilder: (_request, context) => new Errors.RATE_LIMITED(context.after),
    })
  },
  { name: 'rate-limit', dependencies: ['auth', 'errors'] },
)
