import type { ReceiverCertificate } from './certificate.js'

export const DAY_MS = 86_400_000

type Expiring = Pick<ReceiverCertificate, 'notAfter'>

/**
 * Whole days left until the certificate's notAfter, rounded down: 0 on its last day, negative once
 * it has expired (-1 on the first day after). The API, the metrics gauge and the expiry log all show this.
 */
export function daysUntilExpiry(cert: Expiring, now: number = Date.now()): number {
  return Math.floor((cert.notAfter.getTime() - now) / DAY_MS)
}

/** True when the certificate ends within `days` days from `now` (exactly `days` days included, expired ones too). */
export function expiresWithin(cert: Expiring, days: number, now: number = Date.now()): boolean {
  return cert.notAfter.getTime() - now <= days * DAY_MS
}
