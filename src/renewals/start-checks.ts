import type { ReceiverCertificate } from '../cms/certificate.js'
import { checkAliasLimit } from '../encryptors/alias-limit.js'
import { prepareRecipients } from '../encryptors/recipients.js'
import type { Encryptor } from '../encryptors/encryptor.js'
import { findEncryptor } from '../encryptors/service.js'
import { Errors } from '../errors.js'
import { keystoreRepository } from '../keystore/repository.js'
import { renewalOfEncryptor, renewalOwningAlias } from '../store/active-renewals.js'
import { loadCertificates, storedCertificate } from '../store/receiver-certificates.js'
import type { Executor } from '../store/schema.js'
import { PROCEDURE, type Procedure } from './procedures.js'
import { checkSignerKeyStart } from './signer-start.js'

export interface StartRenewal {
  procedure: Procedure
  encryptorId: string
  currentAlias: string
  newAlias?: string
  /** The receiver's new certificate (signer-key: our new signer certificate), PEM (or DER bytes). */
  certificate: Buffer
  downtime?: { start: string; end: string }
}

/**
 * The guards of a renewal start, in the order a client meets them, all before anything is written:
 * first what the request itself must say, then what the store must hold.
 */
export function checkStartInput(input: StartRenewal): void {
  const definition = PROCEDURE[input.procedure]
  if (definition.newAlias === 'required' && !input.newAlias) {
    throw new Errors.RENEWAL_INVALID(
      `The ${input.procedure} procedure needs "newAlias": the alias the new ` +
        `${input.procedure === 'signer-key' ? 'key pair' : 'certificate'} goes under.`,
    )
  }
  if (definition.newAlias === 'refused' && input.newAlias) {
    throw new Errors.RENEWAL_INVALID(
      `The ${input.procedure} procedure keeps the current alias; "newAlias" is not taken.`,
    )
  }
  if (input.newAlias === input.currentAlias)
    throw new Errors.RENEWAL_INVALID('"newAlias" must differ from "currentAlias".')
  if (input.downtime && input.procedure !== 'downtime')
    throw new Errors.RENEWAL_INVALID('"downtime" is only for the downtime procedure.')
  if (input.downtime && Date.parse(input.downtime.start) >= Date.parse(input.downtime.end)) {
    throw new Errors.RENEWAL_INVALID('The downtime window must end after it starts.')
  }
}

/** What the store must hold for `input` to start; answers the encryptor being renewed. */
export async function checkStartPreconditions(
  tx: Executor,
  input: StartRenewal,
  certificate: ReceiverCertificate,
): Promise<Encryptor> {
  if (input.procedure === 'signer-key') return checkSignerKeyStart(tx, input, certificate)
  const encryptor = await findEncryptor(tx, input.encryptorId)
  const { currentAlias, newAlias } = input
  const precondition = (message: string) => new Errors.RENEWAL_PRECONDITION(message)
  if (!encryptor.receiverAliases.includes(currentAlias))
    throw precondition(`Encryptor "${encryptor.id}" does not list the current alias "${currentAlias}".`)
  const current = await keystoreRepository.find(tx, currentAlias)
  if (!current) throw precondition(`The keystore has no certificate under the current alias "${currentAlias}".`)
  if (input.procedure === 'add-alias') {
    if (encryptor.receiverAliases.includes(newAlias!))
      throw precondition(`Encryptor "${encryptor.id}" already lists "${newAlias}"; the add-alias procedure adds it.`)
    if (await keystoreRepository.find(tx, newAlias!))
      throw precondition(`The keystore already has a certificate under "${newAlias}"; choose a new alias.`)
  }
  if (input.procedure === 'prepared-alias') {
    if (!encryptor.receiverAliases.includes(newAlias!))
      throw precondition(
        `Encryptor "${encryptor.id}" does not list the prepared alias "${newAlias}"; ` +
          'add it (missingAlias "skip") or use the add-alias procedure.',
      )
    if (await keystoreRepository.find(tx, newAlias!))
      throw precondition(`The prepared alias "${newAlias}" already has a certificate; the slot must be empty.`)
    if (encryptor.missingAlias !== 'skip')
      throw precondition(
        `Encryptor "${encryptor.id}" has missingAlias "${encryptor.missingAlias}"; ` +
          'a prepared empty slot needs "skip".',
      )
  }
  const busy =
    (await renewalOfEncryptor(tx, encryptor.id)) ??
    (await renewalOwningAlias(tx, currentAlias)) ??
    (newAlias ? await renewalOwningAlias(tx, newAlias) : undefined)
  if (busy)
    throw new Errors.RENEWAL_IN_PROGRESS(
      `Renewal ${busy.id} (${busy.procedure} of encryptor "${busy.encryptor_id}") ` +
        'is still active for this encryptor or alias; finish or abort it first.',
    )
  // The add-alias step appends the new alias on top of the encryptor's own: refused now rather than
  // half-way, if the encryptor holds more than its own limit (a list saved before it was enforced).
  if (input.procedure === 'add-alias')
    checkAliasLimit(encryptor.id, encryptor.receiverAliases, [...encryptor.receiverAliases, newAlias!], newAlias!)
  const old = storedCertificate(current)
  if (old.sha256Fingerprint === certificate.sha256Fingerprint)
    throw new Errors.RENEWAL_INVALID(`The new certificate is the one already under "${currentAlias}".`)
  if (certificate.notAfter < old.notAfter) {
    throw new Errors.RENEWAL_INVALID(
      `The new certificate expires (${certificate.notAfter.toISOString()}) ` +
        `before the current one (${old.notAfter.toISOString()}); ` +
        "a renewal must not shorten the receiver's validity.",
    )
  }
  // The encryptor must be able to use the new certificate (e.g. it needs a subject key identifier).
  const after = await loadCertificates(tx, encryptor.receiverAliases)
  after.set(newAlias ?? currentAlias, certificate)
  prepareRecipients(
    encryptor.id,
    { ...encryptor, receiverAliases: [...new Set([...encryptor.receiverAliases, newAlias ?? currentAlias])] },
    after,
  )
  return encryptor
}
