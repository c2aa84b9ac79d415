import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/** The API contract: /openapi.yaml (the same document as the committed openapi.yaml) and Swagger UI at /docs. */
export default fp(
  async function apiDocs(fastify: FastifyInstance) {
    await fastify.register(swaggerUi, {
      routePrefix: '/docs',
      staticCSP: true,
      uiConfig: { docExpansion: 'list', deepLinking: true },
    })
    fastify.get(
      '/openapi.yaml',
      {
        schema: {
          tags: ['ops'],
          summary: 'This OpenAPI document',
          security: [],
          response: { 200: { type: 'string', description: 'OpenAPI 3.1, YAML.' } },
        },
      },
      async (_request, reply) => reply.type('application/yaml').send(fastify.swagger({ yaml: true })),
    )
  },
  { name: 'swagger-ui', dependencies: ['openapi'] },
)
