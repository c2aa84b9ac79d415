import * as asn1js from 'asn1js'
import { Certificate } from 'pkijs'
import { createHash, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto'
import { Errors } from '../errors.js'
import { EC_CURVES } from './algorithms.js'
import { OID } from './oids.js'
import { tlv, Tag } from './der.js'
import { daysUntilExpiry } from './validity.js'

export type PublicKeyInfo = { algorithm: 'RSA'; bits: number } | { algorithm: 'EC'; curve: 'P-256' | 'P-384' | 'P-521' }

/** A receiver certificate, parsed once: what the API shows and what RecipientInfos are built from. */
export interface ReceiverCertificate {
  der: Buffer
  subject: string
  issuer: string
  serialNumber: string
  notBefore: Date
  notAfter: Date
  sha256Fingerprint: string
  publicKey: PublicKeyInfo
  keyObject: KeyObject
  /** Uncompressed EC point (X9.62) for key agreement; absent for RSA. */
  ecPoint?: Buffer
  subjectKeyIdentifier?: Buffer
  keyUsage?: string[]
  /** DER IssuerAndSerialNumber (RFC 5652 10.2.4), copied from the certificate's own bytes. */
  issuerAndSerialNumber: Buffer
}

const KEY_USAGE_BITS = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
] as const

/**
 * Parses one DER certificate. Any structural problem is a 400 CMS_CERTIFICATE_MALFORMED, never a 500,
 * and is found before the key is judged (422): that includes what the libraries decode lazily, on first
 * access (the extensions we read, OpenSSL's names), so each such read sits in a guard of its own.
 */
export function parseReceiverCertificate(der: Buffer): ReceiverCertificate {
  let asn1: ReturnType<typeof asn1js.fromBER>
  try {
    asn1 = asn1js.fromBER(der)
  } catch {
    // asn1js mostly reports bad input with offset -1, but throws on some (e.g. a garbled time): found by fuzzing.
    throw new Errors.CERTIFICATE_MALFORMED('not valid DER')
  }
  if (asn1.offset === -1) throw new Errors.CERTIFICATE_MALFORMED('not valid DER')
  if (asn1.offset !== der.length) throw new Errors.CERTIFICATE_MALFORMED('trailing bytes after the certificate')
  let cert: Certificate
  let x509: X509Certificate
  try {
    cert = new Certificate({ schema: asn1.result })
    // OpenSSL's parser as a second opinion: what it cannot read, receivers cannot either.
    x509 = new X509Certificate(der)
  } catch {
    throw new Errors.CERTIFICATE_MALFORMED('not an X.509 certificate')
  }

  // Node asks OpenSSL for these on first access, outside the parse above.
  const subject = readField('subject', () => x509.subject.split('\n').join(', '))
  const issuer = readField('issuer', () => x509.issuer.split('\n').join(', '))
  const serialNumber = readField('serial number', () => x509.serialNumber.toLowerCase())
  const issuerAndSerialNumber = readField('issuer and serial number', () =>
    tlv(Tag.SEQUENCE, Buffer.from(cert.issuer.valueBeforeDecode), Buffer.from(cert.serialNumber.toBER())),
  )
  const notBefore = cert.notBefore.value
  const notAfter = cert.notAfter.value
  if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) {
    throw new Errors.CERTIFICATE_MALFORMED('the validity period is not a pair of times')
  }
  const extensions = readExtensions(cert)
  const ski = extensions.value('subjectKeyIdentifier', asn1js.OctetString)
  const ku = extensions.value('keyUsage', asn1js.BitString)

  let keyObject: KeyObject
  try {
    keyObject = createPublicKey({
      key: Buffer.from(cert.subjectPublicKeyInfo.toSchema().toBER()),
      format: 'der',
      type: 'spki',
    })
  } catch {
    throw new Errors.KEY_ALGORITHM_UNSUPPORTED(
      'The certificate public key cannot be read; use an RSA or EC (P-256, P-384, P-521) key.',
    )
  }
  const publicKey = describePublicKey(keyObject)

  return {
    der,
    subject,
    issuer,
    serialNumber,
    notBefore,
    notAfter,
    sha256Fingerprint: createHash('sha256').update(der).digest('hex'),
    publicKey,
    keyObject,
    ecPoint:
      publicKey.algorithm === 'EC'
        ? Buffer.from(cert.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView)
        : undefined,
    subjectKeyIdentifier: ski && Buffer.from(ski.valueBlock.valueHexView),
    keyUsage: ku && keyUsageNames(ku),
    issuerAndSerialNumber,
  }
}

/** A field read on first access, outside the parse: its failure is the certificate's, a 400. */
function readField<T>(field: string, read: () => T): T {
  try {
    return read()
  } catch {
    throw new Errors.CERTIFICATE_MALFORMED(`the ${field} cannot be read`)
  }
}

/** The extensions we read, with the one type RFC 5280 gives each (4.2.1.2, 4.2.1.3). */
const READ_EXTENSIONS = {
  subjectKeyIdentifier: { oid: OID.subjectKeyIdentifier, tag: Tag.OCTET_STRING, typeName: 'OCTET STRING' },
  keyUsage: { oid: OID.keyUsage, tag: Tag.BIT_STRING, typeName: 'BIT STRING' },
} as const

/**
 * The certificate's extensions, for reading the values of those we use. PKI.js parses an extension's
 * value only when asked (`parsedValue`), and then reports garbage as null, as a value of another type,
 * or by throwing: a garbled keyUsage must neither pass as "no keyUsage" (that would skip the policy
 * check) nor be a 500. RFC 5280 4.2 allows one instance of each extension; with two, which one counts
 * would depend on the library that reads it, so they are refused.
 */
function readExtensions(cert: Certificate) {
  const list = cert.extensions ?? []
  const seen = new Set<string>()
  for (const e of list) {
    if (seen.has(e.extnID)) throw new Errors.CERTIFICATE_MALFORMED(`the extension ${e.extnID} appears twice`)
    seen.add(e.extnID)
  }
  return {
    /** The extension's value if present: exactly one DER value of its type, primitive, with nothing after it. */
    value<T extends asn1js.BaseBlock>(
      name: keyof typeof READ_EXTENSIONS,
      type: abstract new (...args: never[]) => T,
    ): T | undefined {
      const { oid, tag, typeName } = READ_EXTENSIONS[name]
      const extension = list.find((e) => e.extnID === oid)
      if (!extension) return undefined
      const bytes = extension.extnValue.valueBlock.valueHexView
      let parsed: ReturnType<typeof asn1js.fromBER> | undefined
      try {
        parsed = asn1js.fromBER(bytes)
      } catch {
        parsed = undefined // asn1js throws on some garbage (a garbled time) instead of reporting it
      }
      // The first byte, not only asn1js's class: asn1js also reads a long-form or constructed tag as the type.
      if (bytes[0] !== tag || parsed?.offset !== bytes.length || !(parsed.result instanceof type)) {
        throw new Errors.CERTIFICATE_MALFORMED(`the ${name} extension (${oid}) is not one DER ${typeName}`)
      }
      return parsed.result
    },
  }
}

function describePublicKey(key: KeyObject): PublicKeyInfo {
  const details = key.asymmetricKeyDetails ?? {}
  if (key.asymmetricKeyType === 'rsa') return { algorithm: 'RSA', bits: details.modulusLength ?? 0 }
  if (key.asymmetricKeyType === 'ec') {
    const curve = EC_CURVES[details.namedCurve ?? '']
    if (!curve)
      throw new Errors.KEY_ALGORITHM_UNSUPPORTED(
        `EC curve ${details.namedCurve} is not supported; use P-256, P-384 or P-521.`,
      )
    return { algorithm: 'EC', curve: curve.name }
  }
  throw new Errors.KEY_ALGORITHM_UNSUPPORTED(
    `${(key.asymmetricKeyType ?? 'this').toUpperCase()} keys cannot receive CMS encrypted data here; ` +
      'use an RSA (2048 bits or more) or EC (P-256, P-384, P-521) key.',
  )
}

function keyUsageNames(bits: asn1js.BitString): string[] {
  const bytes = bits.valueBlock.valueHexView
  return KEY_USAGE_BITS.filter((_, i) => ((bytes[i >> 3] ?? 0) & (0x80 >> (i & 7))) !== 0)
}

export const MIN_RSA_BITS = 2048

/** A rule of the receiver policy that a certificate met, in words a person reads. */
export interface PassedCheck {
  name: 'key' | 'keyUsage' | 'validity'
  detail: string
}

/**
 * The rules a receiver certificate must meet before anything is stored, in order; each throws its
 * catalogue error or says how it was met. Also returns what is worth flagging but not refusing (a
 * certificate not valid yet is normal while a renewal is prepared).
 */
export function checkReceiverPolicy(
  cert: ReceiverCertificate,
  now = new Date(),
): { notYetValid: boolean; passed: PassedCheck[] } {
  const passed: PassedCheck[] = []
  if (cert.publicKey.algorithm === 'RSA') {
    if (cert.publicKey.bits < MIN_RSA_BITS) {
      throw new Errors.KEY_TOO_WEAK(
        `The RSA key has ${cert.publicKey.bits} bits; at least ${MIN_RSA_BITS} are required.`,
      )
    }
    passed.push({ name: 'key', detail: `RSA ${cert.publicKey.bits} bits (at least ${MIN_RSA_BITS})` })
  } else {
    passed.push({ name: 'key', detail: `EC ${cert.publicKey.curve} (a supported curve)` })
  }
  const needed = cert.publicKey.algorithm === 'RSA' ? 'keyEncipherment' : 'keyAgreement'
  if (cert.keyUsage) {
    if (!cert.keyUsage.includes(needed)) {
      throw new Errors.KEY_USAGE_FORBIDS_ENCRYPTION(
        `The certificate's keyUsage (${cert.keyUsage.join(', ') || 'empty'}) does not allow ${needed}, ` +
          `which ${cert.publicKey.algorithm} recipients need.`,
      )
    }
    passed.push({ name: 'keyUsage', detail: `keyUsage allows ${needed}` })
  } else {
    passed.push({ name: 'keyUsage', detail: 'no keyUsage extension: any use allowed' })
  }
  if (cert.notAfter.getTime() <= now.getTime()) {
    throw new Errors.CERTIFICATE_EXPIRED(`The certificate expired on ${cert.notAfter.toISOString()}.`)
  }
  const notYetValid = cert.notBefore.getTime() > now.getTime()
  const days = daysUntilExpiry(cert, now.getTime())
  passed.push({
    name: 'validity',
    detail:
      (notYetValid ? `not valid before ${cert.notBefore.toISOString()}, ` : '') +
      `valid until ${cert.notAfter.toISOString()}, ${days} day${days === 1 ? '' : 's'}`,
  })
  return { notYetValid, passed }
}

const parsedByFingerprint = new Map<string, ReceiverCertificate>()
const MAX_PARSED = 10_000

/**
 * Parses a certificate that was stored after passing the upload checks. Stored certificates are
 * immutable by fingerprint, so each is parsed (and its key imported) once per process.
 */
export function parseStoredCertificate(der: Buffer, sha256Fingerprint: string): ReceiverCertificate {
  let cert = parsedByFingerprint.get(sha256Fingerprint)
  if (!cert) {
    cert = parseReceiverCertificate(Buffer.from(der))
    if (parsedByFingerprint.size >= MAX_PARSED) parsedByFingerprint.delete(parsedByFingerprint.keys().next().value!)
    parsedByFingerprint.set(sha256Fingerprint, cert)
  }
  return cert
}
