import type { Kysely, Selectable } from 'kysely'
import { createHash, randomUUID } from 'node:crypto'
import { isIP } from 'node:net'
import { Errors } from '../errors.js'
import type { ChangeFeed } from '../store/changes.js'
import type { Database, Executor } from '../store/schema.js'
import { transact, type WriteContext } from '../store/transact.js'
import { recordAudit, type Actor } from '../audit/audit.js'
import { checkUrl, nonPublicRange } from './address-policy.js'
import { ALL_EVENTS, EVENT_TYPES, isEventType } from './event-types.js'
import { publishEvent, TEST_EVENT } from './outbox.js'
import type { SecretBox } from './secret-box.js'
import { newSecret } from './signature.js'

/** Enough for every team and tool of a tenant; a bound on what each event fans out to. */
export const MAX_SUBSCRIPTIONS = 100
/** After a rotation the old secret keeps signing beside the new one this long, so receivers switch without a gap. */
export const ROTATION_GRACE_MS = 24 * 3_600_000

export interface Subscription {
  id: string
  url: string
  events: string[]
  description: string | null
  enabled: boolean
  createdAt: string
  updatedAt: string
  /** Until when the secret before the last rotation still signs, if it does. */
  previousSecretValidUntil: string | null
}

export interface SubscriptionInput {
  url: string
  events: string[]
  description?: string | null
  enabled?: boolean
}

export interface UrlPolicy {
  allowHttp: boolean
  allowPrivate: boolean
}

const toSubscription = (r: Selectable<Database['webhook_subscriptions']>, now = new Date()): Subscription => ({
  id: r.id,
  url: r.url,
  events: JSON.parse(r.events) as string[],
  description: r.description,
  enabled: r.enabled === 1,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  previousSecretValidUntil:
    r.previous_secret_until && r.previous_secret_until > now.toISOString() ? r.previous_secret_until : null,
})

/** Webhook subscriptions: what tenant administrators manage through /webhooks. */
export class SubscriptionService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly changes: ChangeFeed,
    private readonly policy: UrlPolicy,
    private readonly secrets: SecretBox,
  ) {}

  async list(): Promise<Subscription[]> {
    const rows = await this.db.selectFrom('webhook_subscriptions').selectAll().orderBy('created_at').execute()
    return rows.map((r) => toSubscription(r))
  }

  async get(id: string): Promise<Subscription> {
    return toSubscription(await findSubscriptionRow(this.db, id))
  }

  /** Creates a subscription; the answer carries its secret, which is never shown again. */
  async create(input: SubscriptionInput, actor: Actor): Promise<Subscription & { secret: string }> {
    this.check(input)
    const at = new Date().toISOString()
    const secret = newSecret()
    const id = randomUUID()
    const row = {
      id,
      url: input.url,
      events: JSON.stringify(normaliseEvents(input.events)),
      description: input.description ?? null,
      enabled: input.enabled === false ? 0 : 1,
      secret: this.secrets.seal(secret, id),
      previous_secret: null,
      previous_secret_until: null,
      created_at: at,
      updated_at: at,
    }
    await transact(this.db, this.changes, async (ctx) => {
      const { count } = await ctx.tx
        .selectFrom('webhook_subscriptions')
        .select((eb) => eb.fn.countAll<number>().as('count'))
        .executeTakeFirstOrThrow()
      if (Number(count) >= MAX_SUBSCRIPTIONS) throw new Errors.WEBHOOK_LIMIT(MAX_SUBSCRIPTIONS)
      await ctx.tx.insertInto('webhook_subscriptions').values(row).execute()
      await audit(ctx, actor, 'webhook.create', row.id, null, toSubscription(row))
    })
    return { ...toSubscription(row), secret }
  }

  /** Changes url, events, description or enabled; what is left out stays. */
  async update(id: string, patch: Partial<SubscriptionInput>, actor: Actor): Promise<Subscription> {
    return transact(this.db, this.changes, async (ctx) => {
      const current = await findSubscriptionRow(ctx.tx, id)
      const before = toSubscription(current)
      const next = {
        url: patch.url ?? before.url,
        events: patch.events ?? before.events,
        description: patch.description === undefined ? before.description : patch.description,
        enabled: patch.enabled ?? before.enabled,
      }
      // Only what changes is judged again: a subscription made under looser settings can still be disabled.
      this.check({
        url: patch.url ?? '',
        events: patch.events ?? [],
        skipUrl: patch.url === undefined,
      })
      const updated = {
        ...current,
        url: next.url,
        events: JSON.stringify(normaliseEvents(next.events)),
        description: next.description,
        enabled: next.enabled ? 1 : 0,
        updated_at: new Date().toISOString(),
      }
      await ctx.tx.updateTable('webhook_subscriptions').set(updated).where('id', '=', id).execute()
      await audit(ctx, actor, 'webhook.update', id, before, toSubscription(updated))
      return toSubscription(updated)
    })
  }

  /** Deletes the subscription with its pending deliveries and its delivery log. */
  async delete(id: string, actor: Actor): Promise<void> {
    await transact(this.db, this.changes, async (ctx) => {
      const before = toSubscription(await findSubscriptionRow(ctx.tx, id))
      await ctx.tx.deleteFrom('webhook_subscriptions').where('id', '=', id).execute()
      await audit(ctx, actor, 'webhook.delete', id, before, null)
    })
  }

  /** A new secret; the old one keeps signing beside it for ROTATION_GRACE_MS. */
  async rotateSecret(id: string, actor: Actor): Promise<Subscription & { secret: string }> {
    const secret = newSecret()
    const subscription = await transact(this.db, this.changes, async (ctx) => {
      const current = await findSubscriptionRow(ctx.tx, id)
      const now = new Date()
      const updated = {
        ...current,
        secret: this.secrets.seal(secret, id),
        previous_secret: current.secret,
        previous_secret_until: new Date(now.getTime() + ROTATION_GRACE_MS).toISOString(),
        updated_at: now.toISOString(),
      }
      await ctx.tx.updateTable('webhook_subscriptions').set(updated).where('id', '=', id).execute()
      const after = toSubscription(updated)
      await audit(ctx, actor, 'webhook.rotate-secret', id, toSubscription(current), after)
      return after
    })
    return { ...subscription, secret }
  }

  /** Queues a `webhook.test` event for this subscription alone (disabled or not, it is delivered once enabled). */
  async ping(id: string): Promise<{ eventId: string; deliveryId: string }> {
    return transact(this.db, this.changes, async (ctx) => {
      const subscription = await findSubscriptionRow(ctx.tx, id)
      const event = await publishEvent(
        ctx,
        {
          type: TEST_EVENT,
          orderingKey: `webhooks/${id}`,
          data: { subscriptionId: id, message: 'A test event, sent on request (POST /webhooks/{id}/test).' },
        },
        subscription.id,
      )
      return { eventId: event.id, deliveryId: event.deliveries[0]! }
    })
  }

  private check(input: Pick<SubscriptionInput, 'url' | 'events'> & { skipUrl?: boolean }): void {
    if (!input.skipUrl) this.checkUrl(input.url)
    const unknown = input.events.filter((e) => e !== ALL_EVENTS && !isEventType(e))
    if (unknown.length > 0) {
      throw new Errors.WEBHOOK_EVENT_UNKNOWN(
        `Unknown event type${unknown.length > 1 ? 's' : ''} ${unknown.map((e) => `"${e}"`).join(', ')}; ` +
          `subscribe to "*" or to any of: ${Object.keys(EVENT_TYPES).join(', ')}.`,
      )
    }
  }

  private checkUrl(raw: string): void {
    const checked = checkUrl(raw, { allowHttp: this.policy.allowHttp })
    if (!checked.ok) throw new Errors.WEBHOOK_URL_REFUSED(checked.reason)
    // A literal address can be judged now; a host name is resolved and judged at every delivery.
    const host = checked.url.hostname.replace(/^\[(.*)\]$/, '$1')
    const range = isIP(host) ? nonPublicRange(host) : undefined
    if (range && !this.policy.allowPrivate) throw new Errors.WEBHOOK_URL_REFUSED(`${host} is a ${range} address`)
  }
}

/** Sorted and without repeats; "*" alone when it is there (it covers the rest). */
function normaliseEvents(events: string[]): string[] {
  return events.includes(ALL_EVENTS) ? [ALL_EVENTS] : [...new Set(events)].sort()
}

/** The audit record of a subscription change: its settings before and after, never its secret. */
function audit(
  ctx: WriteContext,
  actor: Actor,
  action: string,
  id: string,
  before: Subscription | null,
  after: Subscription | null,
) {
  // Chat and ticketing URLs often carry their credential in the path or query, and monitors read the audit
  // log: it names the origin and a hash of the whole URL (to tell URLs apart), never the URL itself.
  const view = (s: Subscription | null) =>
    s && {
      origin: new URL(s.url).origin,
      urlSha256: createHash('sha256').update(s.url).digest('hex'),
      events: s.events,
      enabled: s.enabled,
    }
  return recordAudit(ctx, actor, { action, target: `webhooks/${id}`, before: view(before), after: view(after) })
}

/** The subscription's row, or CMS_WEBHOOK_NOT_FOUND. */
export async function findSubscriptionRow(db: Executor, id: string) {
  const row = await db.selectFrom('webhook_subscriptions').selectAll().where('id', '=', id).executeTakeFirst()
  if (!row) throw new Errors.WEBHOOK_NOT_FOUND(id)
  return row
}
