import * as asn1js from 'asn1js'
import { createCipheriv, type CipherGCM } from 'node:crypto'

/** What createCipheriv returns: `Cipher` in @types/node 20, `Cipheriv` from 22 on. */
type Cipher = ReturnType<typeof createCipheriv>
import { cipherTextLength, GCM_TAG_LENGTH, type ContentEncryption } from './algorithms.js'
import type { CipherSpec } from './cipher-workers.js'
import { END_OF_CONTENTS, header, headerLength, indefiniteHeader, smallInteger, sortSetOf, Tag, tlv } from './der.js'
import { OID } from './oids.js'
import type { PreparedRecipient } from './recipient-info.js'
import { randomPool } from './random-pool.js'

const oid = (value: string) => Buffer.from(new asn1js.ObjectIdentifier({ value }).toBER())
const DATA = oid(OID.data)
const SIGNED_DATA = oid(OID.signedData)
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
  /** DER of the encrypted content's type: id-data, or id-signedData when a SignedData is enveloped. */
  readonly encryptedContentType: Buffer

  constructor(
    readonly recipients: readonly PreparedRecipient[],
    readonly content: ContentEncryption,
    inner: 'data' | 'signedData' = 'data',
  ) {
    if (recipients.length === 0) throw new RangeError('an envelope needs at least one recipient')
    // RFC 5083 2.1 wants authAttrs for any inner type but id-data, which OpenSSL 3 cannot read: refused above us.
    if (inner === 'signedData' && content.authenticated) throw new RangeError('AuthEnvelopedData carries id-data only')
    this.encryptedContentType = inner === 'signedData' ? SIGNED_DATA : DATA
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
  /**
   * The content key, in an allocation of its own (random-pool.ts), until it is used: handed to the
   * local cipher or to a worker, or wiped by dispose(). Null from then on.
   */
  private contentKey: Buffer | null
  private readonly iv: Buffer
  private localCipher: Cipher | null = null
  private localCipherFinished = false
  private definite = true

  constructor(private readonly template: EnvelopeTemplate) {
    const alg = template.content
    const contentKey = randomPool.take(alg.keyLength)
    try {
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
      this.iv = iv
    } catch (err) {
      contentKey.fill(0)
      throw err
    }
    this.contentKey = contentKey
  }

  /**
   * The content cipher's parameters, for running it elsewhere (a worker thread). The key moves into
   * the spec without a copy (its own ArrayBuffer, for a transfer): the receiver wipes it, and this
   * message no longer holds it. Use frame() and closing() on what that cipher produces.
   */
  takeCipherSpec(): CipherSpec {
    const key = this.contentKey
    if (!key) throw new Error('the content key was already used')
    this.contentKey = null
    return {
      cipher: this.template.content.cipher,
      key,
      iv: this.iv,
      authTagLength: this.template.content.authenticated ? GCM_TAG_LENGTH : undefined,
    }
  }

  /**
   * Starts the content cipher on this thread now and wipes the key. node:crypto copies the key (into
   * a temporary it clears) and OpenSSL expands it into the key schedule of its EVP context; OpenSSL
   * clears that when the context is freed, which Node does at final() (dispose() ends an unfinished
   * cipher for that reason). That copy is out of our reach, and in the right hands.
   */
  startLocalCipher(): Cipher {
    if (this.localCipher) return this.localCipher
    const alg = this.template.content
    const key = this.contentKey
    if (!key) throw new Error('the content key was already used')
    try {
      this.localCipher = alg.authenticated
        ? createCipheriv(alg.cipher as 'aes-256-gcm', key, this.iv, { authTagLength: GCM_TAG_LENGTH })
        : createCipheriv(alg.cipher, key, this.iv)
      return this.localCipher
    } finally {
      key.fill(0)
      this.contentKey = null
    }
  }

  /**
   * Wipes the content key if it is still held (a message abandoned before its cipher started) and
   * ends an unfinished local cipher, so OpenSSL frees its context and key schedule now, not at GC.
   * Idempotent; call it on every way out (seal does; the encrypt stream does on destroy).
   */
  dispose(): void {
    this.contentKey?.fill(0)
    this.contentKey = null
    if (!this.localCipher || this.localCipherFinished) return
    this.localCipherFinished = true
    try {
      this.localCipher.final()
    } catch {
      // Its output is discarded anyway; what matters is that Node freed the context.
    }
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
        t.encryptedContentType,
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
      t.encryptedContentType,
      this.contentAlgorithm,
      header(Tag.CONTEXT_0_PRIMITIVE, l.cipherText),
    ])
  }

  /** The whole ContentInfo, DER, for a payload held in memory. The key is wiped on return, or on a throw. */
  seal(payload: Buffer): Buffer {
    try {
      this.startLocalCipher()
      return Buffer.concat([this.head(payload.length), ...this.update(payload), ...this.final()])
    } finally {
      this.dispose()
    }
  }

  /** Encrypts a chunk; returns the bytes to write (in BER mode each piece is its own OCTET STRING). */
  update(chunk: Buffer): Buffer[] {
    return this.frame(this.startLocalCipher().update(chunk))
  }

  /** Last ciphertext block, the MAC for AuthEnvelopedData, and the closing end-of-contents in BER mode. */
  final(): Buffer[] {
    const cipher = this.startLocalCipher()
    this.localCipherFinished = true // Node frees the context in final(), even when it throws
    const last = cipher.final()
    return this.closing(last, this.template.content.authenticated ? (cipher as CipherGCM).getAuthTag() : undefined)
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
    const encryptedContentInfo =
      t.encryptedContentType.length + this.contentAlgorithm.length + headerLength(cipherText) + cipherText
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
