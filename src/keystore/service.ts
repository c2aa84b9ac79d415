import type { Kysely, Selectable } from 'kysely'
import type { Actor } from '../audit/audit.js'
import type { ReceiverCertificate } from '../cms/certificate.js'
import { validateCertificateUpload } from '../cms/pem.js'
import { expiresWithin } from '../cms/validity.js'
import { Errors } from '../errors.js'
import { refuseAliasOwnedByRenewal } from '../store/active-renewals.js'
import type { ChangeFeed } from '../store/changes.js'
import { checkPreconditions, type Preconditions } from '../store/preconditions.js'
import { storedCertificate } from '../store/receiver-certificates.js'
import type { Database } from '../store/schema.js'
import { transact } from '../store/transact.js'
import { deleteCertificate, storeCertificate, type AliasUsers } from './mutations.js'
import { keystoreRepository } from './repository.js'

export interface KeystoreEntry {
  alias: string
  certificate: ReceiverCertificate
  version: number
  createdAt: string
  updatedAt: string
}

export interface RetiredCertificate {
  version: number
  certificate: ReceiverCertificate
  retiredAt: string
  reason: 'replaced' | 'deleted'
}

export interface KeystoreEntryDetails extends KeystoreEntry {
  usedBy: string[]
  history: RetiredCertificate[]
}

type EntryRow = Selectable<Database['keystore_entries']>

const toEntry = (row: EntryRow): KeystoreEntry => ({
  alias: row.alias,
  certificate: storedCertificate(row),
  version: row.version,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
})

/** Receiver certificates by alias. Every write checks that no encryptor is left unable to encrypt. */
export class KeystoreService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly changes: ChangeFeed,
    private readonly users: AliasUsers,
  ) {}

  /** All entries by alias; with `expiringWithinDays`, only those whose certificate ends within that many days. */
  async list(filter: { expiringWithinDays?: number } = {}): Promise<KeystoreEntry[]> {
    const entries = (await keystoreRepository.list(this.db)).map(toEntry)
    const days = filter.expiringWithinDays
    if (days === undefined) return entries
    const now = Date.now()
    return entries.filter((e) => expiresWithin(e.certificate, days, now))
  }

  async get(alias: string): Promise<KeystoreEntryDetails> {
    const row = await keystoreRepository.find(this.db, alias)
    if (!row) throw new Errors.ALIAS_NOT_FOUND(alias)
    const [usedBy, history] = await Promise.all([
      this.users.ids(this.db, alias),
      keystoreRepository.history(this.db, alias),
    ])
    return {
      ...toEntry(row),
      usedBy,
      history: history.map((h) => ({
        version: h.version,
        certificate: storedCertificate(h),
        retiredAt: h.retired_at,
        reason: h.reason as RetiredCertificate['reason'],
      })),
    }
  }

  /**
   * Stores `upload` (PEM or DER) under `alias`: created, or replacing the current certificate (kept
   * in the history). Every check runs before anything is written.
   */
  async put(
    alias: string,
    upload: Buffer,
    actor: Actor,
    preconditions?: Preconditions,
  ): Promise<{ created: boolean; entry: KeystoreEntry }> {
    const certificate = validateCertificateUpload(upload)
    const result = await transact(this.db, this.changes, async (ctx) => {
      const existing = await keystoreRepository.find(ctx.tx, alias)
      checkPreconditions(`alias "${alias}"`, existing?.version, preconditions)
      await refuseAliasOwnedByRenewal(ctx.tx, alias)
      return storeCertificate({ ...ctx, actor }, this.users, alias, certificate)
    })
    return { created: result.created, entry: toEntry(result.row) }
  }

  async delete(alias: string, actor: Actor, preconditions?: Preconditions): Promise<void> {
    await transact(this.db, this.changes, async (ctx) => {
      const existing = await keystoreRepository.find(ctx.tx, alias)
      if (!existing) throw new Errors.ALIAS_NOT_FOUND(alias)
      checkPreconditions(`alias "${alias}"`, existing.version, preconditions)
      await refuseAliasOwnedByRenewal(ctx.tx, alias)
      await deleteCertificate({ ...ctx, actor }, this.users, alias)
    })
  }
}
