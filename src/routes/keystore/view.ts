import type { ReceiverCertificate } from '../../cms/certificate.js'
import { DAY_MS, type KeystoreEntry, type KeystoreEntryDetails } from '../../keystore/service.js'

function certificateView(c: ReceiverCertificate) {
  return {
    sha256Fingerprint: c.sha256Fingerprint,
    subject: c.subject,
    issuer: c.issuer,
    serialNumber: c.serialNumber,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
  }
}

export function entryView(e: KeystoreEntry, expiryWarningDays: number, now = Date.now()) {
  const c = e.certificate
  return {
    alias: e.alias,
    ...certificateView(c),
    publicKey: c.publicKey,
    subjectKeyIdentifier: c.subjectKeyIdentifier?.toString('hex'),
    keyUsage: c.keyUsage,
    notYetValid: c.notBefore.getTime() > now,
    daysUntilExpiry: Math.floor((c.notAfter.getTime() - now) / DAY_MS),
    expiringSoon: c.notAfter.getTime() - now <= expiryWarningDays * DAY_MS,
    version: e.version,
    createdAt: e.createdAt,
    updatedAt: e.updatedAt,
  }
}

export function entryDetailsView(e: KeystoreEntryDetails, expiryWarningDays: number) {
  return {
    ...entryView(e, expiryWarningDays),
    usedBy: e.usedBy,
    history: e.history.map((h) => ({
      version: h.version,
      ...certificateView(h.certificate),
      retiredAt: h.retiredAt,
      reason: h.reason,
    })),
  }
}

export function toPem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? []
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`
}
