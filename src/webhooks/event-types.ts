/** Event types, per https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md */

/**
 * Every event a subscription can ask for, with the sentence shown to the people choosing (API docs, console).
 * Dotted and hierarchical as the spec recommends (the names keep a '-', outside the spec's suggested
 * [a-zA-Z0-9_]: receivers match them as strings, so nothing breaks). A published type keeps its name and shape.
 */
export const EVENT_TYPES = {
  'renewal.started': 'A renewal procedure was started for an alias or an encryptor.',
  'renewal.step-completed':
    'A renewal step was completed; the body names the next step and the role that must take it.',
  'renewal.completed': 'A renewal procedure finished its last step.',
  'renewal.aborted': 'A renewal procedure was aborted before its point of no return, and the steps done were undone.',
  'renewal.waiting': 'A renewal has waited on one step longer than the configured time.',
  'certificate.expiring':
    'A receiver certificate came within one of the expiry thresholds (by default 30, 14, 7, 1 days).',
  'certificate.expired-in-use': 'A receiver certificate has expired while an encryptor still encrypts to it.',
  'encryptor.paused': 'An encryptor was paused and refuses to encrypt until it is resumed.',
  'encryptor.resumed': 'A paused encryptor was resumed and encrypts again.',
  'keystore.changed': 'An alias or its certificate was added, replaced or removed in the keystore.',
  'key-pair.changed': 'One of the tenant’s key pairs (a signer) was added, replaced or removed in the keystore.',
  'key-pair.expiring': 'A key pair’s certificate came within an expiry threshold: time for a signer-key renewal.',
  'key-pair.expired-in-use': 'The certificate of a key pair has expired while an encryptor still signs with it.',
  'encryptor.changed': 'An encryptor was created, changed or deleted.',
} as const satisfies Record<string, string>

export type EventType = keyof typeof EVENT_TYPES

/** Subscribes to every event type, present and future. */
export const ALL_EVENTS = '*'

export function isEventType(value: string): value is EventType {
  return Object.hasOwn(EVENT_TYPES, value)
}

/** Whether a subscription to `subscribedTypes` (event types, or '*') receives an event of `eventType`. */
export function matchesSubscription(eventType: EventType, subscribedTypes: readonly string[]): boolean {
  return subscribedTypes.includes(ALL_EVENTS) || subscribedTypes.includes(eventType)
}

const DAY_MS = 86_400_000

/** The defaults for `certificate.expiring`, in days before notAfter. */
export const DEFAULT_EXPIRY_THRESHOLDS_DAYS: readonly number[] = [30, 14, 7, 1]

/**
 * The thresholds (days) for which `certificate.expiring` fires now: at most one, the innermost one the
 * certificate is inside (notAfter at most that many days away, as cms/validity.ts counts "within").
 *
 * Only the innermost, and never one outside a threshold that already fired: a certificate stored with
 * 5 days left fires 7 once, not 30, 14 and 7 at the same moment (three messages in a chat, two of them
 * stale), and a scheduler that was down across 30 and 14 fires 14 only. A threshold that fired implies every
 * wider one, so `alreadyFired` need only hold what was fired, and each threshold fires at most once. It fires
 * at once for a certificate stored already inside it: the caller asks on store as on each scheduler round.
 *
 * Nothing fires once notAfter has passed: `certificate.expired-in-use` says what matters then.
 */
export function thresholdsCrossed(
  notAfter: Date,
  now: Date,
  alreadyFired: Iterable<number>,
  thresholds: readonly number[] = DEFAULT_EXPIRY_THRESHOLDS_DAYS,
): number[] {
  for (const days of thresholds)
    if (!(Number.isFinite(days) && days > 0))
      throw new RangeError(`an expiry threshold is a positive number of days, not ${days}`)
  const left = notAfter.getTime() - now.getTime()
  if (left <= 0) return []
  const inside = thresholds.filter((days) => left <= days * DAY_MS)
  if (inside.length === 0) return []
  const innermost = Math.min(...inside)
  for (const fired of alreadyFired) if (fired <= innermost) return []
  return [innermost]
}
