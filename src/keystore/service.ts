import type { Kysely, Selectable } from 'kysely'
import type { Actor } from '../audit/audit.js'
import type { ReceiverCertificate } from '../cms/certificate.js'
import { inspectCertificateUpload, validateCertificateUpload, type UploadCheck } from '../cms/pem.js'
import { expiresWithin } from '../cms/validity.js'
import { Errors } from '../errors.js'
import { refuseAliasOwnedByRenewal } from '../store/active-renewals.js'
import type { ChangeFeed } from '../store/changes.js'
import { checkPreconditions, type Preconditions } from '../store/preconditions.js'
import { storedCertificate } from '../store/receiver-certificates.js'
import type { Database, Executor } from '../store/schema.js'
import { readSnapshot, transact } from '../store/transact.js'
import { deleteCertificate, planStore, storeCertificate, type AliasUsers } from './mutations.js'
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

/** What storing an upload would do, and how it passed every check a store runs. */
export interface UploadCheckResult {
  alias: string
  action: 'create' | 'replace' | 'unchanged'
  /** The version now under the alias, null when it has no certificate. */
  currentVersion: number | null
  certificate: ReceiverCertificate
  usedBy: string[]
  checks: Array<{ name: UploadCheck['name'] | 'precondition' | 'renewal' | 'encryptors'; detail: string }>
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
      await guardPut(ctx.tx, alias, preconditions)
      return storeCertificate({ ...ctx, actor }, this.users, alias, certificate)
    })
    return { created: result.created, entry: toEntry(result.row) }
  }

  /**
   * Runs every check `put` runs, with the same errors, in one read-only snapshot, and says how each
   * was passed; writes nothing and records nothing.
   */
  async check(alias: string, upload: Buffer, preconditions?: Preconditions): Promise<UploadCheckResult> {
    const { certificate, checks } = inspectCertificateUpload(upload)
    return readSnapshot(this.db, async (tx) => {
      const current = await guardPut(tx, alias, preconditions)
      const { action } = await planStore(tx, this.users, alias, certificate)
      const usedBy = await this.users.ids(tx, alias)
      const precondition = preconditions?.ifMatch ?? preconditions?.ifNoneMatch
      return {
        alias,
        action,
        currentVersion: current?.version ?? null,
        certificate,
        usedBy,
        checks: [
          ...checks,
          {
            name: 'precondition',
            detail: precondition
              ? `${preconditions?.ifMatch ? 'If-Match' : 'If-None-Match'} ${precondition} holds for ` +
                (current ? `version ${current.version}` : 'an alias that does not exist yet')
              : 'no If-Match or If-None-Match given: any current version',
          },
          { name: 'renewal', detail: `no active renewal owns ${alias}` },
          { name: 'encryptors', detail: encryptorsDetail(alias, action, usedBy) },
        ],
      }
    })
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

/** The guards of a put before the write, in order; reads only (the check of an upload runs them too). */
async function guardPut(db: Executor, alias: string, preconditions: Preconditions | undefined) {
  const existing = await keystoreRepository.find(db, alias)
  checkPreconditions(`alias "${alias}"`, existing?.version, preconditions)
  await refuseAliasOwnedByRenewal(db, alias)
  return existing
}

function encryptorsDetail(alias: string, action: UploadCheckResult['action'], usedBy: string[]): string {
  if (usedBy.length === 0) return `no encryptor lists ${alias} yet`
  if (action === 'unchanged') return `the same certificate is stored already: nothing changes for ${usedBy.join(', ')}`
  return `every encryptor listing ${alias} can still encrypt: ${usedBy.join(', ')}`
}
