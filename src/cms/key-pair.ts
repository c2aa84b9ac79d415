import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto'
import * as asn1js from 'asn1js'
import { Certificate } from 'pkijs'
import { Errors } from '../errors.js'
import { EC_CURVES } from './algorithms.js'
import { MIN_RSA_BITS, parseReceiverCertificate, type PublicKeyInfo, type ReceiverCertificate } from './certificate.js'
import { findPemBlocks } from './pem.js'
import { readPkcs12KeyPair } from './pkcs12-key-pair.js'

/** What a tenant administrator uploads as one of the tenant's own key pairs (PUT /keystore/key-pairs/{alias}). */
export type KeyPairUpload = { pkcs12: string; password: string } | { privateKey: string; certificateChain: string }

/** A key pair that passed every import check: the private key matches the signer certificate, and so on. */
export interface SigningKeyPair {
  /** The signer certificate (the first of the chain). */
  certificate: ReceiverCertificate
  /**
   * DER of the certificates after the signer's, each the issuer of the one before: as given in PEM; for
   * PKCS#12, the path up from the signer among the file's certificates (others are left out).
   */
  chain: Buffer[]
  privateKey: KeyObject
  keyType: PublicKeyInfo
}

/** A private key and its certificates (signer first, then each issuer), before any check. */
export interface KeyPairCandidate {
  privateKey: KeyObject
  certificates: Buffer[]
}

/**
 * Reads an uploaded key pair (PEM or PKCS#12) and checks it for signing, in a fixed order: the
 * certificates parse, the key is the signer certificate's, the key is strong enough, keyUsage allows
 * signatures, the certificate is valid `now`, and each certificate of the chain is issued by the next.
 * `alias` picks the key of a PKCS#12 file that holds several: the one whose friendlyName it equals.
 */
export function parseKeyPairUpload(upload: KeyPairUpload, now: Date = new Date(), alias?: string): SigningKeyPair {
  const candidate =
    'pkcs12' in upload
      ? readPkcs12KeyPair(decodePkcs12Base64(upload.pkcs12), upload.password, alias)
      : {
          privateKey: decodePrivateKeyPem(upload.privateKey),
          certificates: decodeCertificateChainPem(upload.certificateChain),
        }
  return checkSigningKeyPair(candidate, now)
}

// Linear on any input: anchored, one character class, nothing to backtrack into.
const BASE64_TEXT = /^[A-Za-z0-9+/=\s]*$/

function decodePkcs12Base64(text: string): Buffer {
  if (!BASE64_TEXT.test(text)) throw new Errors.KEY_PAIR_MALFORMED('pkcs12 is not base64 (of a PKCS#12 file)')
  const der = Buffer.from(text, 'base64')
  if (der.length === 0) throw new Errors.KEY_PAIR_MALFORMED('pkcs12 is empty')
  return der
}

/** The DER type Node reads for each PEM label of an unencrypted private key (RFC 7468 10, RFC 8017 A.1.2, RFC 5915). */
const PRIVATE_KEY_LABELS: Record<string, 'pkcs8' | 'pkcs1' | 'sec1'> = {
  'PRIVATE KEY': 'pkcs8',
  'RSA PRIVATE KEY': 'pkcs1',
  'EC PRIVATE KEY': 'sec1',
}

const SEND_UNENCRYPTED = 'send it unencrypted (a PRIVATE KEY block), or as PKCS#12 (pkcs12) with its password'

/** The one private key of `text`: exactly one PEM block, unencrypted. */
export function decodePrivateKeyPem(text: string): KeyObject {
  const blocks = findPemBlocks(text)
  if (blocks.length !== 1) {
    throw new Errors.KEY_PAIR_MALFORMED(
      'privateKey must hold exactly one PEM block (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY); ' +
        `it holds ${blocks.length}`,
    )
  }
  const { label, body } = blocks[0]!
  if (label === 'ENCRYPTED PRIVATE KEY') {
    throw new Errors.KEY_PAIR_MALFORMED(`privateKey is encrypted; ${SEND_UNENCRYPTED}`)
  }
  const type = PRIVATE_KEY_LABELS[label]
  if (!type) {
    throw new Errors.KEY_PAIR_MALFORMED(
      `privateKey is a ${label} block, not PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY`,
    )
  }
  // OpenSSL's traditional encryption keeps the label and adds RFC 1421 headers (Proc-Type, DEK-Info).
  if (body.includes('Proc-Type:') || body.includes('DEK-Info:')) {
    throw new Errors.KEY_PAIR_MALFORMED(`privateKey is encrypted (a DEK-Info header); ${SEND_UNENCRYPTED}`)
  }
  if (!BASE64_TEXT.test(body)) throw new Errors.KEY_PAIR_MALFORMED(`the ${label} block is not valid base64`)
  const der = Buffer.from(body, 'base64')
  try {
    return createPrivateKey({ key: der, format: 'der', type })
  } catch {
    throw new Errors.KEY_PAIR_MALFORMED(`the ${label} block is not a private key Node can read`)
  } finally {
    der.fill(0) // the key's bytes live on only inside the KeyObject
  }
}

/** The DER certificates of `text`, in order: one or more CERTIFICATE blocks and nothing else. */
export function decodeCertificateChainPem(text: string): Buffer[] {
  const blocks = findPemBlocks(text)
  const others = blocks.filter((b) => b.label !== 'CERTIFICATE')
  if (others.length) {
    const labels = [...new Set(others.map((b) => b.label))].join(', ')
    throw new Errors.KEY_PAIR_MALFORMED(`certificateChain may hold only CERTIFICATE blocks; it also holds ${labels}`)
  }
  if (blocks.length === 0) {
    throw new Errors.KEY_PAIR_MALFORMED(
      'certificateChain holds no CERTIFICATE block; send the signer certificate first',
    )
  }
  return blocks.map(({ body }, i) => {
    const der = BASE64_TEXT.test(body) ? Buffer.from(body, 'base64') : Buffer.alloc(0)
    if (der.length === 0) {
      throw new Errors.KEY_PAIR_MALFORMED(`certificate ${i + 1} of certificateChain is not valid base64`)
    }
    return der
  })
}

/** Where a certificate sits, in words for a message: "the signer certificate", "certificate 2 of the chain". */
const position = (i: number) => (i === 0 ? 'the signer certificate' : `certificate ${i + 1} of the chain`)

/** Every check of an import, in order; the first that fails throws its catalogue error. */
export function checkSigningKeyPair({ privateKey, certificates }: KeyPairCandidate, now: Date): SigningKeyPair {
  const parsed = certificates.map((der, i) => parseCertificateAt(der, i))
  const signer = parsed[0]!
  if (!spkiOf(privateKey).equals(spkiOf(signer.x509.publicKey))) {
    throw new Errors.KEY_PAIR_MISMATCH(`"${signer.x509.subject.split('\n').join(', ')}"`)
  }
  checkSigningKey(privateKey)
  // The key is RSA or a supported curve now, so the receiver parser's one remaining refusal cannot come.
  const certificate = signer.receiver ?? parseReceiverCertificate(signer.der)
  if (certificate.keyUsage && !certificate.keyUsage.includes('digitalSignature')) {
    throw new Errors.KEY_USAGE_FORBIDS_SIGNING(
      `The signer certificate's keyUsage (${certificate.keyUsage.join(', ') || 'empty'}) does not allow ` +
        'digitalSignature, which signing needs.',
    )
  }
  if (certificate.notAfter.getTime() < now.getTime()) {
    throw new Errors.CERTIFICATE_EXPIRED(`The signer certificate expired on ${certificate.notAfter.toISOString()}.`)
  }
  if (certificate.notBefore.getTime() > now.getTime()) {
    throw new Errors.CERTIFICATE_EXPIRED(
      `The signer certificate is not valid yet: not before ${certificate.notBefore.toISOString()}.`,
    )
  }
  checkChainOrder(parsed)
  return { certificate, chain: certificates.slice(1), privateKey, keyType: certificate.publicKey }
}

interface ParsedCertificate {
  der: Buffer
  x509: X509Certificate
  /** Undefined when the key is one the receiver parser refuses (fine for an issuer, judged later for the signer). */
  receiver: ReceiverCertificate | undefined
  issuerName: Buffer
  subjectName: Buffer
}

/**
 * Parses one certificate of the upload with the receiver parser, for its structural checks. That parser
 * finds every structural fault before it judges the key (certificate.ts), so its KEY_ALGORITHM_UNSUPPORTED
 * means the certificate is well formed: an issuer may have any key, and the signer's key is judged by
 * the signing rules, after the match.
 */
function parseCertificateAt(der: Buffer, i: number): ParsedCertificate {
  let receiver: ReceiverCertificate | undefined
  try {
    receiver = parseReceiverCertificate(der)
  } catch (err) {
    if (err instanceof Errors.CERTIFICATE_MALFORMED) {
      throw new Errors.CERTIFICATE_MALFORMED(`${position(i)}: ${err.message.replace(/^[^:]*: /, '')}`)
    }
    if (!(err instanceof Errors.KEY_ALGORITHM_UNSUPPORTED)) throw err
  }
  const cert = new Certificate({ schema: asn1js.fromBER(der).result })
  let x509: X509Certificate
  try {
    x509 = new X509Certificate(der)
    void x509.publicKey // read lazily: an unreadable key is a certificate Node cannot use
  } catch {
    throw new Errors.CERTIFICATE_MALFORMED(`${position(i)}: its public key cannot be read`)
  }
  return {
    der,
    x509,
    receiver,
    issuerName: Buffer.from(cert.issuer.valueBeforeDecode),
    subjectName: Buffer.from(cert.subject.valueBeforeDecode),
  }
}

function spkiOf(key: KeyObject): Buffer {
  return (key.type === 'private' ? createPublicKey(key) : key).export({ type: 'spki', format: 'der' })
}

/** The signing policy for the key itself: RSA of MIN_RSA_BITS or more, or EC on P-256, P-384 or P-521. */
function checkSigningKey(key: KeyObject): void {
  const details = key.asymmetricKeyDetails ?? {}
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength ?? 0
    if (bits < MIN_RSA_BITS) {
      throw new Errors.KEY_TOO_WEAK(`The RSA key has ${bits} bits; at least ${MIN_RSA_BITS} are required.`)
    }
    return
  }
  if (key.asymmetricKeyType === 'ec') {
    if (!EC_CURVES[details.namedCurve ?? '']) {
      throw new Errors.KEY_ALGORITHM_UNSUPPORTED(
        `EC curve ${details.namedCurve ?? '(unnamed)'} is not supported for signing; use P-256, P-384 or P-521.`,
      )
    }
    return
  }
  throw new Errors.KEY_ALGORITHM_UNSUPPORTED(
    `${(key.asymmetricKeyType ?? 'this').toUpperCase()} keys cannot sign here; ` +
      `use an RSA (${MIN_RSA_BITS} bits or more) or EC (P-256, P-384, P-521) key.`,
  )
}

/**
 * Each certificate is issued by the next: its issuer is the next one's subject, byte for byte (RFC 5280
 * 4.1.2.4 asks CAs to copy their subject so), and the next one's key verifies its signature. The last
 * is not checked against anything: trust in the chain is the receiver's decision, not ours.
 */
function checkChainOrder(parsed: ParsedCertificate[]): void {
  for (let i = 0; i + 1 < parsed.length; i++) {
    const [cert, issuer] = [parsed[i]!, parsed[i + 1]!]
    if (!cert.issuerName.equals(issuer.subjectName)) {
      throw new Errors.KEY_PAIR_MALFORMED(
        `the chain is out of order: the issuer of ${position(i)} is not the subject of ${position(i + 1)} ` +
          '(send the signer first, then each issuer)',
      )
    }
    if (!verifiesWith(cert.x509, issuer.x509)) {
      throw new Errors.KEY_PAIR_MALFORMED(
        `the signature of ${position(i)} does not verify with the key of ${position(i + 1)}`,
      )
    }
  }
}

function verifiesWith(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.verify(issuer.publicKey)
  } catch {
    return false // a signature algorithm OpenSSL cannot check with that key is a signature that does not verify
  }
}
