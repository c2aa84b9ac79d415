import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ROLES } from '../../auth/tokens.js'
import { actorOf } from '../../plugins/auth.js'
import { STEPS } from '../../renewals/procedures.js'
import { EncryptorId, problemResponses } from '../schemas.js'
import { CommentBody, RenewalSchema, StartRenewalBody } from './schemas.js'
import { renewalView } from './view.js'

const IdParams = Type.Object({ id: Type.String({ format: 'uuid', description: 'Renewal id.' }) })

/** Renewal procedures as tracked workflows: start, take steps in order with the right role, or abort. */
const renewalRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post(
    '/renewals',
    {
      config: { roles: ['tenant-admin'] },
      schema: {
        tags: ['renewals'],
        summary: 'Start a renewal',
        body: StartRenewalBody,
        response: { 201: RenewalSchema, ...problemResponses(400, 401, 403, 404, 409, 413, 415, 422) },
      },
    },
    async (request, reply) => {
      const { certificate, ...rest } = request.body
      const renewal = await fastify.renewals.start(
        { ...rest, certificate: Buffer.from(certificate, 'utf8') },
        actorOf(request),
      )
      request.log.info(
        { renewalId: renewal.id, procedure: renewal.procedure, encryptorId: renewal.encryptorId },
        'renewal started',
      )
      return reply.code(201).header('location', `/renewals/${renewal.id}`).send(renewalView(renewal))
    },
  )

  fastify.get(
    '/renewals',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['renewals'],
        summary: 'List renewals',
        querystring: Type.Object({
          state: Type.Optional(
            Type.Enum(['active', 'completed', 'aborted'], { description: 'Only renewals in this state.' }),
          ),
          encryptorId: Type.Optional(EncryptorId),
        }),
        response: {
          200: Type.Object({ renewals: Type.Array(RenewalSchema, { description: 'Renewals, newest first.' }) }),
          ...problemResponses(400, 401, 403),
        },
      },
    },
    async (request) => ({ renewals: (await fastify.renewals.list(request.query)).map(renewalView) }),
  )

  fastify.get(
    '/renewals/:id',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['renewals'],
        summary: 'Get a renewal',
        params: IdParams,
        response: { 200: RenewalSchema, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request) => renewalView(await fastify.renewals.get(request.params.id)),
  )

  fastify.post(
    '/renewals/:id/steps/:step',
    {
      config: { roles: ['tenant-admin', 'integration-developer'] },
      schema: {
        tags: ['renewals'],
        summary: 'Take the next step of a renewal',
        description:
          'Each step is taken by one role, in order; repeating the last completed step answers the same state and changes nothing.',
        params: Type.Object({
          id: IdParams.properties.id,
          step: Type.Enum([...STEPS], { description: 'The step to take.' }),
        }),
        body: CommentBody,
        response: { 200: RenewalSchema, ...problemResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      const { renewal, repeated } = await fastify.renewals.step(
        request.params.id,
        request.params.step,
        request.principal!.roles,
        actorOf(request),
        request.body?.comment,
      )
      request.log.info(
        { renewalId: renewal.id, step: request.params.step, repeated, state: renewal.state },
        repeated ? 'renewal step repeated' : 'renewal step taken',
      )
      return renewalView(renewal)
    },
  )

  fastify.post(
    '/renewals/:id/abort',
    {
      config: { roles: ['tenant-admin'] },
      schema: {
        tags: ['renewals'],
        summary: 'Abort a renewal and restore the state before it',
        description: 'Possible until the receiver is confirmed to hold only its new key; refused (409) after that.',
        params: IdParams,
        body: CommentBody,
        response: { 200: RenewalSchema, ...problemResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      const renewal = await fastify.renewals.abort(request.params.id, actorOf(request), request.body?.comment)
      request.log.info({ renewalId: renewal.id }, 'renewal aborted')
      return renewalView(renewal)
    },
  )
}

export default renewalRoutes
