import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { Errors } from '../errors.js'
import { isReachable } from '../store/database.js'
import { problemResponses } from './schemas.js'

const Status = Type.Object({ status: Type.String({ description: '"ok" or "ready".' }) })

/** Liveness and readiness for orchestrators; no authentication. */
const healthRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get(
    '/health/live',
    {
      schema: { tags: ['health'], summary: 'The process is up', response: { 200: Status } },
    },
    async () => ({ status: 'ok' }),
  )

  fastify.get(
    '/health/ready',
    {
      schema: {
        tags: ['health'],
        summary: 'The store is reachable (and, on PostgreSQL, change notifications are flowing)',
        response: { 200: Status, ...problemResponses(503) },
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
