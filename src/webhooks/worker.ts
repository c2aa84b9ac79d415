import { sql, type Kysely, type Transaction } from 'kysely'
import { dialectOf } from '../store/database.js'
import type { Database, Executor } from '../store/schema.js'
import { writeTransaction } from '../store/transact.js'
import { postWebhook, type PostOptions, type PostResult } from './post.js'
import { nextAttempt, type RetryPolicy } from './retry-schedule.js'
import type { SecretBox } from './secret-box.js'
import { signatureHeaders } from './signature.js'

export type DeliveryOutcome = 'delivered' | 'retrying' | 'failed'

export interface WorkerOptions {
  /** Names this replica in claims and attempts: unique per process. */
  replicaId: string
  /** Opens the sealed signing secrets. */
  secrets: SecretBox
  post: PostOptions
  retry: RetryPolicy
  /** Deliveries attempted at once by this replica. */
  concurrency: number
  /** How often to look for due deliveries when nothing woke the worker. */
  pollMs: number
  now?: () => Date
  random?: () => number
  onAttempt?: (eventType: string, outcome: DeliveryOutcome, seconds: number) => void
  onError?: (err: unknown) => void
}

interface Claimed {
  id: string
  attempts: number
  firstAttemptAt: string | null
  eventId: string
  eventType: string
  body: string
  url: string
  secrets: string[]
}

/**
 * Delivers pending webhook deliveries: claims a few, posts them, records each attempt. Every replica runs
 * one; a claim (claimed_by, claimed_until) makes a delivery one replica's until its lease ends, so each
 * event goes out from one replica, and one that dies mid-delivery leaves it to another once the lease
 * lapses (at least once: a replica that posted but died before recording will see it posted again).
 *
 * Order: a delivery is claimable only while no earlier delivery with its subscription and ordering key is
 * pending, so a renewal's events reach a subscriber in the order they happened, retries included.
 */
export class DeliveryWorker {
  private running = false
  private loop: Promise<void> | undefined
  private wakeUp: (() => void) | undefined
  private woken = false
  private readonly now: () => Date
  private readonly leaseMs: number

  constructor(
    private readonly db: Kysely<Database>,
    private readonly options: WorkerOptions,
  ) {
    this.now = options.now ?? (() => new Date())
    // Longer than any attempt can take (its deadline, twice, and the recording), so a live replica never loses
    // a claim it is working on; short enough that a dead one's deliveries are taken over within seconds.
    this.leaseMs = 2 * options.post.timeoutMs + 5_000
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.loop = this.run()
  }

  /** Look for due deliveries now (events just committed) instead of at the next poll. */
  wake(): void {
    this.woken = true
    this.wakeUp?.()
  }

  /** Stops claiming; the attempts in flight finish (each within its deadline) and are recorded. */
  async stop(): Promise<void> {
    this.running = false
    this.wake()
    await this.loop
  }

  /** One round: claims what is due and attempts it. Answers how many were attempted (tests call it directly). */
  async round(): Promise<number> {
    const claimed = await this.claim()
    await Promise.all(claimed.map((d) => this.attempt(d)))
    return claimed.length
  }

  private async run(): Promise<void> {
    let failures = 0
    while (this.running) {
      let attempted = 0
      try {
        attempted = await this.round()
        failures = 0
      } catch (err) {
        // The store is away (a PostgreSQL restart): say so once, then wait longer each time, up to 30 s.
        if (failures++ === 0) this.options.onError?.(err)
      }
      if (attempted === 0 && this.running)
        await this.sleep(failures ? Math.min(30_000, this.options.pollMs * 2 ** failures) : this.options.pollMs)
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false
      return Promise.resolve()
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        // Forgotten however the sleep ends, so a wake() during the next round is kept for the sleep after it.
        this.wakeUp = undefined
        this.woken = false
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.wakeUp = done
    })
  }

  private async claim(): Promise<Claimed[]> {
    const now = this.now().toISOString()
    const postgres = dialectOf(this.db) === 'postgres'
    // SQLite: the write lock serialises claims of processes sharing the file. PostgreSQL: replicas skip the
    // rows another one is claiming (SKIP LOCKED) rather than wait for it, and the claim then makes them its own.
    // A read first: an idle poll opens no write transaction (on SQLite, a write and an fsync each time).
    if ((await this.due(this.db, now).limit(1).execute()).length === 0) return []
    const ids = await this.write(async (tx) => {
      let q = this.due(tx, now).limit(this.options.concurrency)
      if (postgres) q = q.forUpdate('d').skipLocked()
      const rows = await q.execute()
      if (rows.length === 0) return []
      const until = new Date(Date.parse(now) + this.leaseMs).toISOString()
      await tx
        .updateTable('webhook_deliveries')
        .set({ claimed_by: this.options.replicaId, claimed_until: until })
        .where(
          'id',
          'in',
          rows.map((r) => r.id),
        )
        .execute()
      return rows.map((r) => r.id)
    })
    if (ids.length === 0) return []
    const rows = await this.db
      .selectFrom('webhook_deliveries as d')
      .innerJoin('webhook_events as ev', 'ev.id', 'd.event_id')
      .innerJoin('webhook_subscriptions as s', 's.id', 'd.subscription_id')
      .select([
        'd.id',
        'd.seq',
        'd.attempts',
        'd.first_attempt_at',
        'ev.id as event_id',
        'ev.type',
        'ev.body',
        's.url',
        's.id as subscription_id',
        's.secret',
        's.previous_secret',
        's.previous_secret_until',
      ])
      .where('d.id', 'in', ids)
      .orderBy('d.seq')
      .execute()
    return rows.map((r) => ({
      id: r.id,
      attempts: r.attempts,
      firstAttemptAt: r.first_attempt_at,
      eventId: r.event_id,
      eventType: r.type,
      body: r.body,
      url: r.url,
      // Both secrets sign while a rotation's grace period runs, so receivers can switch at their pace.
      secrets: (r.previous_secret && r.previous_secret_until && r.previous_secret_until > now
        ? [r.secret, r.previous_secret]
        : [r.secret]
      ).flatMap((sealed) => this.openSecret(sealed, r.subscription_id)),
    }))
  }

  /** The secret, or none when it cannot be opened (sealed under another audit key): the attempt says so. */
  private openSecret(sealed: string, subscriptionId: string): string[] {
    try {
      return [this.options.secrets.open(sealed, subscriptionId)]
    } catch {
      return []
    }
  }

  /** Deliveries due at `now`, oldest first: pending, unclaimed (or lease lapsed), the first of their key. */
  private due(db: Executor, now: string) {
    return db
      .selectFrom('webhook_deliveries as d')
      .innerJoin('webhook_subscriptions as s', 's.id', 'd.subscription_id')
      .select('d.id')
      .where('d.state', '=', 'pending')
      .where('d.next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('d.claimed_until', 'is', null), eb('d.claimed_until', '<', now)]))
      .where('s.enabled', '=', 1)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('webhook_deliveries as e')
              .select(sql<number>`1`.as('one'))
              .whereRef('e.subscription_id', '=', 'd.subscription_id')
              .whereRef('e.ordering_key', '=', 'd.ordering_key')
              .where('e.state', '=', 'pending')
              .whereRef('e.seq', '<', 'd.seq'),
          ),
        ),
      )
      .orderBy('d.seq')
  }

  private async attempt(d: Claimed): Promise<void> {
    const at = this.now()
    let result: PostResult
    try {
      if (d.secrets.length === 0) {
        throw new Error('the signing secret cannot be opened (sealed under another AUDIT_KEY_FILE?): rotate the secret')
      }
      const headers = signatureHeaders(d.secrets, { id: d.eventId, timestamp: at, body: d.body })
      result = await postWebhook(d.url, { ...headers }, d.body, this.options.post)
    } catch (err) {
      result = { status: null, ok: false, durationMs: 0, error: (err as Error).message, responsePrefix: null }
    }
    let outcome: DeliveryOutcome | undefined
    try {
      outcome = await this.record(d, at, result)
    } catch (err) {
      // Whatever in the answer the store refused, the attempt is recorded without it: a delivery must settle.
      this.options.onError?.(err)
      outcome = await this.record(d, at, {
        ...result,
        error: result.ok ? null : 'unrecordable answer',
        responsePrefix: null,
      })
    }
    if (outcome) this.options.onAttempt?.(d.eventType, outcome, result.durationMs / 1000)
  }

  /** Records an attempt and its consequence: delivered, retried at the next time of the schedule, or failed. */
  private async record(d: Claimed, at: Date, result: PostResult): Promise<DeliveryOutcome | undefined> {
    const after = this.now()
    // Read again, locked, in the recording transaction: a replica that outlived its lease (it cannot, within
    // the deadline, but clocks are clocks) records its attempt without overwriting the one that took over.
    return this.write(async (tx) => {
      let q = tx
        .selectFrom('webhook_deliveries')
        .select(['attempts', 'first_attempt_at', 'claimed_by'])
        .where('id', '=', d.id)
      if (dialectOf(this.db) === 'postgres') q = q.forUpdate()
      const row = await q.executeTakeFirst()
      if (!row) return undefined // the subscription was deleted meanwhile, its deliveries with it
      const number = row.attempts + 1
      const first = row.first_attempt_at ?? at.toISOString()
      const next = result.ok
        ? 'delivered'
        : nextAttempt(number, new Date(first), after, (this.options.random ?? Math.random)(), this.options.retry)
      const outcome: DeliveryOutcome = next === 'delivered' ? 'delivered' : next === 'failed' ? 'failed' : 'retrying'
      await tx
        .insertInto('webhook_attempts')
        .values({
          delivery_id: d.id,
          number,
          at: at.toISOString(),
          status: result.status,
          duration_ms: result.durationMs,
          error: result.error?.slice(0, 500) ?? null,
          response_prefix: result.responsePrefix,
          by: this.options.replicaId,
        })
        .execute()
      const mine = row.claimed_by === this.options.replicaId
      await tx
        .updateTable('webhook_deliveries')
        .set({
          attempts: number,
          first_attempt_at: first,
          updated_at: after.toISOString(),
          ...(mine || result.ok
            ? {
                state: outcome === 'retrying' ? 'pending' : outcome,
                next_attempt_at: next instanceof Date ? next.toISOString() : after.toISOString(),
                claimed_by: null,
                claimed_until: null,
              }
            : {}),
        })
        .where('id', '=', d.id)
        .execute()
      return outcome
    })
  }

  /** A write transaction: SQLite's takes the write lock first (processes sharing a file); PostgreSQL's need not. */
  private write<T>(work: (tx: Transaction<Database>) => Promise<T>): Promise<T> {
    return dialectOf(this.db) === 'postgres' ? this.db.transaction().execute(work) : writeTransaction(this.db, work)
  }
}
