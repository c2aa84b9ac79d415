import * as asn1js from 'asn1js'
import { createHash, sign, type Hash, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'
import { Errors } from '../errors.js'
import type { ReceiverCertificate } from './certificate.js'
import { END_OF_CONTENTS, header, headerLength, indefiniteHeader, smallInteger, Tag, tlv } from './der.js'
import { OID } from './oids.js'
import {
  digestAlgorithmIdentifier,
  digestLength,
  signatureAlgorithmIdentifier,
  signingKey,
  type SignerOptions,
} from './signature-algorithms.js'

const signAsync = promisify(sign)
const oid = (value: string) => Buffer.from(new asn1js.ObjectIdentifier({ value }).toBER())
const DATA = oid(OID.data)
const CONSTRUCTED_OCTET_STRING = 0x24
const UTC_TIME = 0x17
const GENERALIZED_TIME = 0x18
const SUBJECT_KEY_IDENTIFIER = 0x80 // [0] IMPLICIT SubjectKeyIdentifier

/** The signer of an encryptor: a key pair from the keystore and how it signs. */
export interface Signer {
  alias: string
  certificate: ReceiverCertificate
  /** DER of the certificates after the signer's (issuer after subject). */
  chain: readonly Buffer[]
  privateKey: KeyObject
  options: SignerOptions
}

// The attribute types, encoded once: asn1js takes tens of microseconds per OID, and two attributes change per message.
const SIGNING_TIME = oid(OID.signingTime)
const MESSAGE_DIGEST = oid(OID.messageDigest)

/** A signed attribute (RFC 5652 5.3): SEQUENCE { attrType, SET { value } }. */
const attribute = (type: Buffer, value: Buffer) => tlv(Tag.SEQUENCE, type, tlv(Tag.SET, value))

/**
 * Everything about a signer's SignedData that does not change between messages: identifiers,
 * algorithms, the certificates to include and the constant signed attributes. Build it once per
 * encryptor version; start() per message.
 */
export class SignedDataTemplate {
  /** CMSVersion of SignedData and SignerInfo (RFC 5652 5.1, 5.3): 3 with a subjectKeyIdentifier sid, else 1. */
  readonly version: Buffer
  readonly digestAlgorithms: Buffer
  /** [0] IMPLICIT CertificateSet, or nothing ("none": the receiver holds our certificate already). */
  readonly certificates: Buffer
  /** The SignerInfo's fields before its signed attributes: version, sid, digestAlgorithm. */
  readonly signerInfoHead: Buffer
  readonly signatureAlgorithm: Buffer
  /** contentType and CMSAlgorithmProtection (RFC 6211): the same in every message. */
  readonly constantAttributes: Buffer[]
  /** RSA signatures are as long as the modulus, so every length is known up front; ECDSA's vary (DER INTEGERs). */
  readonly signatureLength: number | undefined

  constructor(readonly signer: Signer) {
    const { certificate, options } = signer
    const bySki = options.signerIdentifier === 'subject-key-identifier'
    if (bySki && !certificate.subjectKeyIdentifier) {
      throw new Errors.SUBJECT_KEY_IDENTIFIER_MISSING(
        `The certificate of key pair "${signer.alias}" has no subjectKeyIdentifier extension, ` +
          'so it cannot be named by one; use signerIdentifier "issuer-serial".',
      )
    }
    this.version = smallInteger(bySki ? 3 : 1)
    const digestAlgorithm = digestAlgorithmIdentifier(options.digest)
    this.digestAlgorithms = tlv(Tag.SET, digestAlgorithm)
    const included =
      options.includeCertificates === 'none'
        ? []
        : options.includeCertificates === 'chain'
          ? [certificate.der, ...signer.chain]
          : [certificate.der]
    // DER sorts a SET OF by encoding (X.690 11.6).
    this.certificates = included.length ? tlv(Tag.CONTEXT_0, ...[...included].sort(Buffer.compare)) : Buffer.alloc(0)
    this.signerInfoHead = Buffer.concat([
      this.version,
      bySki ? tlv(SUBJECT_KEY_IDENTIFIER, certificate.subjectKeyIdentifier!) : certificate.issuerAndSerialNumber,
      digestAlgorithm,
    ])
    this.signatureAlgorithm = signatureAlgorithmIdentifier(options)
    // CMSAlgorithmProtection ::= SEQUENCE { digestAlgorithm, signatureAlgorithm [1] IMPLICIT, ... }
    const protection = tlv(Tag.SEQUENCE, digestAlgorithm, tlv(Tag.CONTEXT_1, contentsOf(this.signatureAlgorithm)))
    this.constantAttributes = [
      attribute(oid(OID.contentType), DATA),
      attribute(oid(OID.cmsAlgorithmProtection), protection),
    ]
    const key = certificate.publicKey
    this.signatureLength = key.algorithm === 'RSA' ? Math.ceil(key.bits / 8) : undefined
  }

  start(signingTime: Date = new Date()): SignedDataMessage {
    return new SignedDataMessage(this, signingTime)
  }
}

/**
 * One SignedData over a payload, written as the payload flows: head(), then update() per chunk
 * (the digest runs as the bytes pass), then tail(), which signs and writes the SignerInfo after the
 * content. With the payload length given and an RSA signer every length is known, so the output is
 * DER; otherwise BER, the content a constructed OCTET STRING of chunks, as OpenSSL streams it.
 */
export class SignedDataMessage {
  private readonly hash: Hash
  private readonly signingTime: Buffer
  private definite = true

  constructor(
    private readonly template: SignedDataTemplate,
    signingTime: Date,
  ) {
    this.hash = createHash(template.signer.options.digest)
    this.signingTime = attribute(SIGNING_TIME, encodeTime(signingTime))
  }

  /** The DER length for `payloadLength` bytes, or undefined when it is not known before signing (ECDSA). */
  encodedLength(payloadLength: number): number | undefined {
    if (this.template.signatureLength === undefined) return undefined
    return this.lengths(payloadLength, this.signerInfosLength()).total
  }

  /** The bytes before the payload: DER when `payloadLength` is given and the length is fixed, else BER. */
  head(payloadLength?: number): Buffer {
    const t = this.template
    const total = payloadLength === undefined ? undefined : this.encodedLength(payloadLength)
    if (total === undefined) {
      this.definite = false
      return Buffer.concat([
        indefiniteHeader(Tag.SEQUENCE),
        t.version,
        t.digestAlgorithms,
        indefiniteHeader(Tag.SEQUENCE),
        DATA,
        indefiniteHeader(Tag.CONTEXT_0),
        indefiniteHeader(CONSTRUCTED_OCTET_STRING),
      ])
    }
    return this.definiteHead(payloadLength!, this.signerInfosLength())
  }

  /** Digests a chunk; returns the bytes to write (in BER each chunk is an OCTET STRING of its own). */
  update(chunk: Buffer): Buffer[] {
    if (chunk.length === 0) return []
    this.hash.update(chunk)
    return this.definite ? [chunk] : [header(Tag.OCTET_STRING, chunk.length), chunk]
  }

  /** Signs (off the event loop: node:crypto runs an async sign on libuv's thread pool) and closes the SignedData. */
  async tail(): Promise<Buffer> {
    const signerInfos = await this.sign(this.hash.digest())
    const t = this.template
    if (this.definite) return Buffer.concat([t.certificates, signerInfos])
    return Buffer.concat([
      END_OF_CONTENTS, // the constructed OCTET STRING
      END_OF_CONTENTS, // [0] eContent
      END_OF_CONTENTS, // EncapsulatedContentInfo
      t.certificates,
      signerInfos,
      END_OF_CONTENTS, // SignedData
    ])
  }

  /** The whole SignedData, DER, for a payload held in memory (any signer: the signature is made first). */
  async whole(payload: Buffer): Promise<Buffer> {
    const t = this.template
    const digest = createHash(t.signer.options.digest).update(payload).digest()
    const signerInfos = await this.sign(digest)
    return Buffer.concat([this.definiteHead(payload.length, signerInfos.length), payload, t.certificates, signerInfos])
  }

  /** DER up to the payload: SignedData, EncapsulatedContentInfo, [0] and the OCTET STRING headers. */
  private definiteHead(payloadLength: number, signerInfosLength: number): Buffer {
    const t = this.template
    const l = this.lengths(payloadLength, signerInfosLength)
    return Buffer.concat([
      header(Tag.SEQUENCE, l.signedData),
      t.version,
      t.digestAlgorithms,
      header(Tag.SEQUENCE, l.encapContentInfo),
      DATA,
      header(Tag.CONTEXT_0, l.explicit),
      header(Tag.OCTET_STRING, payloadLength),
    ])
  }

  /** SignerInfos (a SET of our one SignerInfo) with the signature over the DER of the signed attributes. */
  private async sign(digest: Buffer): Promise<Buffer> {
    const { privateKey, options } = this.template.signer
    const attributes = this.signedAttributes(digest)
    // The signature covers the attributes as a SET (tag 0x31), not as the [0] IMPLICIT they are sent as (5.4).
    const signature = await signAsync(
      options.digest,
      tlv(Tag.SET, ...attributes),
      signingKey(privateKey, options.signature, options.digest),
    )
    return this.signerInfos(digest, signature)
  }

  private signedAttributes(digest: Buffer): Buffer[] {
    const t = this.template
    const messageDigest = attribute(MESSAGE_DIGEST, tlv(Tag.OCTET_STRING, digest))
    // DER orders the SET OF by encoding.
    return [...t.constantAttributes, this.signingTime, messageDigest].sort(Buffer.compare)
  }

  private signerInfos(digest: Buffer, signature: Buffer): Buffer {
    const t = this.template
    return tlv(
      Tag.SET,
      tlv(
        Tag.SEQUENCE,
        t.signerInfoHead,
        tlv(Tag.CONTEXT_0, ...this.signedAttributes(digest)),
        t.signatureAlgorithm,
        tlv(Tag.OCTET_STRING, signature),
      ),
    )
  }

  /** The SignerInfos' length before signing: the digest and an RSA signature have fixed lengths. */
  private signerInfosLength(): number {
    const t = this.template
    const digest = Buffer.alloc(digestLength(t.signer.options.digest))
    return this.signerInfos(digest, Buffer.alloc(t.signatureLength!)).length
  }

  private lengths(payloadLength: number, signerInfosLength: number) {
    const t = this.template
    const explicit = headerLength(payloadLength) + payloadLength
    const encapContentInfo = DATA.length + headerLength(explicit) + explicit
    const signedData =
      t.version.length +
      t.digestAlgorithms.length +
      headerLength(encapContentInfo) +
      encapContentInfo +
      t.certificates.length +
      signerInfosLength
    return { explicit, encapContentInfo, signedData, total: headerLength(signedData) + signedData }
  }
}

/** The value octets of a DER TLV (what an IMPLICIT tag re-wraps). */
function contentsOf(tlvBytes: Buffer): Buffer {
  const first = tlvBytes[1]!
  const lengthOctets = first < 0x80 ? 0 : first & 0x7f
  return tlvBytes.subarray(2 + lengthOctets)
}

/** signingTime (RFC 5652 11.3): UTCTime for 1950 to 2049, GeneralizedTime otherwise, to the second, in UTC. */
function encodeTime(at: Date): Buffer {
  const iso = at.toISOString() // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '')
  const year = at.getUTCFullYear()
  if (year >= 1950 && year < 2050) return tlv(UTC_TIME, Buffer.from(digits.slice(2) + 'Z', 'latin1'))
  return tlv(GENERALIZED_TIME, Buffer.from(digits + 'Z', 'latin1'))
}
