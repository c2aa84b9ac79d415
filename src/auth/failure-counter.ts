/**
 * Failed authentications per client address, in fixed windows. An address past `max` failures gets
 * 429 instead of 401 for every further failure until its window ends, so a guesser is told to stop
 * and cannot fill the logs. Counting only failures, and letting a right token through even from a
 * blocked address, means a client whose token is right is never slowed down by this.
 *
 * Bounded: at most `capacity` addresses are remembered; the one idle longest makes room (Map keeps
 * insertion order, and a record is re-inserted on each failure).
 */
export class FailureCounter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>()

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly capacity = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until `key` may try again (0: it may now). */
  retryAfter(key: string): number {
    const window = this.current(key)
    if (!window || window.count < this.max) return 0
    return Math.max(1, Math.ceil((window.resetAt - this.now()) / 1000))
  }

  /** Counts one failure of `key`. */
  record(key: string): void {
    const window = this.current(key) ?? { count: 0, resetAt: this.now() + this.windowMs }
    window.count++
    this.windows.delete(key)
    this.windows.set(key, window)
    if (this.windows.size > this.capacity) this.windows.delete(this.windows.keys().next().value!)
  }

  private current(key: string) {
    const window = this.windows.get(key)
    if (window && window.resetAt <= this.now()) {
      this.windows.delete(key)
      return undefined
    }
    return window
  }
}
