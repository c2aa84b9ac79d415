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

/**
 * What is worth telling a person about a certificate that passed the upload checks: not valid yet
 * (accepted: normal while a renewal is prepared), or ending within the warning window.
 */
export function certificateWarnings(
  cert: Pick<ReceiverCertificate, 'notBefore' | 'notAfter'>,
  warningDays: number,
  now: number = Date.now(),
): string[] {
  const warnings: string[] = []
  if (cert.notBefore.getTime() > now)
    warnings.push(`Not valid yet: its validity starts ${cert.notBefore.toISOString()}; it is accepted all the same.`)
  if (expiresWithin(cert, warningDays, now)) {
    warnings.push(
      `Expires within EXPIRY_WARNING_DAYS (${warningDays}): on ${cert.notAfter.toISOString()}, in ` +
        `${daysUntilExpiry(cert, now)} days. Plan the next renewal.`,
    )
  }
  return warnings
}
