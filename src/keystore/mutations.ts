import { recordMutation, type MutationContext } from '../audit/audit.js'
import type { ReceiverCertificate } from '../cms/certificate.js'
import { Errors } from '../errors.js'
import type { Executor } from '../store/schema.js'
import { fireExpiring } from '../webhooks/timed-events.js'
import { publishAliasChange } from './change-event.js'
import { keyPairRepository } from './key-pair-repository.js'
import { keystoreRepository } from './repository.js'

/**
 * What the keystore asks of the encryptors that list an alias. Encryptors sit beside the keystore,
 * not below it, so the keystore names only this interface: encryptors/alias-users.ts implements it,
 * plugins/services.ts hands it to the keystore service and renewals hand it to these mutations.
 */
export interface AliasUsers {
  /** Ids of the encryptors that list `alias`, in id order. */
  ids(db: Executor, alias: string): Promise<string[]>
  /**
   * Throws the catalogue error that says why, when `alias` holding `replacement` (undefined: no
   * certificate at all) would leave an encryptor that lists it unable to encrypt.
   */
  checkChange(db: Executor, alias: string, replacement: ReceiverCertificate | undefined): Promise<void>
}

const fingerprintOf = (row: { sha256_fingerprint: string; version: number } | undefined) =>
  row ? { sha256Fingerprint: row.sha256_fingerprint, version: row.version } : null

/**
 * Stores `certificate` under `alias` (created, or replacing the current one, which goes to the
 * history), after proving that every encryptor using the alias still resolves. The one place a
 * certificate is written, for the keystore endpoints and renewal steps alike.
 */
export async function storeCertificate(
  ctx: MutationContext,
  users: AliasUsers,
  alias: string,
  certificate: ReceiverCertificate,
) {
  const { tx } = ctx
  const { existing, action } = await planStore(tx, users, alias, certificate)
  if (action === 'unchanged') return { created: false, changed: false, row: existing! }
  const at = new Date().toISOString()
  const row = { alias, certificate: certificate.der, sha256_fingerprint: certificate.sha256Fingerprint, at }
  if (existing) {
    await keystoreRepository.retire(tx, existing, 'replaced', at)
    await keystoreRepository.replace(tx, { ...row, version: existing.version + 1 })
  } else {
    await keystoreRepository.insert(tx, { ...row, version: await keystoreRepository.nextVersion(tx, alias) })
  }
  const stored = (await keystoreRepository.find(tx, alias))!
  const auditRecordId = await recordMutation(ctx, {
    action: existing ? 'keystore.replace' : 'keystore.create',
    target: `keystore/${alias}`,
    before: fingerprintOf(existing),
    after: fingerprintOf(stored),
  })
  const usedBy = await users.ids(tx, alias)
  await publishAliasChange(ctx, {
    type: 'keystore.changed',
    target: `keystore/${alias}`,
    alias,
    change: existing ? 'replaced' : 'created',
    before: existing,
    certificate,
    usedBy,
    auditRecordId,
  })
  // A certificate stored already inside an expiry threshold is told of now, not at the scheduler's next round.
  await fireExpiring(ctx, { alias, certificate, usedBy }, new Date())
  ctx.touched({ kind: 'keystore', alias })
  return { created: !existing, changed: true, row: stored }
}

/**
 * What storing `certificate` under `alias` would do, and the proof that it may: the same certificate
 * again changes nothing; a new one must leave every encryptor listing the alias able to encrypt.
 * Reads only, so a check of an upload (POST .../check) runs it as the store does.
 */
export async function planStore(db: Executor, users: AliasUsers, alias: string, certificate: ReceiverCertificate) {
  // One alias names one thing; checked here, in the writer's transaction, so renewal steps honour it too.
  if (await keyPairRepository.exists(db, alias)) {
    throw new Errors.ALIAS_TAKEN(
      `Alias "${alias}" holds one of the tenant's key pairs (/keystore/key-pairs/${alias}); ` +
        'a receiver certificate needs an alias of its own.',
    )
  }
  const existing = await keystoreRepository.find(db, alias)
  if (existing?.sha256_fingerprint === certificate.sha256Fingerprint) return { existing, action: 'unchanged' as const }
  await users.checkChange(db, alias, certificate)
  return { existing, action: existing ? ('replace' as const) : ('create' as const) }
}

/** Deletes `alias` (kept in its history), refused when an encryptor would be left unable to encrypt. */
export async function deleteCertificate(ctx: MutationContext, users: AliasUsers, alias: string): Promise<void> {
  const { tx } = ctx
  const existing = await keystoreRepository.find(tx, alias)
  if (!existing) throw new Errors.ALIAS_NOT_FOUND(alias)
  await users.checkChange(tx, alias, undefined)
  await keystoreRepository.retire(tx, existing, 'deleted', new Date().toISOString())
  await keystoreRepository.delete(tx, alias)
  const auditRecordId = await recordMutation(ctx, {
    action: 'keystore.delete',
    target: `keystore/${alias}`,
    before: fingerprintOf(existing),
    after: null,
  })
  await publishAliasChange(ctx, {
    type: 'keystore.changed',
    target: `keystore/${alias}`,
    alias,
    change: 'deleted',
    before: existing,
    certificate: undefined,
    usedBy: await users.ids(tx, alias),
    auditRecordId,
  })
  ctx.touched({ kind: 'keystore', alias })
}
