import type { Kysely } from 'kysely'
import { ChangeFeed } from '../store/changes.js'
import type { Database, Executor } from '../store/schema.js'
import { transact, writeTransaction, type WriteContext } from '../store/transact.js'
import {
  dueExpiryThresholds,
  fireExpiredInUse,
  fireExpiring,
  fireWaiting,
  isDueExpiredInUse,
  isDueWaiting,
  timedEventSettings,
  type WaitingRenewal,
  type WatchedCertificate,
} from './timed-events.js'

/** Where the scheduler finds what it watches: the keystore's certificates and key pairs, and the active renewals. */
export interface TimedEventSources {
  certificates(db: Executor): Promise<WatchedCertificate[]>
  waitingRenewals(db: Executor): Promise<WaitingRenewal[]>
}

export interface SchedulerOptions {
  replicaId: string
  intervalMs: number
  /** Delivered and failed deliveries, and their events, are deleted this long after they settled. */
  retentionMs: number
  now?: () => Date
  onFired?: (count: number) => void
  onError?: (err: unknown) => void
}

const LEASE = 'webhook-scheduler'
const certificateKey = (w: WatchedCertificate) =>
  `${w.kind ?? 'certificate'}/${w.alias}/${w.certificate.sha256Fingerprint}`
const renewalKey = (r: WaitingRenewal) => `${r.id}/${r.done}`

/**
 * Finds the timed events (`certificate.expiring`, `certificate.expired-in-use`, their `key-pair.*` twins,
 * `renewal.waiting`) once per
 * interval, on one replica at a time: the one holding the scheduler lease, which it renews as it runs and
 * another takes over five intervals after it stopped. What fired is recorded with the event in one
 * transaction (webhook_fired), so neither a restart nor a second scheduler fires anything twice; the lease
 * only saves the others the work.
 */
export class TimedEventScheduler {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private readonly now: () => Date
  private lastPruned = 0

  constructor(
    private readonly db: Kysely<Database>,
    private readonly sources: TimedEventSources,
    private readonly options: SchedulerOptions,
  ) {
    this.now = options.now ?? (() => new Date())
  }

  start(): void {
    const tick = () => {
      this.running = this.round()
        .then(() => undefined)
        .catch((err) => this.options.onError?.(err))
    }
    tick()
    this.timer = setInterval(tick, this.options.intervalMs)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    await this.running
    // Let another replica take over at once instead of waiting for the lease to lapse.
    await this.db
      .deleteFrom('leases')
      .where('name', '=', LEASE)
      .where('holder', '=', this.options.replicaId)
      .execute()
      .catch(() => {})
  }

  /** One round (tests call it with their clock): the events fired, or null while another replica holds the lease. */
  async round(): Promise<number | null> {
    const now = this.now()
    if (!(await this.holdLease(now))) return null
    const { renewalWaitingMs, expiryThresholdsDays } = timedEventSettings(this.db)
    // Read first, write only for what is due: a quiet round costs reads, no write (and no fsync on SQLite).
    const certificates: WatchedCertificate[] = []
    for (const w of await this.sources.certificates(this.db)) {
      const due =
        (await dueExpiryThresholds(this.db, w, now, expiryThresholdsDays)).length > 0 ||
        (await isDueExpiredInUse(this.db, w, now))
      if (due) certificates.push(w)
    }
    const renewals: WaitingRenewal[] = []
    for (const r of await this.sources.waitingRenewals(this.db))
      if (await isDueWaiting(this.db, r, now, renewalWaitingMs)) renewals.push(r)
    let fired = 0
    if (certificates.length + renewals.length > 0) {
      fired = await transact(this.db, new ChangeFeed(), async (ctx: WriteContext) => {
        // Read again under the write lock: a step taken, a certificate replaced or an alias dropped since the
        // read above decides (no renewal.waiting for a step just taken, no expiry of a certificate just replaced).
        const dueCertificates = new Set(certificates.map(certificateKey))
        const dueRenewals = new Set(renewals.map(renewalKey))
        let n = 0
        for (const w of await this.sources.certificates(ctx.tx)) {
          if (dueCertificates.has(certificateKey(w)))
            n += (await fireExpiring(ctx, w, now)) + (await fireExpiredInUse(ctx, w, now))
        }
        for (const r of await this.sources.waitingRenewals(ctx.tx))
          if (dueRenewals.has(renewalKey(r))) n += await fireWaiting(ctx, r, now)
        return n
      })
    }
    if (fired > 0) this.options.onFired?.(fired)
    if (now.getTime() - this.lastPruned >= 3_600_000) {
      await this.prune(now)
      this.lastPruned = now.getTime()
    }
    return fired
  }

  /**
   * Takes or renews the lease; false while another replica holds it. It runs five intervals and is renewed
   * when three or fewer are left: a write every other round or so, not every round (on SQLite each write is
   * an fsync, and makes a process sharing the file drop its caches).
   */
  private async holdLease(now: Date): Promise<boolean> {
    const interval = this.options.intervalMs
    const until = new Date(now.getTime() + 5 * interval).toISOString()
    const me = this.options.replicaId
    const held = await this.db.selectFrom('leases').selectAll().where('name', '=', LEASE).executeTakeFirst()
    if (held && held.holder !== me && held.until > now.toISOString()) return false
    if (held?.holder === me && Date.parse(held.until) - now.getTime() > 3 * interval) return true
    return writeTransaction(this.db, async (tx) => {
      const lease = await tx.selectFrom('leases').selectAll().where('name', '=', LEASE).executeTakeFirst()
      if (lease && lease.holder !== me && lease.until > now.toISOString()) return false
      if (lease) await tx.updateTable('leases').set({ holder: me, until }).where('name', '=', LEASE).execute()
      else await tx.insertInto('leases').values({ name: LEASE, holder: me, until }).execute()
      return true
    })
  }

  /** Forgets settled deliveries (with their attempts) and events past the retention period. */
  private async prune(now: Date): Promise<void> {
    const before = new Date(now.getTime() - this.options.retentionMs).toISOString()
    await writeTransaction(this.db, async (tx) => {
      await tx
        .deleteFrom('webhook_deliveries')
        .where('state', 'in', ['delivered', 'failed'])
        .where('updated_at', '<', before)
        .execute()
      const pendingEvents = tx.selectFrom('webhook_deliveries').select('event_id')
      await tx.deleteFrom('webhook_events').where('at', '<', before).where('id', 'not in', pendingEvents).execute()
    })
  }
}
