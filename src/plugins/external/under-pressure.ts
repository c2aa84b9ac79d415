import underPressure from '@fastify/under-pressure'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/** Load shedding: when the event loop lags, answer 503 with Retry-After instead of queueing more work. */
export default fp(
  async function loadShedding(fastify: FastifyInstance, opts: { maxEventLoopDelayMs: number }) {
    if (opts.maxEventLoopDelayMs === 0) return
    await fastify.register(underPressure, { maxEventLoopDelay: opts.maxEventLoopDelayMs, retryAfter: 10 })
  },
  { name: 'under-pressure' },
)
