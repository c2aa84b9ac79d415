import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ROLES } from '../auth/tokens.js'

/**
 * Who the bearer token is: its name and roles, so a client (the console) offers only what the
 * token may do, without trying an operation to find out. Says nothing a 403 would not say.
 */
const whoamiRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get(
    '/whoami',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['ops'],
        summary: 'The name and roles of the bearer token',
        response: {
          200: Type.Object(
            {
              name: Type.String({ description: 'Token name, as audit records name it.' }),
              roles: Type.Array(Type.Enum([...ROLES], { description: 'A role.' }), {
                description: 'The roles the token holds.',
              }),
            },
            { description: 'The token.' },
          ),
        },
      },
    },
    async (request) => ({ name: request.principal!.name, roles: [...request.principal!.roles] }),
  )
}

export default whoamiRoutes
