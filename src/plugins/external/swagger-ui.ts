import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { registerPublic } from '../auth.js'

/**
 * The API contract: /openapi.yaml and Swagger UI at /docs. The served document describes the running
 * configuration; the committed openapi.yaml describes the defaults (METRICS_REQUIRE_TOKEN=false,
 * RATE_LIMIT_MAX=0, RATE_LIMIT_FLOWS and MAX_EVENT_LOOP_DELAY_MS=0 change security, 429s and 503s).
 */
export default fp(
  async function apiDocs(fastify: FastifyInstance) {
    // Swagger UI's routes cannot carry our route config; the whole UI is public, like the document.
    await registerPublic(fastify, async (scope) => {
      await scope.register(swaggerUi, {
        routePrefix: '/docs',
        staticCSP: true,
        uiConfig: { docExpansion: 'list', deepLinking: true },
      })
    })
    fastify.get(
      '/openapi.yaml',
      {
        config: { public: true },
        schema: {
          tags: ['ops'],
          summary: 'This OpenAPI document',
          response: {
            200: {
              description: 'OpenAPI 3.1, YAML.',
              content: { 'application/yaml': { schema: { type: 'string' } } },
            },
          },
        },
      },
      async (_request, reply) => reply.type('application/yaml').send(fastify.swagger({ yaml: true })),
    )
  },
  { name: 'swagger-ui', dependencies: ['openapi', 'auth'] },
)
