import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { Errors } from '../errors.js'
import { isReachable } from '../store/database.js'

const Status = (description: string) =>
  Type.Object({ status: Type.String({ description: '"ok" or "ready".' }) }, { description })

/**
 * Liveness and readiness for orchestrators: no token, and never rate-limited (`rateLimit: false`),
 * since they are cheap and a refused probe would take a healthy instance out of rotation.
 */
const healthRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get(
    '/health/live',
    {
      config: { public: true, rateLimit: false },
      schema: { tags: ['health'], summary: 'The process is up', response: { 200: Status('Alive.') } },
    },
    async () => ({ status: 'ok' }),
  )

  fastify.get(
    '/health/ready',
    {
      config: { public: true, rateLimit: false, errors: [Errors.NOT_READY] },
      schema: {
        tags: ['health'],
        summary: 'The store is reachable (and, on PostgreSQL, change notifications are flowing)',
        response: { 200: Status('Ready to serve.') },
      },
    },
    async () => {
      if (!(await isReachable(fastify.db))) throw new Errors.NOT_READY('The store is not reachable.')
      if (fastify.changeListener && !fastify.changeListener.connected) {
        throw new Errors.NOT_READY('Change notifications from the other replicas are down; reconnecting.')
      }
      return { status: 'ready' }
    },
  )
}

export default healthRoutes
