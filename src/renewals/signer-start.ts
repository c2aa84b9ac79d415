import { parseReceiverCertificate, type ReceiverCertificate } from '../cms/certificate.js'
import { decodeCertificateUpload } from '../cms/pem.js'
import type { Encryptor } from '../encryptors/encryptor.js'
import { findEncryptor } from '../encryptors/service.js'
import { Errors } from '../errors.js'
import { keystoreRepository } from '../keystore/repository.js'
import { renewalOfEncryptor, renewalOwningAlias } from '../store/active-renewals.js'
import type { Executor } from '../store/schema.js'
import { signerCertificate } from '../store/signer-certificates.js'
import type { StartRenewal } from './start-checks.js'

/** As the key-pair import requires (src/cms/key-pair.ts): the announcement is refused for what the key would be. */
const MIN_SIGNER_RSA_BITS = 2048

/**
 * The certificate a signer-key renewal announces: the new signer certificate the receivers will be
 * given to trust. Checked for signing here (keyUsage, validity); the add-key-pair step checks the
 * whole key pair against it, with every import check.
 */
export function validateSignerCertificateUpload(upload: Buffer, now = new Date()): ReceiverCertificate {
  const certificate = parseReceiverCertificate(decodeCertificateUpload(upload))
  const key = certificate.publicKey
  if (key.algorithm === 'RSA' && key.bits < MIN_SIGNER_RSA_BITS) {
    throw new Errors.KEY_TOO_WEAK(
      `The new signer certificate's RSA key has ${key.bits} bits; at least ${MIN_SIGNER_RSA_BITS} are required.`,
    )
  }
  if (certificate.keyUsage && !certificate.keyUsage.includes('digitalSignature')) {
    throw new Errors.KEY_USAGE_FORBIDS_SIGNING(
      `The new signer certificate's keyUsage (${certificate.keyUsage.join(', ') || 'empty'}) does not allow ` +
        'digitalSignature, which signing needs.',
    )
  }
  if (certificate.notAfter.getTime() < now.getTime())
    throw new Errors.CERTIFICATE_EXPIRED(`The new signer certificate expired on ${certificate.notAfter.toISOString()}.`)
  return certificate
}

/**
 * What the store must hold for a signer-key renewal to start: the encryptor signs with the current
 * alias, the new alias is free for a key pair, nothing else renews this encryptor or these aliases,
 * and the new certificate is another one that lasts at least as long.
 */
export async function checkSignerKeyStart(
  tx: Executor,
  input: StartRenewal,
  certificate: ReceiverCertificate,
): Promise<Encryptor> {
  const encryptor = await findEncryptor(tx, input.encryptorId)
  const { currentAlias } = input
  const newAlias = input.newAlias!
  const precondition = (message: string) => new Errors.RENEWAL_PRECONDITION(message)
  if (encryptor.signer?.alias !== currentAlias) {
    throw precondition(
      encryptor.signer
        ? `Encryptor "${encryptor.id}" signs with "${encryptor.signer.alias}", not "${currentAlias}".`
        : `Encryptor "${encryptor.id}" does not sign; a signer-key renewal renews the key pair it signs with.`,
    )
  }
  if ((await keystoreRepository.find(tx, newAlias)) || encryptor.receiverAliases.includes(newAlias))
    throw precondition(`"${newAlias}" is a receiver alias; the new key pair needs an alias of its own.`)
  if (await signerCertificate(tx, newAlias))
    throw precondition(`A key pair is stored under "${newAlias}" already; the add-key-pair step stores the new one.`)
  const busy =
    (await renewalOfEncryptor(tx, encryptor.id)) ??
    (await renewalOwningAlias(tx, currentAlias)) ??
    (await renewalOwningAlias(tx, newAlias))
  if (busy)
    throw new Errors.RENEWAL_IN_PROGRESS(
      `Renewal ${busy.id} (${busy.procedure} of encryptor "${busy.encryptor_id}") ` +
        'is still active for this encryptor or alias; finish or abort it first.',
    )
  const old = (await signerCertificate(tx, currentAlias))!
  if (old.sha256Fingerprint === certificate.sha256Fingerprint)
    throw new Errors.RENEWAL_INVALID(`The new certificate is the one already under "${currentAlias}".`)
  if (certificate.notAfter < old.notAfter) {
    throw new Errors.RENEWAL_INVALID(
      `The new certificate expires (${certificate.notAfter.toISOString()}) before the current one ` +
        `(${old.notAfter.toISOString()}); a renewal must not shorten the signer's validity.`,
    )
  }
  if (encryptor.signer.signerIdentifier === 'subject-key-identifier' && !certificate.subjectKeyIdentifier) {
    throw new Errors.SUBJECT_KEY_IDENTIFIER_MISSING(
      `Encryptor "${encryptor.id}" names its signer by subjectKeyIdentifier, and the new certificate has none.`,
    )
  }
  return encryptor
}
