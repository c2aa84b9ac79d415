import * as asn1js from 'asn1js'
import { AlgorithmIdentifier, RSASSAPSSParams } from 'pkijs'
import { constants, type KeyObject, type SignKeyObjectInput } from 'node:crypto'
import { OID } from './oids.js'

/** The option values an encryptor's signer may name; the strings are part of the API. */
export const SIGNER_DIGESTS = ['sha256', 'sha384', 'sha512'] as const
export const SIGNATURE_SCHEMES = ['rsa-pkcs1-v1_5', 'rsa-pss', 'ecdsa'] as const
export const CERTIFICATE_INCLUSIONS = ['signer', 'chain', 'none'] as const
export const SIGNER_IDENTIFIERS = ['issuer-serial', 'subject-key-identifier'] as const

export type SignerDigestName = (typeof SIGNER_DIGESTS)[number]
export type SignatureSchemeName = (typeof SIGNATURE_SCHEMES)[number]
export type CertificateInclusion = (typeof CERTIFICATE_INCLUSIONS)[number]
export type SignerIdentifierName = (typeof SIGNER_IDENTIFIERS)[number]

export interface SignerOptions {
  digest: SignerDigestName
  signature: SignatureSchemeName
  includeCertificates: CertificateInclusion
  signerIdentifier: SignerIdentifierName
}

/** What a signer gets when it names only its key pair: the defaults of the API, per key type. */
export function signerDefaults(keyAlgorithm: 'RSA' | 'EC'): SignerOptions {
  return {
    digest: 'sha256',
    signature: keyAlgorithm === 'EC' ? 'ecdsa' : 'rsa-pkcs1-v1_5',
    includeCertificates: 'signer',
    signerIdentifier: 'issuer-serial',
  }
}

/** The key type a scheme needs: ECDSA signs with EC keys, both RSA schemes with RSA keys. */
export function keyAlgorithmOf(scheme: SignatureSchemeName): 'RSA' | 'EC' {
  return scheme === 'ecdsa' ? 'EC' : 'RSA'
}

const DIGEST_OID: Record<SignerDigestName, string> = {
  sha256: OID.sha256,
  sha384: OID.sha384,
  sha512: OID.sha512,
}
const DIGEST_LENGTH: Record<SignerDigestName, number> = { sha256: 32, sha384: 48, sha512: 64 }
const RSA_PKCS1_OID: Record<SignerDigestName, string> = {
  sha256: OID.sha256WithRsaEncryption,
  sha384: OID.sha384WithRsaEncryption,
  sha512: OID.sha512WithRsaEncryption,
}
const ECDSA_OID: Record<SignerDigestName, string> = {
  sha256: OID.ecdsaWithSha256,
  sha384: OID.ecdsaWithSha384,
  sha512: OID.ecdsaWithSha512,
}

const der = (schema: { toBER(): ArrayBuffer }) => Buffer.from(schema.toBER())

/**
 * DER of the digest AlgorithmIdentifier. The SHA-2 parameters are absent, as RFC 5754 2 says
 * implementations should write them (and OpenSSL does).
 */
export function digestAlgorithmIdentifier(digest: SignerDigestName): Buffer {
  return der(new AlgorithmIdentifier({ algorithmId: DIGEST_OID[digest] }).toSchema())
}

export function digestLength(digest: SignerDigestName): number {
  return DIGEST_LENGTH[digest]
}

/**
 * DER of the SignerInfo's signatureAlgorithm. RSA PKCS#1 v1.5: shaNNNWithRSAEncryption with NULL
 * parameters (RFC 5754 3.2). PSS: RSASSA-PSS with the digest as hash and MGF1 hash, salt as long as
 * the digest, trailer 1 (RFC 4056 2). ECDSA: ecdsa-with-SHAnnn, parameters absent (RFC 5753 7.1.3).
 */
export function signatureAlgorithmIdentifier(options: Pick<SignerOptions, 'digest' | 'signature'>): Buffer {
  const { digest, signature } = options
  if (signature === 'ecdsa') return der(new AlgorithmIdentifier({ algorithmId: ECDSA_OID[digest] }).toSchema())
  if (signature === 'rsa-pkcs1-v1_5') {
    return der(
      new AlgorithmIdentifier({ algorithmId: RSA_PKCS1_OID[digest], algorithmParams: new asn1js.Null() }).toSchema(),
    )
  }
  const hashAlgorithm = new AlgorithmIdentifier({ algorithmId: DIGEST_OID[digest] })
  const params = new RSASSAPSSParams({
    hashAlgorithm,
    maskGenAlgorithm: new AlgorithmIdentifier({ algorithmId: OID.mgf1, algorithmParams: hashAlgorithm.toSchema() }),
    saltLength: DIGEST_LENGTH[digest],
  })
  return der(new AlgorithmIdentifier({ algorithmId: OID.rsassaPss, algorithmParams: params.toSchema() }).toSchema())
}

/** node:crypto's key input for the scheme: PSS padding with a salt as long as the digest, DER ECDSA signatures. */
export function signingKey(
  privateKey: KeyObject,
  signature: SignatureSchemeName,
  digest: SignerDigestName,
): SignKeyObjectInput {
  if (signature === 'rsa-pss') {
    return { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: DIGEST_LENGTH[digest] }
  }
  if (signature === 'ecdsa') return { key: privateKey, dsaEncoding: 'der' }
  return { key: privateKey, padding: constants.RSA_PKCS1_PADDING }
}
