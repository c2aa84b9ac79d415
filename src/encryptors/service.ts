import type { Kysely } from 'kysely'
import type { Actor } from '../audit/audit.js'
import { Errors } from '../errors.js'
import { refuseEncryptorChangeDuringRenewal } from '../store/active-renewals.js'
import type { ChangeFeed } from '../store/changes.js'
import { checkPreconditions, type Preconditions } from '../store/preconditions.js'
import { presentAliases } from '../store/receiver-certificates.js'
import type { Database, Executor } from '../store/schema.js'
import { transact } from '../store/transact.js'
import { ENCRYPTOR_DEFAULTS, type Encryptor, type EncryptorSettings } from './encryptor.js'
import { deleteEncryptor, saveEncryptor } from './mutations.js'
import { encryptorRepository } from './repository.js'
import { resolveSigner, type SignerInput } from './signer.js'

/** What a PUT names: the receivers, and any settings it does not leave to the defaults. */
export type EncryptorInput = Partial<Omit<EncryptorSettings, 'signer'>> &
  Pick<EncryptorSettings, 'receiverAliases'> & { signer?: SignerInput | null }

/** The new settings, the aliases whose membership changes, and the audit action. */
type Changed = { settings: EncryptorSettings; touched: string[]; action: string }

export interface EncryptorDetails extends Encryptor {
  /**
   * The aliases a message is encrypted for right now (present in the keystore; none while paused),
   * in configured order.
   */
  recipients: string[]
}

/** Encryptor configurations. No write may leave an encryptor unable to encrypt. */
export class EncryptorService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly changes: ChangeFeed,
  ) {}

  async list(): Promise<EncryptorDetails[]> {
    const encryptors = await encryptorRepository.list(this.db)
    const present = await presentAliases(this.db)
    return encryptors.map((e) => withRecipients(e, present))
  }

  async get(id: string): Promise<EncryptorDetails> {
    return describeEncryptor(this.db, await findEncryptor(this.db, id))
  }

  /** Creates or replaces an encryptor; unchanged settings leave the version as it is. */
  async put(id: string, input: EncryptorInput, actor: Actor, preconditions?: Preconditions) {
    const { signer, ...rest } = input
    return this.write(id, actor, preconditions, { allowCreate: true }, async (current, tx) => {
      const settings: EncryptorSettings = { ...ENCRYPTOR_DEFAULTS, ...rest, signer: null }
      // The signer's defaults depend on its key pair's type, read in this transaction.
      if (signer) settings.signer = await resolveSigner(tx, signer, settings.contentEncryption)
      if (!current) return { settings, touched: [], action: 'encryptor.create' }
      const before = new Set(current.receiverAliases),
        after = new Set(settings.receiverAliases)
      // A signer-key renewal owns the signer's aliases: a direct switch is refused like a receiver change.
      const signers = [current.signer?.alias, settings.signer?.alias].filter((a): a is string => a !== undefined)
      const signerChanged = current.signer?.alias !== settings.signer?.alias
      return {
        settings,
        touched: [
          ...[...before, ...after].filter((a) => before.has(a) !== after.has(a)),
          ...(signerChanged ? signers : []),
        ],
        action: 'encryptor.update',
      }
    })
  }

  async delete(id: string, actor: Actor, preconditions?: Preconditions): Promise<void> {
    await transact(this.db, this.changes, async (ctx) => {
      const existing = await findEncryptor(ctx.tx, id)
      checkPreconditions(`encryptor "${id}"`, existing.version, preconditions)
      await refuseEncryptorChangeDuringRenewal(ctx.tx, id, 'all')
      await deleteEncryptor({ ...ctx, actor }, existing)
    })
  }

  async addAlias(id: string, alias: string, actor: Actor, preconditions?: Preconditions) {
    return this.write(id, actor, preconditions, { allowCreate: false }, (current) => {
      if (current!.receiverAliases.includes(alias)) throw new Errors.ALIAS_ALREADY_LISTED(id, alias)
      return {
        settings: { ...current!, receiverAliases: [...current!.receiverAliases, alias] },
        touched: [alias],
        action: 'encryptor.alias.add',
      }
    })
  }

  async removeAlias(id: string, alias: string, actor: Actor, preconditions?: Preconditions) {
    return this.write(id, actor, preconditions, { allowCreate: false }, (current) => {
      if (!current!.receiverAliases.includes(alias)) throw new Errors.ALIAS_NOT_LISTED(id, alias)
      if (current!.receiverAliases.length === 1) throw new Errors.LAST_ALIAS(alias, id)
      return {
        settings: { ...current!, receiverAliases: current!.receiverAliases.filter((a) => a !== alias) },
        touched: [alias],
        action: 'encryptor.alias.remove',
      }
    })
  }

  /**
   * One read-check-write transaction: load the current encryptor, check preconditions, derive the
   * new settings, refuse alias changes a renewal owns, then save (which proves they still resolve).
   */
  private async write(
    id: string,
    actor: Actor,
    preconditions: Preconditions | undefined,
    { allowCreate }: { allowCreate: boolean },
    change: (current: Encryptor | undefined, tx: Executor) => Changed | Promise<Changed>,
  ): Promise<{ created: boolean; encryptor: EncryptorDetails }> {
    const result = await transact(this.db, this.changes, async (ctx) => {
      const current = await encryptorRepository.find(ctx.tx, id)
      if (!current && !allowCreate) throw new Errors.ENCRYPTOR_NOT_FOUND(id)
      checkPreconditions(`encryptor "${id}"`, current?.version, preconditions)
      const { settings, touched, action } = await change(current, ctx.tx)
      if (current) await refuseEncryptorChangeDuringRenewal(ctx.tx, id, touched)
      const saved = await saveEncryptor({ ...ctx, actor }, id, current, settings, action)
      return { created: !current, encryptor: saved.encryptor }
    })
    return { created: result.created, encryptor: await describeEncryptor(this.db, result.encryptor) }
  }
}

export async function findEncryptor(db: Executor, id: string): Promise<Encryptor> {
  const encryptor = await encryptorRepository.find(db, id)
  if (!encryptor) throw new Errors.ENCRYPTOR_NOT_FOUND(id)
  return encryptor
}

export async function describeEncryptor(db: Executor, encryptor: Encryptor): Promise<EncryptorDetails> {
  return withRecipients(encryptor, await presentAliases(db, encryptor.receiverAliases))
}

function withRecipients(e: Encryptor, present: ReadonlySet<string>): EncryptorDetails {
  return { ...e, recipients: e.pause ? [] : e.receiverAliases.filter((a) => present.has(a)) }
}
