import type { ReceiverCertificate } from '../cms/certificate.js'

/**
 * How an event names a certificate (event-schemas.ts `certificate`): enough to recognise it, never the
 * certificate itself, which is bulky and can be fetched from the keystore.
 */
export function certificateFields(certificate: ReceiverCertificate) {
  return {
    notAfter: certificate.notAfter.toISOString(),
    subject: certificate.subject,
    issuer: certificate.issuer,
    serialNumber: certificate.serialNumber,
    sha256Fingerprint: certificate.sha256Fingerprint,
  }
}
