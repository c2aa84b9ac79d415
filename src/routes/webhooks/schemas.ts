import { Type } from 'typebox'
import { ALL_EVENTS, EVENT_TYPES } from '../../webhooks/event-types.js'
import { TEST_EVENT } from '../../webhooks/outbox.js'

const eventList = Object.entries(EVENT_TYPES)
  .map(([type, meaning]) => `\`${type}\`: ${meaning}`)
  .join(' ')

const Url = Type.String({
  minLength: 1,
  maxLength: 2048,
  description:
    'Where events are POSTed: https only (http when WEBHOOK_ALLOW_HTTP=true), no credentials in it. Its host ' +
    'must resolve to public addresses only (unless WEBHOOK_ALLOW_PRIVATE_ADDRESSES=true), checked at each delivery.',
})

const Events = Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
  minItems: 1,
  maxItems: Object.keys(EVENT_TYPES).length + 1,
  uniqueItems: true,
  description: `Event types to receive, or ["${ALL_EVENTS}"] for all, present and future. ${eventList}`,
})

const Description = Type.Union([Type.String({ maxLength: 500 }), Type.Null()], {
  description: 'What the subscription is for (a person reads it).',
})

const ENABLED = 'false: no new deliveries are made for it, and those pending wait until it is enabled again.'
const Enabled = Type.Boolean({ description: ENABLED })

export const SubscriptionBody = Type.Object(
  {
    url: Url,
    events: Events,
    description: Type.Optional(Description),
    enabled: Type.Optional(Type.Boolean({ default: true, description: ENABLED })),
  },
  { additionalProperties: false },
)

export const SubscriptionPatch = Type.Object(
  {
    url: Type.Optional(Url),
    events: Type.Optional(Events),
    description: Type.Optional(Description),
    enabled: Type.Optional(Enabled),
  },
  { additionalProperties: false, minProperties: 1, description: 'The fields to change; the others stay.' },
)

const subscriptionFields = {
  id: Type.String({ format: 'uuid', description: 'Subscription id.' }),
  url: Type.String({ description: 'Where events are POSTed.' }),
  events: Type.Array(Type.String(), { description: `Event types it receives ("${ALL_EVENTS}": all).` }),
  description: Description,
  enabled: Type.Boolean({ description: 'Whether deliveries are made.' }),
  createdAt: Type.String({ format: 'date-time', description: 'When it was made.' }),
  updatedAt: Type.String({ format: 'date-time', description: 'When it last changed (a rotation included).' }),
  previousSecretValidUntil: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description:
      'After a rotation: until when the previous secret still signs beside the new one (both signatures are sent).',
  }),
}

export const SubscriptionSchema = Type.Object(subscriptionFields, {
  $id: 'WebhookSubscription',
  description: 'A webhook subscription (its secret is shown only when it is made or rotated).',
})

export const SubscriptionWithSecretSchema = Type.Object(
  {
    ...subscriptionFields,
    secret: Type.String({
      pattern: '^whsec_[A-Za-z0-9+/]+={0,2}$',
      description:
        'The signing secret (Standard Webhooks, `whsec_` + base64). Shown only in this answer: store it where the ' +
        'receiver verifies signatures.',
    }),
  },
  { $id: 'WebhookSubscriptionWithSecret', description: 'A webhook subscription with its signing secret.' },
)

const Attempt = Type.Object({
  number: Type.Integer({ minimum: 1, description: 'The attempt, from 1.' }),
  at: Type.String({ format: 'date-time', description: 'When it was made (its webhook-timestamp).' }),
  status: Type.Union([Type.Integer(), Type.Null()], { description: 'HTTP status; null when no response came.' }),
  durationMs: Type.Integer({ minimum: 0, description: 'From the connect to the response (or the deadline).' }),
  error: Type.Union([Type.String(), Type.Null()], { description: 'Why it was not delivered.' }),
  responsePrefix: Type.Union([Type.String(), Type.Null()], {
    description: 'The first 200 characters of the response body, no more.',
  }),
})

export const DeliverySchema = Type.Object(
  {
    id: Type.String({ format: 'uuid', description: 'Delivery id.' }),
    eventId: Type.String({ description: 'The event (webhook-id): the same on every attempt, for deduplication.' }),
    eventType: Type.String({ description: `The event type, or \`${TEST_EVENT}\` for a ping.` }),
    state: Type.Enum(['pending', 'delivered', 'failed'], {
      description: 'pending: waiting for its next attempt; delivered: a 2xx came back; failed: retries ran out.',
    }),
    attempts: Type.Array(Attempt, { description: 'Every attempt so far, oldest first.' }),
    nextAttemptAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description: 'When it is attempted next, while pending.',
    }),
    createdAt: Type.String({ format: 'date-time', description: 'When the event was written (its change committed).' }),
    updatedAt: Type.String({ format: 'date-time', description: 'When its last attempt was recorded.' }),
  },
  { $id: 'WebhookDelivery', description: 'One event to one subscription, with its attempts.' },
)
