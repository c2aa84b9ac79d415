import { recordMutation, type MutationContext } from '../audit/audit.js'
import { aliasAddedByRenewal } from '../store/active-renewals.js'
import { loadCertificates } from '../store/receiver-certificates.js'
import { checkAliasLimit, MAX_RECEIVER_ALIASES } from './alias-limit.js'
import type { Encryptor, EncryptorPause, EncryptorSettings, SignerSettings } from './encryptor.js'
import { prepareRecipients } from './recipients.js'
import { resolveSigner } from './signer.js'
import { encryptorRepository } from './repository.js'
import { orderingKeyOf, publishEvent } from '../webhooks/outbox.js'

const auditView = (e: Encryptor | undefined) =>
  e ? { receiverAliases: e.receiverAliases, version: e.version, ...(e.signer ? { signer: e.signer.alias } : {}) } : null

/**
 * Saves new settings for an encryptor after proving they keep within the alias limit and still resolve
 * to a recipient; unchanged settings change nothing. The one place an encryptor is written, for its
 * endpoints and renewal steps, so the one place the limit is enforced.
 */
export async function saveEncryptor(
  ctx: MutationContext,
  id: string,
  current: Encryptor | undefined,
  settings: EncryptorSettings,
  action: string,
): Promise<{ changed: boolean; encryptor: Encryptor }> {
  if (current && sameSettings(current, settings)) return { changed: false, encryptor: current }
  const aliases = settings.receiverAliases
  // Only a list past the encryptor's own limit needs to know whether a renewal's alias is among them.
  if (aliases.length > MAX_RECEIVER_ALIASES)
    checkAliasLimit(id, current?.receiverAliases ?? [], aliases, await aliasAddedByRenewal(ctx.tx, id))
  prepareRecipients(id, settings, await loadCertificates(ctx.tx, settings.receiverAliases))
  if (settings.signer) await resolveSigner(ctx.tx, settings.signer, settings.contentEncryption)
  const at = new Date().toISOString()
  const encryptor: Encryptor = {
    ...settings,
    id,
    version: (current?.version ?? 0) + 1,
    createdAt: current?.createdAt ?? at,
    updatedAt: at,
    pause: current?.pause ?? null,
  }
  await encryptorRepository.save(ctx.tx, encryptor, current !== undefined)
  const auditRecordId = await recordMutation(ctx, {
    action,
    target: `encryptors/${id}`,
    before: auditView(current),
    after: auditView(encryptor),
  })
  await publishEncryptorChange(ctx, current ? 'changed' : 'created', current, encryptor, auditRecordId)
  ctx.touched({ kind: 'encryptor', id })
  return { changed: true, encryptor }
}

export async function deleteEncryptor(ctx: MutationContext, current: Encryptor): Promise<void> {
  await encryptorRepository.delete(ctx.tx, current.id)
  const auditRecordId = await recordMutation(ctx, {
    action: 'encryptor.delete',
    target: `encryptors/${current.id}`,
    before: auditView(current),
    after: null,
  })
  await publishEncryptorChange(ctx, 'deleted', current, undefined, auditRecordId)
  ctx.touched({ kind: 'encryptor', id: current.id })
}

/** Pauses (downtime) or resumes an encryptor: while paused, encrypt answers 503 with Retry-After. */
export async function setEncryptorPause(ctx: MutationContext, id: string, pause: EncryptorPause | null): Promise<void> {
  await encryptorRepository.setPause(ctx.tx, id, pause)
  const auditRecordId = await recordMutation(ctx, {
    action: pause ? 'encryptor.pause' : 'encryptor.resume',
    target: `encryptors/${id}`,
    after: pause ? { pausedUntil: pause.until } : null,
  })
  await publishEvent(ctx, {
    type: pause ? 'encryptor.paused' : 'encryptor.resumed',
    orderingKey: orderingKeyOf(ctx, `encryptors/${id}`),
    data: {
      encryptorId: id,
      pausedUntil: pause?.until ?? null,
      by: ctx.actor.name,
      renewalId: ctx.renewalId ?? null,
      auditRecordId,
    },
  })
  ctx.touched({ kind: 'encryptor', id })
}

/** `encryptor.changed`: the receiver aliases before and after (the settings a receiver's people care about). */
async function publishEncryptorChange(
  ctx: MutationContext,
  change: 'created' | 'changed' | 'deleted',
  before: Encryptor | undefined,
  after: Encryptor | undefined,
  auditRecordId: number,
) {
  const id = (after ?? before)!.id
  await publishEvent(ctx, {
    type: 'encryptor.changed',
    orderingKey: orderingKeyOf(ctx, `encryptors/${id}`),
    data: {
      encryptorId: id,
      change,
      receiverAliases: after?.receiverAliases ?? null,
      previousReceiverAliases: before?.receiverAliases ?? null,
      version: after?.version ?? null,
      by: ctx.actor.name,
      renewalId: ctx.renewalId ?? null,
      auditRecordId,
    },
  })
}

function sameSettings(a: EncryptorSettings, b: EncryptorSettings): boolean {
  return (
    a.receiverAliases.join('\n') === b.receiverAliases.join('\n') &&
    a.contentEncryption === b.contentEncryption &&
    a.keyTransport === b.keyTransport &&
    a.recipientIdentifier === b.recipientIdentifier &&
    a.missingAlias === b.missingAlias &&
    a.encoding === b.encoding &&
    sameSigner(a.signer, b.signer)
  )
}

function sameSigner(a: SignerSettings | null, b: SignerSettings | null): boolean {
  if (!a || !b) return a === b
  return (
    a.alias === b.alias &&
    a.digest === b.digest &&
    a.signature === b.signature &&
    a.includeCertificates === b.includeCertificates &&
    a.signerIdentifier === b.signerIdentifier
  )
}
