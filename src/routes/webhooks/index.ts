import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { Errors } from '../../errors.js'
import { actorOf } from '../../plugins/auth.js'
import { getDelivery, listDeliveries, retryDelivery } from '../../webhooks/deliveries.js'
import { ref } from '../schemas.js'
import {
  DeliverySchema,
  SubscriptionBody,
  SubscriptionPatch,
  SubscriptionSchema,
  SubscriptionWithSecretSchema,
} from './schemas.js'

const IdParams = Type.Object({ id: Type.String({ format: 'uuid', description: 'Subscription id.' }) })
const DeliveryParams = Type.Object({
  id: IdParams.properties.id,
  deliveryId: Type.String({ format: 'uuid', description: 'Delivery id.' }),
})
const Subscription = ref(SubscriptionSchema)
const WithSecret = ref(SubscriptionWithSecretSchema)
const Delivery = ref(DeliverySchema)
const ADMIN = { roles: ['tenant-admin'] as const }
/** Every change is audited: a log that no longer matches its signed head refuses it. */
const CHANGE_ERRORS = [Errors.AUDIT_ANCHOR_BROKEN, Errors.WEBHOOK_NOT_FOUND]
const SETTINGS_ERRORS = [Errors.WEBHOOK_URL_REFUSED, Errors.WEBHOOK_EVENT_UNKNOWN]

/**
 * Webhook subscriptions, managed by tenant administrators: who is told of what, and the log of what
 * was delivered. Deliveries follow Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature).
 */
const webhookRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.addSchema(SubscriptionSchema)
  fastify.addSchema(SubscriptionWithSecretSchema)
  fastify.addSchema(DeliverySchema)

  fastify.post(
    '/webhooks',
    {
      config: { ...ADMIN, errors: [Errors.AUDIT_ANCHOR_BROKEN, ...SETTINGS_ERRORS, Errors.WEBHOOK_LIMIT] },
      schema: {
        tags: ['webhooks'],
        summary: 'Subscribe a URL to events',
        description: 'The answer holds the signing secret, shown only here (and after a rotation).',
        body: SubscriptionBody,
        response: { 201: ref(SubscriptionWithSecretSchema, 'Subscribed.') },
      },
    },
    async (request, reply) => {
      const created = await fastify.webhooks.create(request.body, actorOf(request))
      request.log.info({ subscriptionId: created.id, events: created.events }, 'webhook subscribed')
      return reply.code(201).header('location', `/webhooks/${created.id}`).send(created)
    },
  )

  fastify.get(
    '/webhooks',
    {
      config: { ...ADMIN },
      schema: {
        tags: ['webhooks'],
        summary: 'List webhook subscriptions',
        response: {
          200: Type.Object(
            { webhooks: Type.Array(Subscription, { description: 'Oldest first.' }) },
            { description: 'The subscriptions.' },
          ),
        },
      },
    },
    async () => ({ webhooks: await fastify.webhooks.list() }),
  )

  fastify.get(
    '/webhooks/:id',
    {
      config: { ...ADMIN, errors: [Errors.WEBHOOK_NOT_FOUND] },
      schema: {
        tags: ['webhooks'],
        summary: 'Read a webhook subscription',
        params: IdParams,
        response: { 200: Subscription },
      },
    },
    async (request) => fastify.webhooks.get(request.params.id),
  )

  fastify.patch(
    '/webhooks/:id',
    {
      config: { ...ADMIN, errors: [...CHANGE_ERRORS, ...SETTINGS_ERRORS] },
      schema: {
        tags: ['webhooks'],
        summary: 'Change a webhook subscription (URL, events, description, enabled)',
        params: IdParams,
        body: SubscriptionPatch,
        response: { 200: Subscription },
      },
    },
    async (request) => fastify.webhooks.update(request.params.id, request.body, actorOf(request)),
  )

  fastify.delete(
    '/webhooks/:id',
    {
      config: { ...ADMIN, errors: CHANGE_ERRORS },
      schema: {
        tags: ['webhooks'],
        summary: 'Delete a webhook subscription, its pending deliveries and its delivery log',
        params: IdParams,
        response: { 204: Type.Null({ description: 'Deleted.' }) },
      },
    },
    async (request, reply) => {
      await fastify.webhooks.delete(request.params.id, actorOf(request))
      request.log.info({ subscriptionId: request.params.id }, 'webhook deleted')
      return reply.code(204).send(null)
    },
  )

  fastify.post(
    '/webhooks/:id/rotate-secret',
    {
      config: { ...ADMIN, errors: CHANGE_ERRORS },
      schema: {
        tags: ['webhooks'],
        summary: 'Make a new signing secret',
        description:
          'The answer holds the new secret. The previous one keeps signing beside it for 24 hours ' +
          '(`previousSecretValidUntil`): both signatures are sent, so receivers switch without a gap.',
        params: IdParams,
        response: { 200: WithSecret },
      },
    },
    async (request) => fastify.webhooks.rotateSecret(request.params.id, actorOf(request)),
  )

  fastify.post(
    '/webhooks/:id/test',
    {
      config: { ...ADMIN, errors: [Errors.WEBHOOK_NOT_FOUND] },
      schema: {
        tags: ['webhooks'],
        summary: 'Send a test event (webhook.test) to this subscription',
        description: 'Delivered like any event, signed, retried and logged; follow it in the delivery log.',
        params: IdParams,
        response: {
          202: Type.Object(
            {
              eventId: Type.String({ description: 'The webhook-id the receiver will see.' }),
              deliveryId: Type.String({ format: 'uuid', description: 'The delivery, in GET .../deliveries.' }),
            },
            { description: 'Queued.' },
          ),
        },
      },
    },
    async (request, reply) => reply.code(202).send(await fastify.webhooks.ping(request.params.id)),
  )

  fastify.get(
    '/webhooks/:id/deliveries',
    {
      config: { ...ADMIN, errors: [Errors.WEBHOOK_NOT_FOUND] },
      schema: {
        tags: ['webhooks'],
        summary: 'The delivery log of a subscription, newest first',
        params: IdParams,
        querystring: Type.Object({
          state: Type.Optional(Type.Enum(['pending', 'delivered', 'failed'], { description: 'Only this state.' })),
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 50, description: 'Deliveries per page.' }),
          before: Type.Optional(
            Type.Integer({
              minimum: 1,
              maximum: 2_147_483_647,
              description: 'The `next` cursor of the previous page.',
            }),
          ),
        }),
        response: {
          200: Type.Object(
            {
              deliveries: Type.Array(Delivery, { description: 'Newest first.' }),
              next: Type.Union([Type.Integer(), Type.Null()], { description: 'Cursor of the next page; null: none.' }),
            },
            { description: 'A page of the delivery log.' },
          ),
        },
      },
    },
    async (request) => listDeliveries(fastify.db, request.params.id, request.query),
  )

  fastify.get(
    '/webhooks/:id/deliveries/:deliveryId',
    {
      config: { ...ADMIN, errors: [Errors.WEBHOOK_NOT_FOUND, Errors.WEBHOOK_DELIVERY_NOT_FOUND] },
      schema: {
        tags: ['webhooks'],
        summary: 'One delivery with its attempts',
        params: DeliveryParams,
        response: { 200: Delivery },
      },
    },
    async (request) => getDelivery(fastify.db, request.params.id, request.params.deliveryId),
  )

  fastify.post(
    '/webhooks/:id/deliveries/:deliveryId/retry',
    {
      config: {
        ...ADMIN,
        errors: [Errors.WEBHOOK_NOT_FOUND, Errors.WEBHOOK_DELIVERY_NOT_FOUND, Errors.WEBHOOK_DELIVERY_PENDING],
      },
      schema: {
        tags: ['webhooks'],
        summary: 'Send a delivered or failed delivery again',
        description: 'It becomes pending, due now, with a new day of retries; its earlier attempts stay in the log.',
        params: DeliveryParams,
        response: { 202: ref(DeliverySchema, 'Queued again.') },
      },
    },
    async (request, reply) => {
      const delivery = await retryDelivery(fastify.db, request.params.id, request.params.deliveryId)
      fastify.webhookWorker.wake()
      return reply.code(202).send(delivery)
    },
  )
}

export default webhookRoutes
