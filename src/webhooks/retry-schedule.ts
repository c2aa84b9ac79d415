/** Retries, per https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md */

/** No retry comes sooner, and the first waits 30 to 60 s: a receiver that blinked (a deploy, a restart) is back. */
export const RETRY_BASE_MS = 30_000
/** No wait is longer: an hour at most between attempts, so a receiver that recovers hears within the hour. */
export const RETRY_CAP_MS = 3_600_000
/** Retries continue at least this long after the first attempt (the issue: at least 24 h), then the delivery fails. */
export const RETRY_FOR_MS = 24 * 3_600_000

/**
 * When to make attempt `attempt + 1`, after attempt number `attempt` (1 for the first) failed at `now`;
 * or 'failed' once `now` is RETRY_FOR_MS past the first attempt. So the last attempt falls between 24 h
 * and 24 h + RETRY_CAP_MS after the first, and a delivery gets one more try after the day, not one fewer.
 *
 * The wait is drawn uniformly between RETRY_BASE_MS and min(RETRY_CAP_MS, RETRY_BASE_MS * 2^attempt)
 * ("full jitter" above a floor): when a receiver comes back after an outage, the deliveries that piled up
 * arrive spread over the window instead of all at once, and the floor keeps an unlucky draw (random = 0)
 * from retrying at once, over and over. About 54 attempts in the day with every draw 0.5, 30 with every draw
 * near 1, 2,881 (every 30 s) in the freak case of every draw 0.
 *
 * `random` is in [0, 1), Math.random() unless a test pins it.
 */
export function nextAttempt(
  attempt: number,
  firstAttemptAt: Date,
  now: Date,
  random = Math.random(),
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
): Date | 'failed' {
  if (!Number.isInteger(attempt) || attempt < 1)
    throw new RangeError(`attempt is a whole number from 1, not ${attempt}`)
  if (!(random >= 0 && random < 1)) throw new RangeError(`random is in [0, 1), not ${random}`)
  if (now.getTime() - firstAttemptAt.getTime() >= policy.forMs) return 'failed'
  // 2 ** large is Infinity, and min() turns it into the cap: no overflow to guard against.
  const ceiling = Math.max(policy.baseMs, Math.min(policy.capMs, policy.baseMs * 2 ** attempt))
  return new Date(now.getTime() + policy.baseMs + random * (ceiling - policy.baseMs))
}

/**
 * The schedule's three numbers. The defaults are the ones above; an operator may shorten the waits
 * (WEBHOOK_RETRY_BASE_MS, WEBHOOK_RETRY_CAP_MS: the tests' receiver comes back in seconds), but never the
 * day (WEBHOOK_RETRY_FOR_HOURS is at least 24).
 */
export interface RetryPolicy {
  baseMs: number
  capMs: number
  forMs: number
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { baseMs: RETRY_BASE_MS, capMs: RETRY_CAP_MS, forMs: RETRY_FOR_MS }
