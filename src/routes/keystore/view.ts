import type { ReceiverCertificate } from '../../cms/certificate.js'
import { daysUntilExpiry, expiresWithin } from '../../cms/validity.js'
import type { KeystoreEntry, KeystoreEntryDetails } from '../../keystore/service.js'

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
    daysUntilExpiry: daysUntilExpiry(c, now),
    expiringSoon: expiresWithin(c, expiryWarningDays, now),
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
