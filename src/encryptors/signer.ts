import { CONTENT_ENCRYPTION, type ContentEncryptionName } from '../cms/algorithms.js'
import { keyAlgorithmOf, signerDefaults, type SignerOptions } from '../cms/signature-algorithms.js'
import { Errors } from '../errors.js'
import { presentAliases } from '../store/receiver-certificates.js'
import { signerCertificate } from '../store/signer-certificates.js'
import type { Executor } from '../store/schema.js'
import type { SignerSettings } from './encryptor.js'

/** A signer as a client names it: the key pair's alias, and any options it does not leave to the defaults. */
export type SignerInput = { alias: string } & Partial<SignerOptions>

/**
 * The signer an encryptor would sign with, every option resolved, or the catalogue error that says
 * why it cannot: the alias must hold a key pair (not a receiver certificate), the scheme must fit its
 * key, a subjectKeyIdentifier must be there to be named, and the content cipher must be CBC (see
 * SIGNER_CONTENT_ENCRYPTION). Reads only, in the caller's transaction.
 */
export async function resolveSigner(
  db: Executor,
  input: SignerInput | SignerSettings,
  contentEncryption: ContentEncryptionName,
): Promise<SignerSettings> {
  const { alias } = input
  const certificate = await signerCertificate(db, alias)
  if (!certificate) {
    throw new Errors.SIGNER_NOT_KEY_PAIR(
      (await presentAliases(db, [alias])).has(alias)
        ? `Alias "${alias}" holds a receiver certificate, not a key pair: a signer needs the private key too. ` +
            'Import the key pair under PUT /keystore/key-pairs/{alias}.'
        : `No key pair with alias "${alias}"; import it under PUT /keystore/key-pairs/{alias} first.`,
    )
  }
  const keyAlgorithm = certificate.publicKey.algorithm
  const settings: SignerSettings = { ...signerDefaults(keyAlgorithm), ...stripUndefined(input), alias }
  if (keyAlgorithmOf(settings.signature) !== keyAlgorithm) {
    throw new Errors.SIGNATURE_SCHEME_MISMATCH(
      `Key pair "${alias}" holds an ${keyAlgorithm} key, which cannot sign with "${settings.signature}"; ` +
        (keyAlgorithm === 'EC' ? 'use "ecdsa".' : 'use "rsa-pkcs1-v1_5" or "rsa-pss".'),
    )
  }
  if (settings.signerIdentifier === 'subject-key-identifier' && !certificate.subjectKeyIdentifier) {
    throw new Errors.SUBJECT_KEY_IDENTIFIER_MISSING(
      `The certificate of key pair "${alias}" has no subjectKeyIdentifier extension, so it cannot be named by one; ` +
        'use signerIdentifier "issuer-serial".',
    )
  }
  if (CONTENT_ENCRYPTION[contentEncryption].authenticated) throw new Errors.SIGNER_CONTENT_ENCRYPTION(contentEncryption)
  return settings
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}
