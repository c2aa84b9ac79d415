import t from 'tap'
import { nextAttempt, RETRY_BASE_MS, RETRY_CAP_MS, RETRY_FOR_MS } from '../../src/webhooks/retry-schedule.js'

const HOUR = 3_600_000
const first = new Date('2026-03-01T12:00:00Z')

/** Every attempt fails at the moment it is made: the whole schedule up to 'failed', for one way of drawing. */
function schedule(draw: (attempt: number) => number) {
  const times = [first]
  for (let attempt = 1; ; attempt++) {
    const next = nextAttempt(attempt, first, times[times.length - 1]!, draw(attempt))
    if (next === 'failed') return times
    times.push(next)
    if (attempt > 10_000) throw new Error('the schedule never gives up')
  }
}
const waits = (times: Date[]) => times.slice(1).map((time, i) => time.getTime() - times[i]!.getTime())

t.test('the longest waits (random 0.999): doubling from the base to the cap', async (t) => {
  const times = schedule(() => 0.999)
  const expected = [60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000, 3_600_000, 3_600_000]
  const tolerance = (ceiling: number) => 0.001 * (ceiling - RETRY_BASE_MS) + 1
  waits(times)
    .slice(0, expected.length)
    .forEach((wait, i) => t.ok(Math.abs(wait - expected[i]!) <= tolerance(expected[i]!), `wait ${i + 1}: ${wait} ms`))
  t.ok(
    waits(times).every((wait) => wait < RETRY_CAP_MS),
    'never above the cap',
  )
  t.equal(times.length, 30, 'attempts in all')
})

t.test('the shortest waits (random 0): the base, every time', async (t) => {
  const times = schedule(() => 0)
  t.ok(
    waits(times).every((wait) => wait === RETRY_BASE_MS),
    'every wait is the base',
  )
  t.equal(times.length, RETRY_FOR_MS / RETRY_BASE_MS + 1, 'attempts in all')
})

t.test('the whole schedule spans at least 24 h and less than 30 h, whatever the draws', async (t) => {
  const draws: Array<[string, (attempt: number) => number]> = [
    ['every draw 0', () => 0],
    ['every draw 0.5', () => 0.5],
    ['every draw 0.999', () => 0.999],
    ['draws alternating', (attempt) => (attempt % 2 === 0 ? 0 : 0.999)],
    ['seeded pseudo-random draws', lcg(42)],
    ['other seeded draws', lcg(7)],
  ]
  for (const [name, draw] of draws) {
    const times = schedule(draw)
    const span = times[times.length - 1]!.getTime() - first.getTime()
    t.ok(
      span >= RETRY_FOR_MS && span < 30 * HOUR,
      `${name}: last attempt ${(span / HOUR).toFixed(2)} h after the first`,
    )
    t.ok(span < RETRY_FOR_MS + RETRY_CAP_MS, `${name}: at most one wait past the day`)
    t.ok(
      waits(times).every((wait) => wait >= RETRY_BASE_MS && wait <= RETRY_CAP_MS),
      `${name}: no wait negative, none below the base or above the cap`,
    )
  }
})

t.test('for any one draw, a later attempt waits no less than an earlier one', async (t) => {
  for (const random of [0, 0.25, 0.5, 0.999]) {
    const at = (attempt: number) => nextAttempt(attempt, first, first, random) as Date
    for (let attempt = 1; attempt < 40; attempt++)
      if (at(attempt + 1).getTime() < at(attempt).getTime()) t.fail(`random ${random}: attempt ${attempt + 1} earlier`)
    t.pass(`random ${random}: non-decreasing over attempts 1 to 40`)
  }
  const huge = nextAttempt(1_000_000, first, first, 0.999)
  t.ok(huge instanceof Date && huge.getTime() - first.getTime() < RETRY_CAP_MS, 'attempt 1,000,000: still the cap')
})

t.test('gives up exactly when the day is over, not before', async (t) => {
  const at = (ms: number) => new Date(first.getTime() + ms)
  t.type(nextAttempt(50, first, at(RETRY_FOR_MS - 1), 0.5), Date, 'a millisecond before: one more')
  t.equal(nextAttempt(50, first, at(RETRY_FOR_MS), 0.5), 'failed', 'at 24 h: failed')
  t.equal(nextAttempt(2, first, at(RETRY_FOR_MS + HOUR), 0.5), 'failed', 'after it, whatever the attempt number')
})

t.test('refuses arguments outside the contract', async (t) => {
  const cases: Array<[string, number, number]> = [
    ['throws: attempt 0', 0, 0.5],
    ['throws: fractional attempt', 1.5, 0.5],
    ['throws: random 1', 1, 1],
    ['throws: negative random', 1, -0.1],
    ['throws: random NaN', 1, NaN],
  ]
  for (const [name, attempt, random] of cases)
    t.throws(() => nextAttempt(attempt, first, first, random), RangeError, name)
})

/** A small seeded generator: reproducible "random" draws in [0, 1). */
function lcg(seed: number) {
  let state = seed
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31
    return state / 2 ** 31
  }
}
