import { Errors } from '../errors.js'

/** RFC 3339 date-time, as the query schema's `date-time` format accepts it (separator T, t or space). */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,20}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/

/** The range toISOString() writes with four year digits, so that the text still sorts in time order. */
const MIN = new Date(0).setUTCFullYear(0, 0, 1)
const MAX = Date.parse('9999-12-31T23:59:59.999Z')

/**
 * An audit filter's instant as a record's `at` is written: `toISOString()`, UTC with milliseconds,
 * which sorts as text in time order. Records lie on the millisecond grid, so the instant is rounded
 * up to it: for any record time r, r >= t exactly when r >= ceil(t), and r < t exactly when
 * r < ceil(t). An offset is applied; an instant past year 9999 or before year 0 after it is clamped.
 * A date that does not exist (February 30th, a leap second) is a 400.
 */
export function auditInstant(text: string, name: string): string {
  const m = RFC3339.exec(text)
  const invalid = () =>
    new Errors.VALIDATION(`querystring/${name} must be an RFC 3339 date-time, e.g. 2026-11-30T10:00:00Z`)
  if (!m) throw invalid()
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ]
  const fraction = m[7] ?? ''
  const date = new Date(0)
  date.setUTCFullYear(year, month - 1, day)
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) throw invalid()
  if (hour > 23 || minute > 59 || second > 59) throw invalid()
  const offsetMinutes = m[8] ? (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10])) : 0
  if (m[8] && (Number(m[9]) > 23 || Number(m[10]) > 59)) throw invalid()
  const millis = Number(fraction.slice(0, 3).padEnd(3, '0'))
  const roundUp = /[1-9]/.test(fraction.slice(3)) ? 1 : 0
  date.setUTCHours(hour, minute, second, millis)
  const instant = date.getTime() - offsetMinutes * 60_000 + roundUp
  return new Date(Math.min(Math.max(instant, MIN), MAX)).toISOString()
}
