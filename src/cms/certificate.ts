import * as asn1js from 'asn1js'
import { Certificate } from 'pkijs'
import { createHash, createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto'
import { Errors } from '../errors.js'
import { EC_CURVES } from './algorithms.js'
import { OID } from './oids.js'
import { tlv, Tag } from './der.js'

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

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g
const BASE64_BODY = /^[A-Za-z0-9+/=\s]*$/

/**
 * Turns an uploaded body (PEM text or DER bytes) into the DER of exactly one certificate.
 * Refuses private keys outright, so a key sent by mistake is never stored or echoed.
 */
export function decodeCertificateUpload(body: Buffer): Buffer {
  const text = body.toString('latin1')
  if (text.includes('-----BEGIN')) return decodePem(text)
  if (body.length === 0) throw new Errors.EMPTY_BODY('The body is empty; send one certificate as PEM or DER.')
  if (looksLikePrivateKey(body)) throw new Errors.PRIVATE_KEY_IN_BODY()
  return body
}

function decodePem(text: string): Buffer {
  if (/PRIVATE KEY-----/.test(text)) throw new Errors.PRIVATE_KEY_IN_BODY()
  const blocks = [...text.matchAll(PEM_BLOCK)]
  const certificates = blocks.filter((b) => b[1] === 'CERTIFICATE')
  if (certificates.length !== 1 || blocks.length !== 1) {
    const other = blocks.length - certificates.length
    const found =
      blocks.length === 0
        ? 'no complete PEM block'
        : `${certificates.length} certificate(s)${other ? ` and ${other} other PEM block(s)` : ''}`
    throw new Errors.CERTIFICATE_COUNT(found)
  }
  const base64 = certificates[0]![2]!
  if (!BASE64_BODY.test(base64)) throw new Errors.CERTIFICATE_MALFORMED('the PEM block is not valid base64')
  const der = Buffer.from(base64.replace(/\s+/g, ''), 'base64')
  if (der.length === 0) throw new Errors.CERTIFICATE_MALFORMED('the PEM block is empty')
  return der
}

function looksLikePrivateKey(der: Buffer): boolean {
  for (const type of ['pkcs8', 'pkcs1', 'sec1'] as const) {
    try {
      createPrivateKey({ key: der, format: 'der', type })
      return true
    } catch {
      // not this kind of key: try the next
    }
  }
  return false
}

/** Parses one DER certificate. Any structural problem is a 400 CMS_CERTIFICATE_MALFORMED, never a 500. */
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
  const extension = (oid: string) => cert.extensions?.find((e) => e.extnID === oid)

  const ski = extension(OID.subjectKeyIdentifier)?.parsedValue
  const ku = extension(OID.keyUsage)?.parsedValue
  const issuerRaw = Buffer.from(cert.issuer.valueBeforeDecode)
  const serialRaw = Buffer.from(cert.serialNumber.toBER())

  return {
    der,
    subject: x509.subject.split('\n').join(', '),
    issuer: x509.issuer.split('\n').join(', '),
    serialNumber: x509.serialNumber.toLowerCase(),
    notBefore: cert.notBefore.value,
    notAfter: cert.notAfter.value,
    sha256Fingerprint: createHash('sha256').update(der).digest('hex'),
    publicKey,
    keyObject,
    ecPoint:
      publicKey.algorithm === 'EC'
        ? Buffer.from(cert.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView)
        : undefined,
    subjectKeyIdentifier: ski instanceof asn1js.OctetString ? Buffer.from(ski.valueBlock.valueHexView) : undefined,
    keyUsage: ku instanceof asn1js.BitString ? keyUsageNames(ku) : undefined,
    issuerAndSerialNumber: tlv(Tag.SEQUENCE, issuerRaw, serialRaw),
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
    `${(key.asymmetricKeyType ?? 'this').toUpperCase()} keys cannot receive CMS encrypted data here; use an RSA (2048 bits or more) or EC (P-256, P-384, P-521) key.`,
  )
}

function keyUsageNames(bits: asn1js.BitString): string[] {
  const bytes = bits.valueBlock.valueHexView
  return KEY_USAGE_BITS.filter((_, i) => ((bytes[i >> 3] ?? 0) & (0x80 >> (i & 7))) !== 0)
}

export const MIN_RSA_BITS = 2048

/**
 * The rules a receiver certificate must meet before anything is stored. Returns what is worth
 * flagging but not refusing (a certificate not valid yet is normal while a renewal is prepared).
 */
export function checkReceiverPolicy(cert: ReceiverCertificate, now = new Date()): { notYetValid: boolean } {
  if (cert.publicKey.algorithm === 'RSA' && cert.publicKey.bits < MIN_RSA_BITS) {
    throw new Errors.KEY_TOO_WEAK(`The RSA key has ${cert.publicKey.bits} bits; at least ${MIN_RSA_BITS} are required.`)
  }
  if (cert.keyUsage) {
    const needed = cert.publicKey.algorithm === 'RSA' ? 'keyEncipherment' : 'keyAgreement'
    if (!cert.keyUsage.includes(needed)) {
      throw new Errors.KEY_USAGE_FORBIDS_ENCRYPTION(
        `The certificate's keyUsage (${cert.keyUsage.join(', ') || 'empty'}) does not allow ${needed}, which ${cert.publicKey.algorithm} recipients need.`,
      )
    }
  }
  if (cert.notAfter.getTime() <= now.getTime()) {
    throw new Errors.CERTIFICATE_EXPIRED(`The certificate expired on ${cert.notAfter.toISOString()}.`)
  }
  return { notYetValid: cert.notBefore.getTime() > now.getTime() }
}
