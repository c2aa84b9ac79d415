import { recordAudit, type Actor } from '../audit/audit.js'
import type { ReceiverCertificate } from '../cms/certificate.js'
import { encryptorRepository } from '../encryptors/repository.js'
import { prepareRecipients } from '../encryptors/recipients.js'
import { Errors } from '../errors.js'
import type { WriteContext } from '../store/transact.js'
import { loadCertificates } from './certificates.js'
import { keystoreRepository } from './repository.js'

/** A write in a transaction, attributed to an actor and, for renewal steps, to the renewal. */
export interface MutationContext extends WriteContext {
  actor: Actor
  renewalId?: string
  comment?: string
}

const fingerprintOf = (row: { sha256_fingerprint: string; version: number } | undefined) =>
  row ? { sha256Fingerprint: row.sha256_fingerprint, version: row.version } : null

/**
 * Stores `certificate` under `alias` (created, or replacing the current one, which goes to the
 * history), after proving that every encryptor using the alias still resolves. The one place a
 * certificate is written, for the keystore endpoints and renewal steps alike.
 */
export async function storeCertificate(ctx: MutationContext, alias: string, certificate: ReceiverCertificate) {
  const { tx } = ctx
  const existing = await keystoreRepository.find(tx, alias)
  if (existing?.sha256_fingerprint === certificate.sha256Fingerprint)
    return { created: false, changed: false, row: existing }
  await checkEncryptorsStillResolve(ctx, alias, certificate)
  const at = new Date().toISOString()
  const row = { alias, certificate: certificate.der, sha256_fingerprint: certificate.sha256Fingerprint, at }
  if (existing) {
    await keystoreRepository.retire(tx, existing, 'replaced', at)
    await keystoreRepository.replace(tx, { ...row, version: existing.version + 1 })
  } else {
    await keystoreRepository.insert(tx, { ...row, version: await keystoreRepository.nextVersion(tx, alias) })
  }
  const stored = (await keystoreRepository.find(tx, alias))!
  await recordAudit(tx, ctx.actor, {
    action: existing ? 'keystore.replace' : 'keystore.create',
    target: `keystore/${alias}`,
    before: fingerprintOf(existing),
    after: fingerprintOf(stored),
    renewalId: ctx.renewalId,
    comment: ctx.comment,
  })
  ctx.touched({ kind: 'keystore', alias })
  return { created: !existing, changed: true, row: stored }
}

/** Deletes `alias` (kept in its history), refused when an encryptor would be left unable to encrypt. */
export async function deleteCertificate(ctx: MutationContext, alias: string): Promise<void> {
  const { tx } = ctx
  const existing = await keystoreRepository.find(tx, alias)
  if (!existing) throw new Errors.ALIAS_NOT_FOUND(alias)
  await checkEncryptorsStillResolve(ctx, alias, undefined)
  await keystoreRepository.retire(tx, existing, 'deleted', new Date().toISOString())
  await keystoreRepository.delete(tx, alias)
  await recordAudit(tx, ctx.actor, {
    action: 'keystore.delete',
    target: `keystore/${alias}`,
    before: fingerprintOf(existing),
    after: null,
    renewalId: ctx.renewalId,
    comment: ctx.comment,
  })
  ctx.touched({ kind: 'keystore', alias })
}

/** Refuses a change to `alias` (a new certificate, or none) that would leave an encryptor unable to encrypt. */
async function checkEncryptorsStillResolve(
  { tx }: MutationContext,
  alias: string,
  replacement: ReceiverCertificate | undefined,
) {
  for (const encryptor of await encryptorRepository.using(tx, alias)) {
    const certificates = await loadCertificates(tx, encryptor.receiverAliases)
    if (replacement) certificates.set(alias, replacement)
    else certificates.delete(alias)
    try {
      prepareRecipients(encryptor.id, encryptor, certificates)
    } catch (err) {
      if (replacement) throw err // e.g. the new certificate lacks the subject key identifier the encryptor needs
      throw new Errors.ALIAS_IN_USE(
        `Alias "${alias}" cannot be deleted: encryptor "${encryptor.id}" would be left unable to encrypt (${(err as Error).message}) Remove the alias from the encryptor first.`,
      )
    }
  }
}
