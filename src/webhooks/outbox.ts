import type { Kysely } from 'kysely'
import { randomUUID } from 'node:crypto'
import type { Database, Executor } from '../store/schema.js'
import type { WriteContext } from '../store/transact.js'
import { matchesSubscription, type EventType } from './event-types.js'

/** The ping of POST /webhooks/{id}/test: delivered to that subscription only, whatever it subscribed to. */
export const TEST_EVENT = 'webhook.test'

export interface OutboxEvent {
  type: EventType | typeof TEST_EVENT
  /** Events with one key reach each subscription in the order they were written (a renewal's, an alias's). */
  orderingKey: string
  /** What a person reads: names, fingerprints, dates. Never a token, private key or payload byte. */
  data: Record<string, unknown>
}

export interface PublishedEvent {
  id: string
  deliveries: string[]
}

/**
 * The ordering key of a change to `subject`: the renewal's own when a renewal step makes it, so everything
 * a renewal does reaches a subscriber in the order it happened, its keystore and encryptor changes included.
 */
export function orderingKeyOf(ctx: { renewalId?: string }, subject: string): string {
  return ctx.renewalId ? `renewals/${ctx.renewalId}` : subject
}

/** Who is told when events commit: this process's delivery worker, to start at once rather than at its next poll. */
const committedListeners = new WeakMap<Kysely<Database>, () => void>()

export function onEventsCommitted(store: Kysely<Database>, listener: () => void): void {
  committedListeners.set(store, listener)
}

/**
 * Writes an event in the caller's transaction, with one pending delivery per enabled subscription that
 * asked for its type: event and deliveries commit with the change they tell of, or not at all (an outbox),
 * so a crash can neither lose an event nor leave one for a change that rolled back. The body is fixed
 * here, once: every attempt sends (and signs) the same bytes.
 *
 * `only`: the one subscription a test ping goes to.
 */
export async function publishEvent(ctx: WriteContext, event: OutboxEvent, only?: string): Promise<PublishedEvent> {
  const { tx } = ctx
  const id = `evt_${randomUUID().replaceAll('-', '')}`
  const at = new Date().toISOString()
  const body = JSON.stringify({ type: event.type, timestamp: at, data: event.data })
  const { seq } = await tx
    .insertInto('webhook_events')
    .values({ id, type: event.type, at, body })
    .returning('seq')
    .executeTakeFirstOrThrow()
  const subscriptions = await subscribersOf(tx, event.type, only)
  const deliveries = subscriptions.map(() => randomUUID())
  if (subscriptions.length > 0) {
    await tx
      .insertInto('webhook_deliveries')
      .values(
        subscriptions.map((subscriptionId, i) => ({
          id: deliveries[i]!,
          seq: Number(seq),
          event_id: id,
          subscription_id: subscriptionId,
          ordering_key: event.orderingKey,
          state: 'pending',
          attempts: 0,
          next_attempt_at: at,
          first_attempt_at: null,
          claimed_by: null,
          claimed_until: null,
          created_at: at,
          updated_at: at,
        })),
      )
      .execute()
    const listener = committedListeners.get(ctx.store)
    if (listener) ctx.onCommit(listener)
  }
  return { id, deliveries }
}

async function subscribersOf(tx: Executor, type: OutboxEvent['type'], only?: string): Promise<string[]> {
  const q = tx.selectFrom('webhook_subscriptions').select(['id', 'events'])
  // A ping goes to its subscription even while it is disabled: it waits there until it is enabled.
  if (only) return (await q.where('id', '=', only).execute()).map((s) => s.id)
  const rows = await q.where('enabled', '=', 1).orderBy('id').execute()
  return rows
    .filter((s) => type !== TEST_EVENT && matchesSubscription(type, JSON.parse(s.events) as string[]))
    .map((s) => s.id)
}
