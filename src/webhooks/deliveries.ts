import type { Kysely } from 'kysely'
import { Errors } from '../errors.js'
import type { Database, Executor } from '../store/schema.js'
import { writeTransaction } from '../store/transact.js'
import { findSubscriptionRow } from './subscriptions.js'

export interface Attempt {
  number: number
  at: string
  status: number | null
  durationMs: number
  error: string | null
  responsePrefix: string | null
}

export interface Delivery {
  id: string
  eventId: string
  eventType: string
  /** pending (waiting for its next attempt), delivered (a 2xx came back) or failed (retries ran out). */
  state: 'pending' | 'delivered' | 'failed'
  attempts: Attempt[]
  nextAttemptAt: string | null
  createdAt: string
  updatedAt: string
}

/** The delivery log of one subscription, newest first, a page at a time (`before`: a delivery's seq). */
export async function listDeliveries(
  db: Executor,
  subscriptionId: string,
  page: { limit: number; state?: string; before?: number },
): Promise<{ deliveries: Delivery[]; next: number | null }> {
  await findSubscriptionRow(db, subscriptionId)
  let q = db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('webhook_events as e', 'e.id', 'd.event_id')
    .select(['d.id', 'd.seq', 'd.event_id', 'e.type', 'd.state', 'd.next_attempt_at', 'd.created_at', 'd.updated_at'])
    .where('d.subscription_id', '=', subscriptionId)
    .orderBy('d.seq', 'desc')
    .limit(page.limit + 1)
  if (page.state) q = q.where('d.state', '=', page.state)
  if (page.before !== undefined) q = q.where('d.seq', '<', page.before)
  const rows = await q.execute()
  const shown = rows.slice(0, page.limit)
  const attempts = await attemptsOf(
    db,
    shown.map((r) => r.id),
  )
  return {
    deliveries: shown.map((r) => ({
      id: r.id,
      eventId: r.event_id,
      eventType: r.type,
      state: r.state as Delivery['state'],
      attempts: attempts.get(r.id) ?? [],
      nextAttemptAt: r.state === 'pending' ? r.next_attempt_at : null,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    })),
    next: rows.length > page.limit ? Number(shown[shown.length - 1]!.seq) : null,
  }
}

export async function getDelivery(db: Executor, subscriptionId: string, deliveryId: string): Promise<Delivery> {
  const row = await db
    .selectFrom('webhook_deliveries')
    .select('seq')
    .where('id', '=', deliveryId)
    .where('subscription_id', '=', subscriptionId)
    .executeTakeFirst()
  if (!row) {
    await findSubscriptionRow(db, subscriptionId)
    throw new Errors.WEBHOOK_DELIVERY_NOT_FOUND(subscriptionId, deliveryId)
  }
  const { deliveries } = await listDeliveries(db, subscriptionId, { limit: 1, before: Number(row.seq) + 1 })
  return deliveries[0]!
}

/**
 * Sends a delivered or failed delivery again: it becomes pending, due now, with a new day of retries;
 * its earlier attempts stay in the log. A pending one is refused: it is on its schedule already.
 */
export async function retryDelivery(db: Kysely<Database>, subscriptionId: string, deliveryId: string) {
  await writeTransaction(db, async (tx) => {
    const row = await tx
      .selectFrom('webhook_deliveries')
      .select(['state'])
      .where('id', '=', deliveryId)
      .where('subscription_id', '=', subscriptionId)
      .executeTakeFirst()
    if (!row) {
      await findSubscriptionRow(tx, subscriptionId)
      throw new Errors.WEBHOOK_DELIVERY_NOT_FOUND(subscriptionId, deliveryId)
    }
    if (row.state === 'pending') throw new Errors.WEBHOOK_DELIVERY_PENDING(deliveryId)
    const now = new Date().toISOString()
    await tx
      .updateTable('webhook_deliveries')
      .set({ state: 'pending', next_attempt_at: now, first_attempt_at: null, updated_at: now })
      .where('id', '=', deliveryId)
      .execute()
  })
  return getDelivery(db, subscriptionId, deliveryId)
}

/**
 * Seconds since the oldest delivery still pending was due (0 when none is): how far behind delivery runs.
 * Due since its first attempt, or, before one, since it was written or re-sent (a re-sent old delivery is
 * not a backlog of days). Disabled subscriptions are left out: their deliveries wait on purpose.
 */
export async function oldestPendingAgeSeconds(db: Executor, now = new Date()): Promise<number> {
  const row = await db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('webhook_subscriptions as s', 's.id', 'd.subscription_id')
    .select((eb) => eb.fn.min(eb.fn.coalesce('d.first_attempt_at', 'd.updated_at')).as('oldest'))
    .where('d.state', '=', 'pending')
    .where('s.enabled', '=', 1)
    .executeTakeFirst()
  const oldest = row?.oldest as string | null | undefined
  return oldest ? Math.max(0, (now.getTime() - Date.parse(oldest)) / 1000) : 0
}

async function attemptsOf(db: Executor, ids: string[]): Promise<Map<string, Attempt[]>> {
  const byDelivery = new Map<string, Attempt[]>()
  if (ids.length === 0) return byDelivery
  const rows = await db
    .selectFrom('webhook_attempts')
    .selectAll()
    .where('delivery_id', 'in', ids)
    .orderBy('delivery_id')
    .orderBy('number')
    .execute()
  for (const r of rows) {
    const list = byDelivery.get(r.delivery_id) ?? []
    list.push({
      number: r.number,
      at: r.at,
      status: r.status,
      durationMs: r.duration_ms,
      error: r.error,
      responsePrefix: r.response_prefix,
    })
    byDelivery.set(r.delivery_id, list)
  }
  return byDelivery
}
