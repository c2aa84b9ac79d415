import { createPrivateKey } from 'node:crypto'
import { Errors } from '../errors.js'
import {
  checkReceiverPolicy,
  parseReceiverCertificate,
  type PassedCheck,
  type ReceiverCertificate,
} from './certificate.js'

// Linear on any input: anchored, one character class, nothing to backtrack into.
const BASE64_BODY = /^[A-Za-z0-9+/=\s]*$/

/**
 * Turns an uploaded body (PEM text or DER bytes) into the DER of exactly one certificate.
 * Refuses private keys outright, so a key sent by mistake is never stored or echoed.
 */
export function decodeCertificateUpload(body: Buffer): Buffer {
  return decodeUpload(body).der
}

function decodeUpload(body: Buffer): { der: Buffer; format: 'PEM' | 'DER' } {
  const text = body.toString('latin1')
  if (text.includes('-----BEGIN')) return { der: decodePem(text), format: 'PEM' }
  if (body.length === 0) throw new Errors.EMPTY_BODY('The body is empty; send one certificate as PEM or DER.')
  if (looksLikePrivateKey(body)) throw new Errors.PRIVATE_KEY_IN_BODY()
  if (looksLikePkcs12(body) || (BASE64_BODY.test(text) && looksLikePkcs12(Buffer.from(text, 'base64')))) {
    throw new Errors.PRIVATE_KEY_IN_BODY(PKCS12_HINT)
  }
  return { der: body, format: 'DER' }
}

/** Appended to CMS_PRIVATE_KEY_IN_BODY's message: a PKCS#12 sent here was most likely meant for the key pairs. */
const PKCS12_HINT =
  'This body is a PKCS#12 file (a private key with its certificate). A receiver certificate is the ' +
  "receiver's certificate alone; the tenant's own signing key pairs are stored with PUT /keystore/key-pairs/{alias}."

/**
 * Whether `der` starts as a PKCS#12 PFX (RFC 7292 section 4), in DER or in the indefinite-length BER
 * that older exporters write:
 *
 *     PFX ::= SEQUENCE {
 *       version   INTEGER {v3(3)}(v3,...),
 *       authSafe  ContentInfo,   -- SEQUENCE { contentType OBJECT IDENTIFIER (pkcs7-data or -signedData), ... }
 *       macData   MacData OPTIONAL }
 *
 * A certificate's SEQUENCE starts with another SEQUENCE (tbsCertificate), never INTEGER 3, so the
 * two cannot be confused.
 */
function looksLikePkcs12(der: Buffer): boolean {
  const afterHeader = (at: number): number => {
    const length = der[at + 1]
    if (length === undefined) return -1
    if (length === 0x80 || length < 0x80) return at + 2
    const octets = length & 0x7f
    return octets <= 4 ? at + 2 + octets : -1
  }
  if (der[0] !== 0x30) return false
  const version = afterHeader(0)
  if (version === -1 || !der.subarray(version, version + 3).equals(PFX_VERSION)) return false
  const authSafe = version + 3
  if (der[authSafe] !== 0x30) return false
  const contentType = afterHeader(authSafe)
  if (contentType === -1) return false
  const oid = der.subarray(contentType, contentType + PKCS7_OID_PREFIX.length + 1)
  return (
    oid.length === PKCS7_OID_PREFIX.length + 1 &&
    oid.subarray(0, PKCS7_OID_PREFIX.length).equals(PKCS7_OID_PREFIX) &&
    (oid[PKCS7_OID_PREFIX.length] === 1 || oid[PKCS7_OID_PREFIX.length] === 2)
  )
}

/** INTEGER 3 */
const PFX_VERSION = Buffer.from([0x02, 0x01, 0x03])
/** OBJECT IDENTIFIER 1.2.840.113549.1.7 (pkcs-7), to which data (.1) or signedData (.2) is appended. */
const PKCS7_OID_PREFIX = Buffer.from([0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07])

function decodePem(text: string): Buffer {
  if (text.includes('PRIVATE KEY-----')) throw new Errors.PRIVATE_KEY_IN_BODY()
  const blocks = findPemBlocks(text)
  const certificates = blocks.filter((b) => b.label === 'CERTIFICATE')
  if (certificates.length !== 1 || blocks.length !== 1) {
    const other = blocks.length - certificates.length
    const found =
      blocks.length === 0
        ? 'no complete PEM block'
        : `${certificates.length} certificate(s)${other ? ` and ${other} other PEM block(s)` : ''}`
    throw new Errors.CERTIFICATE_COUNT(found)
  }
  const base64 = certificates[0]!.body
  if (!BASE64_BODY.test(base64)) throw new Errors.CERTIFICATE_MALFORMED('the PEM block is not valid base64')
  // Node's decoder skips whitespace: the bytes of the text stripped of it first, without a copy of up to 1 MiB.
  const der = Buffer.from(base64, 'base64')
  if (der.length === 0) throw new Errors.CERTIFICATE_MALFORMED('the PEM block is empty')
  return der
}

/** One PEM block (RFC 7468): `-----BEGIN label-----` body `-----END label-----`. */
export interface PemBlock {
  label: string
  body: string
}

const BEGIN = '-----BEGIN '
const END = '-----END '
const DASHES = '-----'

/**
 * The PEM blocks of `text`, exactly those `/-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g`
 * matches, found in linear time. That expression searches from every BEGIN to the end of the text for
 * its END: quadratic, so 1 MiB (the default body limit) of `-----BEGIN A-----` lines held the event
 * loop for 16 s (over a minute on a busy machine). Capping the number of markers before it would bound
 * the cost but tie it to the cap and the body limit, and change the counts the error names; here every
 * END marker is indexed once by label, and each BEGIN takes the first END of its label after it, from
 * a cursor that only moves forward. Plain loops, no generator or object per marker: this runs on the
 * event loop, on up to 1 MiB.
 */
export function findPemBlocks(text: string): PemBlock[] {
  const endsByLabel = new Map<string, number[]>()
  for (let at = text.indexOf(END); at !== -1; at = text.indexOf(END, at + 1)) {
    const labelEnd = labelEndAt(text, at + END.length)
    if (labelEnd === -1) continue
    const label = text.slice(at + END.length, labelEnd)
    const ends = endsByLabel.get(label)
    if (ends) ends.push(at)
    else endsByLabel.set(label, [at])
  }
  const blocks: PemBlock[] = []
  if (endsByLabel.size === 0) return blocks
  const cursors = new Map<string, number>()
  let searchFrom = 0
  for (let at = text.indexOf(BEGIN); at !== -1; at = text.indexOf(BEGIN, at + 1)) {
    if (at < searchFrom) continue // inside the block found last
    const labelEnd = labelEndAt(text, at + BEGIN.length)
    if (labelEnd === -1) continue
    const label = text.slice(at + BEGIN.length, labelEnd)
    const ends = endsByLabel.get(label)
    if (!ends) continue
    const bodyStart = labelEnd + DASHES.length
    // BEGINs come in order, so an END before this body is before every later body too: skip it for good.
    let next = cursors.get(label) ?? 0
    while (next < ends.length && ends[next]! < bodyStart) next++
    cursors.set(label, next)
    const endAt = ends[next]
    if (endAt === undefined) continue
    blocks.push({ label, body: text.slice(bodyStart, endAt) })
    searchFrom = endAt + END.length + label.length + DASHES.length
  }
  return blocks
}

/**
 * Where the label that starts at `from` ends, if it is one or more of [A-Z0-9 ] followed by `-----`;
 * else -1. Linear over all markers: a label stops at the first "-", and every marker starts with one,
 * so no two labels overlap.
 */
function labelEndAt(text: string, from: number): number {
  let i = from
  while (i < text.length && isLabelChar(text.charCodeAt(i))) i++
  return i > from && text.startsWith(DASHES, i) ? i : -1
}

/** [A-Z0-9 ] */
function isLabelChar(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x20
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

/** A check an upload passed: how it was decoded, then each rule of the receiver policy. */
export interface UploadCheck {
  name: 'parse' | PassedCheck['name']
  detail: string
}

/**
 * Decodes, parses and checks an uploaded certificate (the same rules for keystore uploads and
 * renewals), saying how each check was passed; throws the catalogue error of the first that fails.
 */
export function inspectCertificateUpload(upload: Buffer): { certificate: ReceiverCertificate; checks: UploadCheck[] } {
  const { der, format } = decodeUpload(upload)
  const certificate = parseReceiverCertificate(der)
  const { passed } = checkReceiverPolicy(certificate)
  const parsed = { name: 'parse' as const, detail: `Parsed: one X.509 certificate (${format}), ${certificate.subject}` }
  return { certificate, checks: [parsed, ...passed] }
}

/** Decodes, parses and checks an uploaded certificate: the same rules for keystore uploads and renewals. */
export function validateCertificateUpload(upload: Buffer): ReceiverCertificate {
  return inspectCertificateUpload(upload).certificate
}

/** One DER certificate as PEM (RFC 7468 section 5: base64 in lines of 64 characters). */
export function toPem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? []
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`
}
