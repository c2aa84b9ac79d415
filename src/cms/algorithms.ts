import * as asn1js from 'asn1js'
import { AlgorithmIdentifier, RSAESOAEPParams } from 'pkijs'
import { constants } from 'node:crypto'
import { OID } from './oids.js'

/** The option values an encryptor may name; the strings are part of the API. */
export const CONTENT_ENCRYPTIONS = [
  'aes-128-cbc',
  'aes-192-cbc',
  'aes-256-cbc',
  'aes-128-gcm',
  'aes-256-gcm',
  'des-ede3-cbc',
] as const
export const KEY_TRANSPORTS = [
  'rsa-oaep-sha1',
  'rsa-oaep-sha256',
  'rsa-oaep-sha384',
  'rsa-oaep-sha512',
  'rsa-pkcs1-v1_5',
] as const
export const RECIPIENT_IDENTIFIERS = ['issuer-serial', 'subject-key-identifier'] as const

export type ContentEncryptionName = (typeof CONTENT_ENCRYPTIONS)[number]
export type KeyTransportName = (typeof KEY_TRANSPORTS)[number]
export type RecipientIdentifierName = (typeof RECIPIENT_IDENTIFIERS)[number]

export interface ContentEncryption {
  name: ContentEncryptionName
  oid: string
  /** OpenSSL cipher name for node:crypto. */
  cipher: string
  keyLength: number
  ivLength: number
  /** CBC block size (ciphertext is padded to it), or 0 for GCM (ciphertext as long as plaintext). */
  blockSize: number
  /** AEAD ciphers are emitted as AuthEnvelopedData (RFC 5083/5084), never inside EnvelopedData. */
  authenticated: boolean
}

const content = (
  name: ContentEncryptionName,
  oid: string,
  keyLength: number,
  ivLength: number,
  blockSize: number,
): ContentEncryption => ({
  name,
  oid,
  cipher: name,
  keyLength,
  ivLength,
  blockSize,
  authenticated: blockSize === 0,
})

export const CONTENT_ENCRYPTION: Record<ContentEncryptionName, ContentEncryption> = {
  'aes-128-cbc': content('aes-128-cbc', OID.aes128Cbc, 16, 16, 16),
  'aes-192-cbc': content('aes-192-cbc', OID.aes192Cbc, 24, 16, 16),
  'aes-256-cbc': content('aes-256-cbc', OID.aes256Cbc, 32, 16, 16),
  'aes-128-gcm': content('aes-128-gcm', OID.aes128Gcm, 16, 12, 0),
  'aes-256-gcm': content('aes-256-gcm', OID.aes256Gcm, 32, 12, 0),
  'des-ede3-cbc': content('des-ede3-cbc', OID.desEde3Cbc, 24, 8, 8),
}

/** GCM authentication tag length we emit (RFC 5084 aes-ICVlen); 16 is the strongest and OpenSSL's choice. */
export const GCM_TAG_LENGTH = 16

/** Ciphertext length for a plaintext of `plainLength` bytes. */
export function cipherTextLength(alg: ContentEncryption, plainLength: number): number {
  return alg.blockSize === 0 ? plainLength : plainLength + alg.blockSize - (plainLength % alg.blockSize)
}

export interface KeyTransport {
  name: KeyTransportName
  padding: number
  oaepHash?: string
  /** DER of the KeyEncryptionAlgorithmIdentifier, constant per option. */
  algorithmIdentifier: Buffer
}

const HASH_OID: Record<string, string> = { sha1: OID.sha1, sha256: OID.sha256, sha384: OID.sha384, sha512: OID.sha512 }

function der(schema: { toBER(): ArrayBuffer }): Buffer {
  return Buffer.from(schema.toBER())
}

/** RSAES-OAEP AlgorithmIdentifier (RFC 4055 4.1): hash and MGF1 hash alike, defaults (SHA-1) omitted. */
function oaepAlgorithmIdentifier(hash: string): Buffer {
  // RFC 4055 prefers absent hash parameters; OpenSSL writes them that way too.
  const hashAlgorithm = new AlgorithmIdentifier({ algorithmId: HASH_OID[hash]! })
  const params = new RSAESOAEPParams({
    hashAlgorithm,
    maskGenAlgorithm: new AlgorithmIdentifier({ algorithmId: OID.mgf1, algorithmParams: hashAlgorithm.toSchema() }),
  })
  return der(new AlgorithmIdentifier({ algorithmId: OID.rsaesOaep, algorithmParams: params.toSchema() }).toSchema())
}

const oaep = (name: KeyTransportName, hash: string): KeyTransport => ({
  name,
  padding: constants.RSA_PKCS1_OAEP_PADDING,
  oaepHash: hash,
  algorithmIdentifier: oaepAlgorithmIdentifier(hash),
})

export const KEY_TRANSPORT: Record<KeyTransportName, KeyTransport> = {
  'rsa-oaep-sha1': oaep('rsa-oaep-sha1', 'sha1'),
  'rsa-oaep-sha256': oaep('rsa-oaep-sha256', 'sha256'),
  'rsa-oaep-sha384': oaep('rsa-oaep-sha384', 'sha384'),
  'rsa-oaep-sha512': oaep('rsa-oaep-sha512', 'sha512'),
  'rsa-pkcs1-v1_5': {
    name: 'rsa-pkcs1-v1_5',
    padding: constants.RSA_PKCS1_PADDING,
    algorithmIdentifier: der(
      new AlgorithmIdentifier({ algorithmId: OID.rsaEncryption, algorithmParams: new asn1js.Null() }).toSchema(),
    ),
  },
}

/** EC curves we accept for receivers, keyed by node:crypto's name. */
export const EC_CURVES: Record<string, { name: 'P-256' | 'P-384' | 'P-521'; kdfHash: string; kdfOid: string }> = {
  prime256v1: { name: 'P-256', kdfHash: 'sha256', kdfOid: OID.dhSinglePassStdDhSha256Kdf },
  secp384r1: { name: 'P-384', kdfHash: 'sha384', kdfOid: OID.dhSinglePassStdDhSha384Kdf },
  secp521r1: { name: 'P-521', kdfHash: 'sha512', kdfOid: OID.dhSinglePassStdDhSha512Kdf },
}

/** AES key wrap (RFC 3394) matched to the content key length, as RFC 5753 8 recommends. */
export function keyWrapFor(contentKeyLength: number): { oid: string; cipher: string; keyLength: number } {
  if (contentKeyLength <= 16) return { oid: OID.aes128Wrap, cipher: 'id-aes128-wrap', keyLength: 16 }
  if (contentKeyLength <= 24) return { oid: OID.aes192Wrap, cipher: 'id-aes192-wrap', keyLength: 24 }
  return { oid: OID.aes256Wrap, cipher: 'id-aes256-wrap', keyLength: 32 }
}
