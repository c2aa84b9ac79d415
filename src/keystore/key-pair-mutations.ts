import { recordMutation, type MutationContext } from '../audit/audit.js'
import type { PublicKeyInfo } from '../cms/certificate.js'
import type { SigningKeyPair } from '../cms/key-pair.js'
import { Errors } from '../errors.js'
import { refuseAliasOwnedByRenewal, renewalOwningAlias } from '../store/active-renewals.js'
import { checkPreconditions, type Preconditions } from '../store/preconditions.js'
import type { Executor } from '../store/schema.js'
import { fireExpiring } from '../webhooks/timed-events.js'
import { publishAliasChange } from './change-event.js'
import type { KeyEncryptionKeys } from './key-encryption-key.js'
import { keyPairRepository, storedChain, type PublicKeyPairRow } from './key-pair-repository.js'
import type { AliasUsers } from './mutations.js'
import { keystoreRepository } from './repository.js'

/** What the audit log keeps of a key pair: which certificate, which version; never key material. */
const auditedPart = (row: { sha256_fingerprint: string; version: number } | undefined) =>
  row ? { sha256Fingerprint: row.sha256_fingerprint, version: row.version } : null

const target = (alias: string) => `keystore/key-pairs/${alias}`

/** The key type each signature scheme an encryptor may sign with needs (encryptors.signer_signature). */
const KEY_TYPE_OF_SCHEME: Record<string, PublicKeyInfo['algorithm']> = {
  'rsa-pkcs1-v1_5': 'RSA',
  'rsa-pss': 'RSA',
  ecdsa: 'EC',
}

const sameChain = (a: Buffer[], b: Buffer[]) => a.length === b.length && a.every((der, i) => der.equals(b[i]!))

/**
 * The guards of storing `pair` under `alias`, in order, before anything is written; reads only.
 * Answers the current row (undefined: a new alias) and whether the upload changes anything.
 */
export async function planKeyPairStore(
  db: Executor,
  users: AliasUsers,
  alias: string,
  pair: SigningKeyPair,
  preconditions: Preconditions | undefined,
  /** The renewal taking a step (signer-key's add-key-pair): it may store under the alias it owns. */
  renewalId?: string,
) {
  const existing = await keyPairRepository.findPublic(db, alias)
  checkPreconditions(`key pair "${alias}"`, existing?.version, preconditions)
  await refuseAliasHeldElsewhere(db, users, alias, renewalId)
  if (
    existing?.sha256_fingerprint === pair.certificate.sha256Fingerprint &&
    sameChain(storedChain(existing), pair.chain)
  ) {
    return { existing, action: 'unchanged' as const }
  }
  await refuseIncompatibleSigners(db, alias, pair.keyType)
  return { existing, action: existing ? ('replace' as const) : ('create' as const) }
}

/**
 * One alias names one thing: a receiver certificate, or a key pair. Receiver aliases are taken by a
 * certificate, by an encryptor that lists the alias before its certificate exists (missingAlias
 * "skip"), or by an active renewal that will store a certificate under it; each would otherwise find
 * a key pair where it expects a receiver.
 */
async function refuseAliasHeldElsewhere(db: Executor, users: AliasUsers, alias: string, renewalId?: string) {
  if (await keystoreRepository.find(db, alias)) {
    throw new Errors.ALIAS_TAKEN(
      `Alias "${alias}" holds a receiver certificate (/keystore/entries/${alias}); ` +
        'a key pair needs an alias of its own.',
    )
  }
  const receivers = await users.ids(db, alias)
  if (receivers.length > 0) {
    throw new Errors.ALIAS_TAKEN(
      `Alias "${alias}" is a receiver alias of encryptor(s) ${receivers.join(', ')}; ` +
        'a key pair needs an alias no encryptor lists as a receiver.',
    )
  }
  const owner = await renewalOwningAlias(db, alias)
  if (owner?.id !== renewalId) await refuseAliasOwnedByRenewal(db, alias)
}

/** An encryptor signing with `alias` keeps its signature scheme: the new key must be of the kind it needs. */
async function refuseIncompatibleSigners(db: Executor, alias: string, keyType: PublicKeyInfo) {
  for (const signer of await keyPairRepository.signers(db, alias)) {
    const needed = signer.signature ? KEY_TYPE_OF_SCHEME[signer.signature] : undefined
    if (needed && needed !== keyType.algorithm) {
      throw new Errors.SIGNATURE_SCHEME_MISMATCH(
        `Encryptor "${signer.id}" signs with key pair "${alias}" using ${signer.signature}, which needs an ` +
          `${needed} key; the upload holds an ${keyType.algorithm} key. Change the encryptor's signer first, ` +
          'or store this key pair under another alias.',
      )
    }
  }
}

/**
 * Stores `pair` under `alias` (created, or replacing the current one, whose public part goes to the
 * history) after every guard of planKeyPairStore. The private key is sealed under the version it is
 * stored as, so a sealed key copied to another alias or version never opens.
 */
export async function storeKeyPair(
  ctx: MutationContext,
  users: AliasUsers,
  keys: KeyEncryptionKeys,
  alias: string,
  pair: SigningKeyPair,
  preconditions?: Preconditions,
) {
  const { tx } = ctx
  const { existing, action } = await planKeyPairStore(tx, users, alias, pair, preconditions, ctx.renewalId)
  if (action === 'unchanged') return { created: false, changed: false, row: existing! }
  const at = new Date().toISOString()
  const version = existing ? existing.version + 1 : await keyPairRepository.nextVersion(tx, alias)
  const pkcs8 = pair.privateKey.export({ type: 'pkcs8', format: 'der' })
  let sealed: { kekId: string; wrapped: Buffer }
  try {
    sealed = keys.seal(pkcs8, { alias, version })
  } finally {
    pkcs8.fill(0)
  }
  const row = {
    alias,
    certificate: pair.certificate.der,
    sha256_fingerprint: pair.certificate.sha256Fingerprint,
    chain: pair.chain,
    wrapped_key: sealed.wrapped,
    kek_id: sealed.kekId,
    version,
    at,
  }
  if (existing) {
    await keyPairRepository.retire(tx, existing, 'replaced', at)
    await keyPairRepository.replace(tx, row)
  } else {
    await keyPairRepository.insert(tx, row)
  }
  const stored = (await keyPairRepository.findPublic(tx, alias))!
  const auditRecordId = await recordMutation(ctx, {
    action: existing ? 'key-pair.replace' : 'key-pair.create',
    target: target(alias),
    before: auditedPart(existing),
    after: auditedPart(stored),
  })
  const usedBy = await signerIds(tx, alias)
  await publishAliasChange(ctx, {
    type: 'key-pair.changed',
    target: target(alias),
    alias,
    change: existing ? 'replaced' : 'created',
    before: existing,
    certificate: pair.certificate,
    usedBy,
    auditRecordId,
  })
  // A signer certificate stored already inside an expiry threshold is told of now, not at the next round.
  await fireExpiring(ctx, { alias, certificate: pair.certificate, usedBy, kind: 'key-pair' }, new Date())
  // The resolver drops every encryptor that signs with (or lists) the alias.
  ctx.touched({ kind: 'keystore', alias })
  return { created: !existing, changed: true, row: stored }
}

/** Deletes the key pair under `alias` (its public part kept in history); refused while an encryptor signs with it. */
export async function deleteKeyPair(ctx: MutationContext, alias: string, preconditions?: Preconditions): Promise<void> {
  const { tx } = ctx
  const existing: PublicKeyPairRow | undefined = await keyPairRepository.findPublic(tx, alias)
  if (!existing) throw new Errors.KEY_PAIR_NOT_FOUND(alias)
  checkPreconditions(`key pair "${alias}"`, existing.version, preconditions)
  // Only a renewal's own steps delete a key pair it owns (signer-key's abort, remove-old-key-pair).
  const owner = await renewalOwningAlias(tx, alias)
  if (owner && owner.id !== ctx.renewalId) await refuseAliasOwnedByRenewal(tx, alias)
  const signers = await keyPairRepository.signers(tx, alias)
  if (signers.length > 0) {
    throw new Errors.ALIAS_IN_USE(
      `Key pair "${alias}" cannot be deleted: encryptor(s) ${signers.map((s) => s.id).join(', ')} sign with it. ` +
        'Change or remove their signer first.',
    )
  }
  await keyPairRepository.retire(tx, existing, 'deleted', new Date().toISOString())
  await keyPairRepository.delete(tx, alias)
  const auditRecordId = await recordMutation(ctx, {
    action: 'key-pair.delete',
    target: target(alias),
    before: auditedPart(existing),
    after: null,
  })
  await publishAliasChange(ctx, {
    type: 'key-pair.changed',
    target: target(alias),
    alias,
    change: 'deleted',
    before: existing,
    certificate: undefined,
    usedBy: [],
    auditRecordId,
  })
  ctx.touched({ kind: 'keystore', alias })
}

const signerIds = async (db: Executor, alias: string) => (await keyPairRepository.signers(db, alias)).map((s) => s.id)
