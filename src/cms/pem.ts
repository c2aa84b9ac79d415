import { createPrivateKey } from 'node:crypto'
import { Errors } from '../errors.js'
import { checkReceiverPolicy, parseReceiverCertificate, type ReceiverCertificate } from './certificate.js'

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

/** Decodes, parses and checks an uploaded certificate: the same rules for keystore uploads and renewals. */
export function validateCertificateUpload(upload: Buffer): ReceiverCertificate {
  const certificate = parseReceiverCertificate(decodeCertificateUpload(upload))
  checkReceiverPolicy(certificate)
  return certificate
}

/** One DER certificate as PEM (RFC 7468 section 5: base64 in lines of 64 characters). */
export function toPem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? []
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`
}
