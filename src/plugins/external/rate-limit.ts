import rateLimit from '@fastify/rate-limit'
import type { FastifyContextConfig, FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Role } from '../../auth/tokens.js'
import { Errors } from '../../errors.js'
import { isPublic } from '../auth.js'
import { declareErrors } from '../errors.js'

const exemptRoles = (limitFlows: boolean): readonly Role[] => (limitFlows ? [] : ['integration-flow'])

/**
 * Whether some caller of a route with `config` can be refused 429: the route does not opt out with
 * `rateLimit: false`, and it is public (every caller counted by address) or allows a counted role.
 * The limit and the OpenAPI 429 response both read it.
 */
function limitable(config: FastifyContextConfig | undefined, limitFlows: boolean): boolean {
  if (config?.rateLimit === false) return false
  return isPublic(config) || (config?.roles ?? []).some((r) => !exemptRoles(limitFlows).includes(r))
}

/**
 * Requests per token when the caller sent one, per client address otherwise: public routes (the
 * metrics, the API documents) and unknown URLs (404) are counted by address. A route opts out with
 * `config: { rateLimit: false }`, which only cheap probes do (/health/*): orchestrators call them
 * often and must not be refused. Integration flows are exempt unless RATE_LIMIT_FLOWS is set: their
 * traffic is the service's job. Checked after the token is known (preHandler).
 */
export default fp(
  async function rateLimiting(fastify: FastifyInstance, opts: { max: number; windowMs: number; limitFlows: boolean }) {
    if (opts.max === 0) return
    fastify.addHook('onRoute', (route) => {
      if (limitable(route.config, opts.limitFlows)) declareErrors(route, Errors.RATE_LIMITED)
    })
    await fastify.register(rateLimit, {
      global: true,
      hook: 'preHandler',
      max: opts.max,
      timeWindow: opts.windowMs,
      keyGenerator: (request) => (request.principal ? `token:${request.principal.name}` : `ip:${request.ip}`),
      allowList: (request) => (request.principal?.roles ?? []).some((r) => exemptRoles(opts.limitFlows).includes(r)),
      errorResponseBuilder: (_request, context) => new Errors.RATE_LIMITED(context.after),
    })
    // No route, so no route hook: probing for URLs costs a client its budget all the same.
    const limitUnknownUrl = fastify.rateLimit()
    fastify.addHook('preHandler', async (request, reply) => {
      if (request.is404) await limitUnknownUrl.call(fastify, request, reply)
    })
  },
  { name: 'rate-limit', dependencies: ['auth', 'errors'] },
)
