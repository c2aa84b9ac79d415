import underPressure from '@fastify/under-pressure'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Errors } from '../../errors.js'
import { declareErrors } from '../errors.js'

/** Load shedding: when the event loop lags, answer 503 with Retry-After instead of queueing more work. */
export default fp(
  async function loadShedding(fastify: FastifyInstance, opts: { maxEventLoopDelayMs: number }) {
    if (opts.maxEventLoopDelayMs === 0) return
    // Checked on every request, before anything else.
    fastify.addHook('onRoute', (route) => declareErrors(route, Errors.OVERLOADED))
    await fastify.register(underPressure, { maxEventLoopDelay: opts.maxEventLoopDelayMs, retryAfter: 10 })
  },
  { name: 'under-pressure', dependencies: ['errors'] },
)
