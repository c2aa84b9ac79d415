import t from 'tap'
import { DAY_MS, daysUntilExpiry, expiresWithin } from '../../src/cms/validity.js'

const now = Date.parse('2026-03-01T12:00:00Z')
const endingIn = (ms: number) => ({ notAfter: new Date(now + ms) })

t.test('daysUntilExpiry counts whole days left, rounded down', async (t) => {
  const cases: Array<[string, number, number]> = [
    ['exactly 30 days left', 30 * DAY_MS, 30],
    ['one millisecond short of 30 days', 30 * DAY_MS - 1, 29],
    ['30 and a half days', 30.5 * DAY_MS, 30],
    ['ends this very moment', 0, 0],
    ['last hours of its last day', 0.25 * DAY_MS, 0],
    ['expired a millisecond ago', -1, -1],
    ['expired exactly a day ago', -DAY_MS, -1],
    ['expired a day and a half ago', -1.5 * DAY_MS, -2],
  ]
  for (const [name, ms, days] of cases) t.equal(daysUntilExpiry(endingIn(ms), now), days, name)
})

t.test('expiresWithin includes exactly N days and everything already expired', async (t) => {
  const cases: Array<[string, number, number, boolean]> = [
    ['exactly 30 days left, within 30', 30 * DAY_MS, 30, true],
    ['30 days and a millisecond, within 30', 30 * DAY_MS + 1, 30, false],
    ['29.9 days left, within 30', 29.9 * DAY_MS, 30, true],
    ['expired yesterday, within 30', -DAY_MS, 30, true],
    ['ends now, within 0', 0, 0, true],
    ['ends in an hour, within 0', DAY_MS / 24, 0, false],
    ['half a day left, within 0.5', DAY_MS / 2, 0.5, true],
  ]
  for (const [name, ms, days, expected] of cases) t.equal(expiresWithin(endingIn(ms), days, now), expected, name)
})

t.test('both default to the current time', async (t) => {
  const cert = { notAfter: new Date(Date.now() + 10 * DAY_MS + 60_000) }
  t.equal(daysUntilExpiry(cert), 10)
  t.equal(expiresWithin(cert, 10), false)
  t.equal(expiresWithin(cert, 11), true)
})
