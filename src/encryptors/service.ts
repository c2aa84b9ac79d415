import type { Kysely } from 'kysely'
import { Errors } from '../errors.js'
import { loadCertificates } from '../keystore/certificates.js'
import { keystoreRepository } from '../keystore/repository.js'
import type { ChangeFeed } from '../store/changes.js'
import { checkPreconditions, type Preconditions } from '../store/preconditions.js'
import type { Database, Executor } from '../store/schema.js'
import { ENCRYPTOR_DEFAULTS, type Encryptor, type EncryptorSettings } from './encryptor.js'
import { prepareRecipients } from './recipients.js'
import { encryptorRepository } from './repository.js'

export interface EncryptorDetails extends Encryptor {
  /** The aliases a message is encrypted for right now (present in the keystore), in configured order. */
  recipients: string[]
}

/** Encryptor configurations. No write may leave an encryptor unable to encrypt. */
export class EncryptorService {
  constructor(private readonly db: Kysely<Database>, private readonly changes: ChangeFeed) {}

  async list(): Promise<EncryptorDetails[]> {
    const encryptors = await encryptorRepository.list(this.db)
    const present = new Set((await keystoreRepository.list(this.db)).map((e) => e.alias))
    return encryptors.map((e) => ({ ...e, recipients: e.receiverAliases.filter((a) => present.has(a)) }))
  }

  async get(id: string): Promise<EncryptorDetails> {
    return this.details(this.db, await this.find(this.db, id))
  }

  /** Creates or replaces an encryptor; unchanged settings leave the version as it is. */
  async put(id: string, input: Partial<EncryptorSettings> & Pick<EncryptorSettings, 'receiverAliases'>, preconditions?: Preconditions) {
    const settings: EncryptorSettings = { ...ENCRYPTOR_DEFAULTS, ...input }
    return this.write(id, preconditions, { allowCreate: true }, () => settings)
  }

  async delete(id: string, preconditions?: Preconditions): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      const existing = await this.find(tx, id)
      checkPreconditions(`encryptor "${id}"`, existing.version, preconditions)
      await encryptorRepository.delete(tx, id)
    })
    this.changes.publish({ kind: 'encryptor', id })
  }

  async addAlias(id: string, alias: string, preconditions?: Preconditions) {
    return this.write(id, preconditions, { allowCreate: false }, (current) => {
      if (current!.receiverAliases.includes(alias)) throw new Errors.ALIAS_ALREADY_LISTED(id, alias)
      return { ...current!, receiverAliases: [...current!.receiverAliases, alias] }
    })
  }

  async removeAlias(id: string, alias: string, preconditions?: Preconditions) {
    return this.write(id, preconditions, { allowCreate: false }, (current) => {
      if (!current!.receiverAliases.includes(alias)) throw new Errors.ALIAS_NOT_LISTED(id, alias)
      if (current!.receiverAliases.length === 1) throw new Errors.LAST_ALIAS(alias, id)
      return { ...current!, receiverAliases: current!.receiverAliases.filter((a) => a !== alias) }
    })
  }

  /**
   * One read-check-write transaction: load the current encryptor, check preconditions, derive the
   * new settings, prove they still resolve to at least one recipient, then save with version + 1.
   */
  private async write(
    id: string,
    preconditions: Preconditions | undefined,
    { allowCreate }: { allowCreate: boolean },
    change: (current: Encryptor | undefined) => EncryptorSettings,
  ): Promise<{ created: boolean; encryptor: EncryptorDetails }> {
    const result = await this.db.transaction().execute(async (tx) => {
      const current = await encryptorRepository.find(tx, id)
      if (!current && !allowCreate) throw new Errors.ENCRYPTOR_NOT_FOUND(id)
      checkPreconditions(`encryptor "${id}"`, current?.version, preconditions)
      const settings = change(current)
      if (current && sameSettings(current, settings)) return { created: false, changed: false, encryptor: current }
      prepareRecipients(id, settings, await loadCertificates(tx, settings.receiverAliases))
      const at = new Date().toISOString()
      const encryptor: Encryptor = {
        ...settings, id, version: (current?.version ?? 0) + 1, createdAt: current?.createdAt ?? at, updatedAt: at,
      }
      await encryptorRepository.save(tx, encryptor, current !== undefined)
      return { created: !current, changed: true, encryptor: await this.details(tx, encryptor) }
    })
    if (result.changed) this.changes.publish({ kind: 'encryptor', id })
    return { created: result.created, encryptor: await this.details(this.db, result.encryptor) }
  }

  private async find(db: Executor, id: string): Promise<Encryptor> {
    const encryptor = await encryptorRepository.find(db, id)
    if (!encryptor) throw new Errors.ENCRYPTOR_NOT_FOUND(id)
    return encryptor
  }

  private async details(db: Executor, encryptor: Encryptor): Promise<EncryptorDetails> {
    const present = new Set((await keystoreRepository.findMany(db, encryptor.receiverAliases)).map((e) => e.alias))
    return { ...encryptor, recipients: encryptor.receiverAliases.filter((a) => present.has(a)) }
  }
}

function sameSettings(a: EncryptorSettings, b: EncryptorSettings): boolean {
  return a.receiverAliases.join('\n') === b.receiverAliases.join('\n') &&
    a.contentEncryption === b.contentEncryption && a.keyTransport === b.keyTransport &&
    a.recipientIdentifier === b.recipientIdentifier && a.missingAlias === b.missingAlias && a.encoding === b.encoding
}
