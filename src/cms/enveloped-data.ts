import * as asn1js from 'asn1js'
import { createCipheriv, type Cipher, type CipherGCM } from 'node:crypto'
import { cipherTextLength, GCM_TAG_LENGTH, type ContentEncryption } from './algorithms.js'
import type { CipherSpec } from './cipher-workers.js'
import { END_OF_CONTENTS, header, headerLength, indefiniteHeader, smallInteger, sortSetOf, Tag, tlv } from './der.js'
import { OID } from './oids.js'
import type { PreparedRecipient } from './recipient-info.js'
import { randomPool } from './random-pool.js'

const oid = (value: string) => Buffer.from(new asn1js.ObjectIdentifier({ value }).toBER())
const DATA = oid(OID.data)
const ENVELOPED_DATA = oid(OID.envelopedData)
const AUTH_ENVELOPED_DATA = oid(OID.authEnvelopedData)
const GCM_ICV_LENGTH = smallInteger(GCM_TAG_LENGTH)
const MAC_TLV_LENGTH = 2 + GCM_TAG_LENGTH

/**
 * Everything about an encryptor's messages that does not change between messages: the prepared
 * recipients and the content algorithm. Build it once per encryptor version; call start() per message.
 */
export class EnvelopeTemplate {
  readonly contentType: Buffer
  /** EnvelopedData version (RFC 5652 6.1): 0 when every RecipientInfo is a v0 ktri, else 2. AuthEnvelopedData: 0. */
  readonly version: Buffer
  /** DER of the content-encryption algorithm OID (its parameters, the IV, change per message). */
  readonly contentAlgorithmOid: Buffer

  constructor(
    readonly recipients: readonly PreparedRecipient[],
    readonly content: ContentEncryption,
  ) {
    if (recipients.length === 0) throw new RangeError('an envelope needs at least one recipient')
    this.contentType = content.authenticated ? AUTH_ENVELOPED_DATA : ENVELOPED_DATA
    const allV0 = recipients.every((r) => r.version === 0)
    this.version = smallInteger(content.authenticated || allV0 ? 0 : 2)
    this.contentAlgorithmOid = oid(content.oid)
  }

  /** Begins one message: a fresh content key and IV, and the content key encrypted for every recipient. */
  start(): EnvelopeMessage {
    return new EnvelopeMessage(this)
  }
}

/**
 * One ContentInfo being written. With the plaintext length known, head() emits DER (every length
 * computed up front, so the output can stream with a Content-Length); without it, BER with
 * indefinite lengths and the ciphertext as a constructed OCTET STRING of chunks, which OpenSSL,
 * Bouncy Castle and gpgsm read as well.
 */
export class EnvelopeMessage {
  readonly aliases: string[]
  private readonly recipientInfos: Buffer
  private readonly contentAlgorithm: Buffer
  private readonly contentKey: Buffer
  private readonly iv: Buffer
  private localCipher: Cipher | null = null
  private definite = true

  constructor(private readonly template: EnvelopeTemplate) {
    const alg = template.content
    const contentKey = randomPool.take(alg.keyLength)
    if (alg.name === 'des-ede3-cbc') setOddParity(contentKey)
    const iv = randomPool.take(alg.ivLength)
    const infos = sortSetOf(template.recipients.map((r) => ({ alias: r.alias, encoded: r.encode(contentKey) })))
    this.aliases = infos.map((i) => i.alias)
    this.recipientInfos = tlv(Tag.SET, ...infos.map((i) => i.encoded))
    const algOid = template.contentAlgorithmOid
    this.contentAlgorithm = alg.authenticated
      ? // GCMParameters, RFC 5084 3.2
        tlv(Tag.SEQUENCE, algOid, tlv(Tag.SEQUENCE, tlv(Tag.OCTET_STRING, iv), GCM_ICV_LENGTH))
      : tlv(Tag.SEQUENCE, algOid, tlv(Tag.OCTET_STRING, iv))
    this.contentKey = contentKey
    this.iv = iv
  }

  /**
   * The content cipher's parameters, for running it elsewhere (a worker thread); the key is then
   * no longer kept here. Use frame() and closing() on what that cipher produces.
   */
  takeCipherSpec(): CipherSpec {
    const spec = {
      cipher: this.template.content.cipher,
      key: Buffer.from(this.contentKey),
      iv: this.iv,
      authTagLength: this.template.content.authenticated ? GCM_TAG_LENGTH : undefined,
    }
    this.contentKey.fill(0)
    return spec
  }

  private get cipher(): Cipher {
    if (!this.localCipher) {
      const alg = this.template.content
      this.localCipher = alg.authenticated
        ? createCipheriv(alg.cipher as 'aes-256-gcm', this.contentKey, this.iv, { authTagLength: GCM_TAG_LENGTH })
        : createCipheriv(alg.cipher, this.contentKey, this.iv)
    }
    return this.localCipher
  }

  /** AuthEnvelopedData: the content cipher produces a MAC that closing() needs. */
  get authenticated(): boolean {
    return this.template.content.authenticated
  }

  /** Total encoded length for a plaintext of `plainLength` bytes (DER form). */
  encodedLength(plainLength: number): number {
    return this.lengths(plainLength).total
  }

  /** The bytes before the ciphertext. Pass the plaintext length for DER; omit it for BER indefinite. */
  head(plainLength?: number): Buffer {
    const t = this.template
    if (plainLength === undefined) {
      this.definite = false
      return Buffer.concat([
        indefiniteHeader(Tag.SEQUENCE),
        t.contentType,
        indefiniteHeader(Tag.CONTEXT_0),
        indefiniteHeader(Tag.SEQUENCE),
        t.version,
        this.recipientInfos,
        indefiniteHeader(Tag.SEQUENCE),
        DATA,
        this.contentAlgorithm,
        indefiniteHeader(Tag.CONTEXT_0),
      ])
    }
    const l = this.lengths(plainLength)
    return Buffer.concat([
      header(Tag.SEQUENCE, l.contentInfo),
      t.contentType,
      header(Tag.CONTEXT_0, l.explicit),
      header(Tag.SEQUENCE, l.envelope),
      t.version,
      this.recipientInfos,
      header(Tag.SEQUENCE, l.encryptedContentInfo),
      DATA,
      this.contentAlgorithm,
      header(Tag.CONTEXT_0_PRIMITIVE, l.cipherText),
    ])
  }

  /** The whole ContentInfo, DER, for a payload held in memory. */
  seal(payload: Buffer): Buffer {
    return Buffer.concat([this.head(payload.length), ...this.update(payload), ...this.final()])
  }

  /** Encrypts a chunk; returns the bytes to write (in BER mode each piece is its own OCTET STRING). */
  update(chunk: Buffer): Buffer[] {
    return this.frame(this.cipher.update(chunk))
  }

  /** Last ciphertext block, the MAC for AuthEnvelopedData, and the closing end-of-contents in BER mode. */
  final(): Buffer[] {
    const last = this.cipher.final()
    return this.closing(last, this.template.content.authenticated ? (this.cipher as CipherGCM).getAuthTag() : undefined)
  }

  /** Ciphertext as it goes on the wire: as is in DER, as an OCTET STRING piece in BER. */
  frame(cipherText: Buffer): Buffer[] {
    if (cipherText.length === 0) return []
    return this.definite ? [cipherText] : [header(Tag.OCTET_STRING, cipherText.length), cipherText]
  }

  /** What follows the last ciphertext: the MAC for AuthEnvelopedData, and end-of-contents in BER. */
  closing(lastCipherText: Buffer, authTag?: Buffer): Buffer[] {
    const out = this.frame(lastCipherText)
    if (!this.definite) out.push(END_OF_CONTENTS, END_OF_CONTENTS) // [0] encryptedContent, EncryptedContentInfo
    if (authTag) out.push(tlv(Tag.OCTET_STRING, authTag))
    // Closes the envelope, the [0] content and the ContentInfo.
    if (!this.definite) out.push(END_OF_CONTENTS, END_OF_CONTENTS, END_OF_CONTENTS)
    return out
  }

  private lengths(plainLength: number) {
    const t = this.template
    const cipherText = cipherTextLength(t.content, plainLength)
    const encryptedContentInfo = DATA.length + this.contentAlgorithm.length + headerLength(cipherText) + cipherText
    const envelope =
      t.version.length +
      this.recipientInfos.length +
      headerLength(encryptedContentInfo) +
      encryptedContentInfo +
      (t.content.authenticated ? MAC_TLV_LENGTH : 0)
    const explicit = headerLength(envelope) + envelope
    const contentInfo = t.contentType.length + headerLength(explicit) + explicit
    return {
      cipherText,
      encryptedContentInfo,
      envelope,
      explicit,
      contentInfo,
      total: headerLength(contentInfo) + contentInfo,
    }
  }
}

/** DES keys carry odd parity in the low bit of each byte (FIPS 46-3); strict receivers check it. */
function setOddParity(key: Buffer): void {
  for (let i = 0; i < key.length; i++) {
    let b = key[i]! & 0xfe
    let ones = 0
    for (let v = b; v; v >>= 1) ones += v & 1
    if (ones % 2 === 0) b |= 1
    key[i] = b
  }
}
