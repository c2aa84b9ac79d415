import { toPem } from '../../cms/pem.js'
import type { KeyPairDetails, KeyPairEntry } from '../../keystore/key-pairs.js'

/** The public part of a key pair as the API shows it; there is no private key to leave out here. */
export function keyPairView(e: KeyPairEntry) {
  const c = e.certificate
  return {
    alias: e.alias,
    version: e.version,
    certificate: {
      subject: c.subject,
      issuer: c.issuer,
      serialNumber: c.serialNumber,
      notBefore: c.notBefore.toISOString(),
      notAfter: c.notAfter.toISOString(),
      sha256Fingerprint: c.sha256Fingerprint,
      pem: toPem(c.der),
    },
    chain: e.chain.map((link) => ({
      subject: link.subject,
      issuer: link.issuer,
      notAfter: link.notAfter.toISOString(),
      sha256Fingerprint: link.sha256Fingerprint,
      pem: toPem(link.der),
    })),
    keyType: e.keyType,
    createdAt: e.createdAt,
    updatedAt: e.updatedAt,
  }
}

export function keyPairDetailsView(e: KeyPairDetails) {
  return {
    ...keyPairView(e),
    usedBy: e.usedBy,
    history: e.history.map((h) => ({
      version: h.version,
      subject: h.certificate.subject,
      issuer: h.certificate.issuer,
      serialNumber: h.certificate.serialNumber,
      notBefore: h.certificate.notBefore.toISOString(),
      notAfter: h.certificate.notAfter.toISOString(),
      sha256Fingerprint: h.certificate.sha256Fingerprint,
      retiredAt: h.retiredAt,
      reason: h.reason,
    })),
  }
}

/** What receivers are handed: the signer certificate, and with `chain` its issuers after it. */
export function keyPairPem(e: KeyPairEntry, chain: boolean): string {
  return [e.certificate.der, ...(chain ? e.chain.map((link) => link.der) : [])].map(toPem).join('')
}
