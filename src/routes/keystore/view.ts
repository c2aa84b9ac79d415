import type { ReceiverCertificate } from '../../cms/certificate.js'
import { certificateWarnings, daysUntilExpiry, expiresWithin } from '../../cms/validity.js'
import type { KeystoreEntry, KeystoreEntryDetails, UploadCheckResult } from '../../keystore/service.js'

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

function certificateDetailsView(c: ReceiverCertificate, expiryWarningDays: number, now: number) {
  return {
    ...certificateView(c),
    publicKey: c.publicKey,
    subjectKeyIdentifier: c.subjectKeyIdentifier?.toString('hex'),
    keyUsage: c.keyUsage,
    notYetValid: c.notBefore.getTime() > now,
    daysUntilExpiry: daysUntilExpiry(c, now),
    expiringSoon: expiresWithin(c, expiryWarningDays, now),
  }
}

export function entryView(e: KeystoreEntry, expiryWarningDays: number, now = Date.now()) {
  return {
    alias: e.alias,
    ...certificateDetailsView(e.certificate, expiryWarningDays, now),
    version: e.version,
    createdAt: e.createdAt,
    updatedAt: e.updatedAt,
  }
}

export function uploadCheckView(r: UploadCheckResult, expiryWarningDays: number, now = Date.now()) {
  return {
    alias: r.alias,
    action: r.action,
    currentVersion: r.currentVersion,
    certificate: certificateDetailsView(r.certificate, expiryWarningDays, now),
    usedBy: r.usedBy,
    checks: r.checks.map((c) => ({ name: c.name, passed: true as const, detail: c.detail })),
    warnings: certificateWarnings(r.certificate, expiryWarningDays, now),
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
