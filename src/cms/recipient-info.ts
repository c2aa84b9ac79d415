import { AlgorithmIdentifier, ECCCMSSharedInfo } from 'pkijs'
import * as asn1js from 'asn1js'
import { createCipheriv, createECDH, createHash, publicEncrypt } from 'node:crypto'
import { Errors } from '../errors.js'
import {
  EC_CURVES,
  KEY_TRANSPORT,
  keyWrapFor,
  type ContentEncryption,
  type KeyTransportName,
  type RecipientIdentifierName,
} from './algorithms.js'
import type { ReceiverCertificate } from './certificate.js'
import { smallInteger, Tag, tlv } from './der.js'
import { OID } from './oids.js'

/** RFC 3394 2.2.3.1: the default initial value of AES key wrap. */
const AES_WRAP_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex')

/**
 * One receiver, ready to encrypt for: its key imported and every constant part of its
 * RecipientInfo (RFC 5652 6.2) encoded once, so a message only pays for the public-key operation.
 */
export interface PreparedRecipient {
  alias: string
  /** RecipientInfo version: 0 (ktri by issuer and serial), 2 (ktri by subject key identifier), 3 (kari). */
  version: number
  /** The DER RecipientInfo carrying `contentKey` for this receiver. */
  encode(contentKey: Buffer): Buffer
}

export interface RecipientOptions {
  keyTransport: KeyTransportName
  recipientIdentifier: RecipientIdentifierName
  content: ContentEncryption
}

export function prepareRecipient(
  alias: string,
  cert: ReceiverCertificate,
  options: RecipientOptions,
): PreparedRecipient {
  if (options.recipientIdentifier === 'subject-key-identifier' && !cert.subjectKeyIdentifier) {
    throw new Errors.SUBJECT_KEY_IDENTIFIER_MISSING(
      `The certificate under alias "${alias}" has no subjectKeyIdentifier extension, ` +
        'so it cannot be identified by subject key identifier. ' +
        'Use recipientIdentifier "issuer-serial" or a certificate with that extension.',
    )
  }
  return cert.publicKey.algorithm === 'RSA'
    ? keyTransRecipient(alias, cert, options)
    : keyAgreeRecipient(alias, cert, options)
}

/** KeyTransRecipientInfo (RFC 5652 6.2.1): the content key encrypted with the receiver's RSA key. */
function keyTransRecipient(alias: string, cert: ReceiverCertificate, options: RecipientOptions): PreparedRecipient {
  const transport = KEY_TRANSPORT[options.keyTransport]
  const bySki = options.recipientIdentifier === 'subject-key-identifier'
  // version 0 with issuerAndSerialNumber, 2 with subjectKeyIdentifier [0] IMPLICIT.
  const prefix = Buffer.concat([
    smallInteger(bySki ? 2 : 0),
    bySki ? tlv(0x80, cert.subjectKeyIdentifier!) : cert.issuerAndSerialNumber,
    transport.algorithmIdentifier,
  ])
  const key = { key: cert.keyObject, padding: transport.padding, oaepHash: transport.oaepHash }
  // publicEncrypt reads the content key where it lies (no copy on our side); OpenSSL clears its own
  // padded copy. The output is the encrypted key, nothing to wipe. The caller wipes the content key.
  return {
    alias,
    version: bySki ? 2 : 0,
    encode: (contentKey) => tlv(Tag.SEQUENCE, prefix, tlv(Tag.OCTET_STRING, publicEncrypt(key, contentKey))),
  }
}

/**
 * KeyAgreeRecipientInfo (RFC 5652 6.2.2) with ephemeral-static ECDH, the ANSI X9.63 KDF and AES key
 * wrap, as RFC 5753 3.1 specifies: a fresh ephemeral key per message, so messages are unlinkable.
 */
function keyAgreeRecipient(alias: string, cert: ReceiverCertificate, options: RecipientOptions): PreparedRecipient {
  const curveName = cert.keyObject.asymmetricKeyDetails!.namedCurve!
  const curve = EC_CURVES[curveName]!
  const wrap = keyWrapFor(options.content.keyLength)
  const wrapAlgorithm = new AlgorithmIdentifier({ algorithmId: wrap.oid })
  const keyEncryptionAlgorithm = Buffer.from(
    new AlgorithmIdentifier({ algorithmId: curve.kdfOid, algorithmParams: wrapAlgorithm.toSchema() })
      .toSchema()
      .toBER(),
  )
  const suppPubInfo = Buffer.alloc(4)
  suppPubInfo.writeUInt32BE(wrap.keyLength * 8)
  const sharedInfo = Buffer.from(
    new ECCCMSSharedInfo({ keyInfo: wrapAlgorithm, suppPubInfo: new asn1js.OctetString({ valueHex: suppPubInfo }) })
      .toSchema()
      .toBER(),
  )
  // RFC 5753: the originator key's id-ecPublicKey parameters are absent (the curve is the receiver's).
  const originatorAlgorithm = Buffer.from(new AlgorithmIdentifier({ algorithmId: OID.ecPublicKey }).toSchema().toBER())
  const rid =
    options.recipientIdentifier === 'subject-key-identifier'
      ? // rKeyId [0] IMPLICIT RecipientKeyIdentifier
        tlv(Tag.CONTEXT_0, tlv(Tag.OCTET_STRING, cert.subjectKeyIdentifier!))
      : cert.issuerAndSerialNumber
  const version = smallInteger(3)
  const receiverPoint = cert.ecPoint!

  return {
    alias,
    version: 3,
    encode(contentKey) {
      const ephemeral = createECDH(curveName)
      const ephemeralPoint = ephemeral.generateKeys()
      // The shared secret (its own allocation, made by Node) and the KEK derived from it open the
      // content key as surely as the receiver's private key: both are wiped once the key is wrapped.
      // The ephemeral private key stays inside OpenSSL (the ECDH object), which clears it when the
      // object is collected. setPrivateKey() would free it now, at the price of a scalar multiplication
      // (+10 % per P-256 recipient, +35 % per P-384 one, docs/performance.md): not done.
      const sharedSecret = ephemeral.computeSecret(receiverPoint)
      let kek: Buffer | undefined
      let encryptedKey: Buffer
      try {
        kek = x963Kdf(curve.kdfHash, sharedSecret, sharedInfo, wrap.keyLength)
        // As for the content cipher, OpenSSL holds the KEK's key schedule and clears it at final().
        const wrapper = createCipheriv(wrap.cipher, kek, AES_WRAP_IV)
        encryptedKey = Buffer.concat([wrapper.update(contentKey), wrapper.final()])
      } finally {
        sharedSecret.fill(0)
        kek?.fill(0)
      }
      const originator = tlv(
        Tag.CONTEXT_0,
        tlv(Tag.CONTEXT_1, originatorAlgorithm, tlv(Tag.BIT_STRING, Buffer.of(0), ephemeralPoint)),
      )
      const recipientEncryptedKeys = tlv(Tag.SEQUENCE, tlv(Tag.SEQUENCE, rid, tlv(Tag.OCTET_STRING, encryptedKey)))
      return tlv(Tag.CONTEXT_1, version, originator, keyEncryptionAlgorithm, recipientEncryptedKeys)
    },
  }
}

/**
 * ANSI X9.63 KDF (SEC 1 3.6.1): Hash(Z || counter || SharedInfo), counter from 1, truncated. The
 * output is a key: it gets an allocation of its own for the caller to wipe, and the digests it is
 * cut from are wiped here (Node's hash objects clear their own state when freed).
 */
export function x963Kdf(hash: string, secret: Buffer, sharedInfo: Buffer, length: number): Buffer {
  const out = Buffer.allocUnsafeSlow(length)
  const counter = Buffer.alloc(4)
  for (let i = 1, produced = 0; produced < length; i++) {
    counter.writeUInt32BE(i)
    const block = createHash(hash).update(secret).update(counter).update(sharedInfo).digest()
    produced += block.copy(out, produced)
    block.fill(0)
  }
  return out
}
