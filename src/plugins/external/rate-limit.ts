import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Errors } from '../../errors.js'

/**
 * Requests per token (per client address before authentication), checked after the token is known.
 * Integration flows are exempt unless RATE_LIMIT_FLOWS is set: their traffic is the service's job.
 */
export default fp(
  async function rateLimiting(fastify: FastifyInstance, opts: { max: number; windowMs: number; limitFlows: boolean }) {
    if (opts.max === 0) return
    await fastify.register(rateLimit, {
      global: true,
      hook: 'preHandler',
      max: opts.max,
      timeWindow: opts.windowMs,
      keyGenerator: (request) => (request.principal ? `token:${request.principal.name}` : `ip:${request.ip}`),
      allowList: (request) =>
        request.url.startsWith('/health/') ||
        (!opts.limitFlows && (request.principal?.roles.includes('integration-flow') ?? false)),
      errorResponseBuilder: (_request, context) => new Errors.RATE_LIMITED(context.after),
    })
  },
  { name: 'rate-limit', dependencies: ['auth'] },
)
