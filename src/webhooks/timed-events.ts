import type { Kysely } from 'kysely'
import type { ReceiverCertificate } from '../cms/certificate.js'
import { DAY_MS } from '../cms/validity.js'
import type { Database, Executor } from '../store/schema.js'
import type { WriteContext } from '../store/transact.js'
import { certificateFields } from './certificate-fields.js'
import { DEFAULT_EXPIRY_THRESHOLDS_DAYS, thresholdsCrossed } from './event-types.js'
import { orderingKeyOf, publishEvent } from './outbox.js'

export interface TimedEventSettings {
  /** Days before notAfter at which `certificate.expiring` fires, once each per certificate. */
  expiryThresholdsDays: readonly number[]
  /** How long a renewal may wait on one step before `renewal.waiting` fires (once per step). */
  renewalWaitingMs: number
}

export const DEFAULT_TIMED_EVENT_SETTINGS: TimedEventSettings = {
  expiryThresholdsDays: DEFAULT_EXPIRY_THRESHOLDS_DAYS,
  renewalWaitingMs: 48 * 3_600_000,
}

const settingsOf = new WeakMap<Kysely<Database>, TimedEventSettings>()

/** Sets the thresholds for one store, so a keystore write fires what the scheduler would (config, once at start). */
export function configureTimedEvents(store: Kysely<Database>, settings: TimedEventSettings): void {
  settingsOf.set(store, settings)
}

export function timedEventSettings(store: Kysely<Database>): TimedEventSettings {
  return settingsOf.get(store) ?? DEFAULT_TIMED_EVENT_SETTINGS
}

/**
 * A certificate under an alias, with the encryptors that use it: a receiver certificate (the encryptors
 * that list the alias) or the certificate of one of the tenant's key pairs (the encryptors that sign with it).
 */
export interface WatchedCertificate {
  alias: string
  certificate: ReceiverCertificate
  usedBy: string[]
  /** 'key-pair': the tenant's own signer, whose events are key-pair.*; otherwise a receiver's, certificate.*. */
  kind?: 'key-pair'
}

/** The event types and ordering key of `w`'s timed events: a receiver's certificate, or a key pair's. */
function eventsOf(w: WatchedCertificate) {
  return w.kind === 'key-pair'
    ? ({
        expiring: 'key-pair.expiring',
        expiredInUse: 'key-pair.expired-in-use',
        orderingKey: `keystore/key-pairs/${w.alias}`,
      } as const)
    : ({
        expiring: 'certificate.expiring',
        expiredInUse: 'certificate.expired-in-use',
        orderingKey: `keystore/${w.alias}`,
      } as const)
}

/**
 * Records that a timed event fired; false when it had fired already. The primary key decides, inside the
 * write transaction: two replicas, or a restart in the middle of a round, cannot fire one twice.
 */
async function markFired(tx: Executor, kind: string, subject: string, mark: string, at: Date): Promise<boolean> {
  const result = await tx
    .insertInto('webhook_fired')
    .values({ kind, subject, mark, at: at.toISOString() })
    .onConflict((oc) => oc.doNothing())
    .executeTakeFirst()
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0
}

/** The marks fired so far for one subject of a kind (thresholds of a certificate, steps of a renewal). */
async function firedMarks(db: Executor, kind: string, subject: string): Promise<string[]> {
  const rows = await db
    .selectFrom('webhook_fired')
    .select('mark')
    .where('kind', '=', kind)
    .where('subject', '=', subject)
    .execute()
  return rows.map((r) => r.mark)
}

const certificateSubject = (w: WatchedCertificate) => `${w.alias}/${w.certificate.sha256Fingerprint}`

/** The expiry thresholds `w` is due to fire at `now` (read only: the scheduler asks before it opens a write). */
export async function dueExpiryThresholds(
  db: Executor,
  w: WatchedCertificate,
  now: Date,
  thresholds: readonly number[],
): Promise<number[]> {
  const left = w.certificate.notAfter.getTime() - now.getTime()
  if (left <= 0 || left > Math.max(...thresholds) * DAY_MS) return []
  const fired = await firedMarks(db, eventsOf(w).expiring, certificateSubject(w))
  return thresholdsCrossed(w.certificate.notAfter, now, fired.map(Number), thresholds)
}

/**
 * Fires `certificate.expiring` (`key-pair.expiring`) for `w` if it is inside a threshold that has not fired
 * yet: on every keystore write (a certificate stored inside a threshold is told of at once) and every
 * scheduler round.
 */
export async function fireExpiring(
  ctx: WriteContext & { renewalId?: string },
  w: WatchedCertificate,
  now: Date,
): Promise<number> {
  const { expiryThresholdsDays } = timedEventSettings(ctx.store)
  const events = eventsOf(w)
  let fired = 0
  for (const days of await dueExpiryThresholds(ctx.tx, w, now, expiryThresholdsDays)) {
    if (!(await markFired(ctx.tx, events.expiring, certificateSubject(w), String(days), now))) continue
    const { certificate } = w
    await publishEvent(ctx, {
      type: events.expiring,
      // After the keystore.changed that stored it, when a renewal step did: both take the renewal's key then.
      orderingKey: orderingKeyOf(ctx, events.orderingKey),
      data: {
        alias: w.alias,
        thresholdDays: days,
        daysLeft: Math.floor((certificate.notAfter.getTime() - now.getTime()) / DAY_MS),
        ...certificateFields(certificate),
        usedBy: w.usedBy,
      },
    })
    fired++
  }
  return fired
}

/** Whether `w` has expired while an encryptor lists it and was not told of yet. */
export async function isDueExpiredInUse(db: Executor, w: WatchedCertificate, now: Date): Promise<boolean> {
  if (w.usedBy.length === 0 || w.certificate.notAfter.getTime() > now.getTime()) return false
  return (await firedMarks(db, eventsOf(w).expiredInUse, certificateSubject(w))).length === 0
}

/** Fires `certificate.expired-in-use` (`key-pair.expired-in-use`) once per certificate under an alias. */
export async function fireExpiredInUse(ctx: WriteContext, w: WatchedCertificate, now: Date): Promise<number> {
  if (!(await isDueExpiredInUse(ctx.tx, w, now))) return 0
  const events = eventsOf(w)
  if (!(await markFired(ctx.tx, events.expiredInUse, certificateSubject(w), '', now))) return 0
  const { certificate } = w
  await publishEvent(ctx, {
    type: events.expiredInUse,
    orderingKey: events.orderingKey,
    data: {
      alias: w.alias,
      ...certificateFields(certificate),
      usedBy: w.usedBy,
    },
  })
  return 1
}

/** A renewal waiting on a step, as the scheduler finds it. */
export interface WaitingRenewal {
  id: string
  procedure: string
  encryptorId: string
  /** Steps done: the wait is on the step after them. */
  done: number
  /** When the last step was taken (or the renewal started). */
  since: string
  waitingFor: { step: string; role: string }
}

export async function isDueWaiting(db: Executor, r: WaitingRenewal, now: Date, waitingMs: number): Promise<boolean> {
  if (now.getTime() - Date.parse(r.since) < waitingMs) return false
  return !(await firedMarks(db, 'renewal.waiting', r.id)).includes(String(r.done))
}

/** Fires `renewal.waiting` once per renewal step waited on too long. */
export async function fireWaiting(ctx: WriteContext, r: WaitingRenewal, now: Date): Promise<number> {
  const { renewalWaitingMs } = timedEventSettings(ctx.store)
  if (!(await isDueWaiting(ctx.tx, r, now, renewalWaitingMs))) return 0
  if (!(await markFired(ctx.tx, 'renewal.waiting', r.id, String(r.done), now))) return 0
  await publishEvent(ctx, {
    type: 'renewal.waiting',
    orderingKey: `renewals/${r.id}`,
    data: {
      renewalId: r.id,
      procedure: r.procedure,
      encryptorId: r.encryptorId,
      waitingFor: r.waitingFor,
      waitingSince: r.since,
      hoursWaiting: Math.floor((now.getTime() - Date.parse(r.since)) / 3_600_000),
    },
  })
  return 1
}
