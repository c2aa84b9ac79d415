import helmet from '@fastify/helmet'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/** Security headers on every response (HSTS, nosniff, frame denial, a CSP the API docs can live with). */
export default fp(
  async function securityHeaders(fastify: FastifyInstance) {
    await fastify.register(helmet, { global: true })
  },
  { name: 'helmet' },
)
