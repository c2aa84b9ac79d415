import t from 'tap'
import {
  DEFAULT_EXPIRY_THRESHOLDS_DAYS,
  EVENT_TYPES,
  isEventType,
  matchesSubscription,
  thresholdsCrossed,
} from '../../src/webhooks/event-types.js'

const DAY = 86_400_000
const now = new Date('2026-03-01T12:00:00Z')
const endingIn = (ms: number) => new Date(now.getTime() + ms)

t.test('the catalogue is exactly the issue list and the key pairs, each with one sentence', async (t) => {
  t.same(Object.keys(EVENT_TYPES).sort(), [
    'certificate.expired-in-use',
    'certificate.expiring',
    'encryptor.changed',
    'encryptor.paused',
    'encryptor.resumed',
    'key-pair.changed',
    'key-pair.expired-in-use',
    'key-pair.expiring',
    'keystore.changed',
    'renewal.aborted',
    'renewal.completed',
    'renewal.started',
    'renewal.step-completed',
    'renewal.waiting',
  ])
  for (const [type, description] of Object.entries(EVENT_TYPES)) {
    t.match(type, /^[a-z][a-z-]*\.[a-z][a-z-]*$/, `${type}: dotted, lower case`)
    t.match(description, /^[A-Z][^.]*(\.[^.\s][^.]*)*\.$/, `${type}: one sentence`)
  }
  t.ok(isEventType('renewal.started'))
  t.notOk(isEventType('renewal'), 'a prefix is no type')
  t.notOk(isEventType('toString'), 'nor an Object property')
  t.notOk(isEventType('*'), 'nor the wildcard')
})

t.test('matchesSubscription', async (t) => {
  const cases: Array<[string, keyof typeof EVENT_TYPES, string[], boolean]> = [
    ['receives: subscribed to that type', 'renewal.started', ['renewal.started'], true],
    ['receives: among several', 'keystore.changed', ['renewal.completed', 'keystore.changed'], true],
    ['receives: the wildcard', 'certificate.expiring', ['*'], true],
    ['receives: the wildcard beside types', 'encryptor.paused', ['renewal.started', '*'], true],
    ['ignores: another type', 'renewal.aborted', ['renewal.started'], false],
    ['ignores: a prefix is no wildcard', 'renewal.started', ['renewal.*'], false],
    ['ignores: a near name', 'renewal.step-completed', ['renewal.completed'], false],
    ['ignores: nothing subscribed', 'renewal.started', [], false],
  ]
  for (const [name, type, subscribed, expected] of cases) t.equal(matchesSubscription(type, subscribed), expected, name)
})

t.test('thresholdsCrossed: which threshold fires now', async (t) => {
  const cases: Array<[string, number, number[], number[]]> = [
    ['fires nothing: 31 days left', 31 * DAY, [], []],
    ['fires nothing: 30 days and a millisecond', 30 * DAY + 1, [], []],
    ['fires 30: exactly 30 days left', 30 * DAY, [], [30]],
    ['fires 30: 20 days left', 20 * DAY, [], [30]],
    ['fires nothing: 20 days left, 30 already fired', 20 * DAY, [30], []],
    ['fires 14: 14 days left, 30 fired', 14 * DAY, [30], [14]],
    ['fires 7 only: stored with 5 days left', 5 * DAY, [], [7]],
    ['fires 14 only: scheduler down across 30 and 14', 10 * DAY, [], [14]],
    ['fires nothing: 7 fired, wider ones implied', 5 * DAY, [7], []],
    ['fires 1: last day, 30, 14 and 7 fired', 12 * 3_600_000, [30, 14, 7], [1]],
    ['fires nothing: last day, 1 fired', 3_600_000, [30, 14, 7, 1], []],
    ['fires 1: a minute left, nothing fired', 60_000, [], [1]],
    ['fires nothing: ends now', 0, [], []],
    ['fires nothing: expired (expired-in-use takes over)', -DAY, [], []],
  ]
  for (const [name, left, fired, expected] of cases)
    t.same(thresholdsCrossed(endingIn(left), now, fired, DEFAULT_EXPIRY_THRESHOLDS_DAYS), expected, name)
})

t.test('thresholdsCrossed: configured thresholds, in any order', async (t) => {
  t.same(thresholdsCrossed(endingIn(50 * DAY), now, [], [7, 60, 21]), [60], 'fires 60 of 7, 60, 21')
  t.same(thresholdsCrossed(endingIn(3 * DAY), now, [], [7, 60, 21]), [7], 'fires 7 of 7, 60, 21')
  t.same(thresholdsCrossed(endingIn(2 * DAY), now, [7], [7, 3]), [3], 'fires a threshold added after a wider one fired')
  t.same(thresholdsCrossed(endingIn(2 * DAY), now, [1], [7, 3]), [], 'fires nothing below a tighter one that fired')
  t.same(thresholdsCrossed(endingIn(2 * DAY), now, new Set([30]), [30, 14, 7, 3]), [3], 'takes a Set')
  t.same(thresholdsCrossed(endingIn(DAY / 4), now, [], [0.5]), [0.5], 'fires half a day')
  t.same(thresholdsCrossed(endingIn(DAY), now, [], []), [], 'fires nothing without thresholds')
  for (const bad of [0, -1, NaN, Infinity])
    t.throws(() => thresholdsCrossed(endingIn(DAY), now, [], [30, bad]), RangeError, `throws: threshold ${bad}`)
})

t.test('a certificate walked day by day to expiry fires each threshold exactly once', async (t) => {
  const notAfter = new Date(now.getTime() + 45 * DAY + 5 * 3_600_000)
  const fired: number[] = []
  const firedOn: Array<[number, number]> = []
  for (let hour = 0; hour <= 46 * 24; hour++) {
    const at = new Date(now.getTime() + hour * 3_600_000)
    for (const days of thresholdsCrossed(notAfter, at, fired)) {
      fired.push(days)
      firedOn.push([days, (notAfter.getTime() - at.getTime()) / DAY])
    }
  }
  t.same(fired, [30, 14, 7, 1], 'in order, once each')
  for (const [days, left] of firedOn) t.ok(left <= days && left > days - 1 / 24, `${days} fired with ${left} days left`)
})

t.test("the console's list of event types is the service's", async (t) => {
  const { EVENT_TYPES: consoleTypes } = await import('../../src/console/event-types.js')
  t.strictSame(consoleTypes, Object.keys(EVENT_TYPES))
})
