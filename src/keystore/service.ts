import type { Kysely } from 'kysely'
import {
  checkReceiverPolicy, decodeCertificateUpload, parseReceiverCertificate, type ReceiverCertificate,
} from '../cms/certificate.js'
import { encryptorRepository } from '../encryptors/repository.js'
import { prepareRecipients } from '../encryptors/recipients.js'
import { Errors } from '../errors.js'
import type { ChangeFeed } from '../store/changes.js'
import { checkPreconditions, type Preconditions } from '../store/preconditions.js'
import type { Database, Executor } from '../store/schema.js'
import { loadCertificates, storedCertificate } from './certificates.js'
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

export const DAY_MS = 86_400_000

type EntryRow = { alias: string; certificate: Buffer; sha256_fingerprint: string; version: number; created_at: string; updated_at: string }

const toEntry = (row: EntryRow): KeystoreEntry => ({
  alias: row.alias, certificate: storedCertificate(row), version: row.version, createdAt: row.created_at, updatedAt: row.updated_at,
})

/** Receiver certificates by alias. Every write checks that no encryptor is left unable to encrypt. */
export class KeystoreService {
  constructor(private readonly db: Kysely<Database>, private readonly changes: ChangeFeed) {}

  /** All entries by alias; with `expiringWithinDays`, only those whose certificate ends within that many days. */
  async list(filter: { expiringWithinDays?: number } = {}): Promise<KeystoreEntry[]> {
    const entries = (await keystoreRepository.list(this.db)).map(toEntry)
    if (filter.expiringWithinDays === undefined) return entries
    const limit = Date.now() + filter.expiringWithinDays * DAY_MS
    return entries.filter((e) => e.certificate.notAfter.getTime() <= limit)
  }

  async get(alias: string): Promise<KeystoreEntryDetails> {
    const row = await keystoreRepository.find(this.db, alias)
    if (!row) throw new Errors.ALIAS_NOT_FOUND(alias)
    const [users, history] = await Promise.all([
      encryptorRepository.using(this.db, alias),
      keystoreRepository.history(this.db, alias),
    ])
    return {
      ...toEntry(row),
      usedBy: users.map((e) => e.id),
      history: history.map((h) => ({ version: h.version, certificate: storedCertificate(h), retiredAt: h.retired_at, reason: h.reason as RetiredCertificate['reason'] })),
    }
  }

  /**
   * Stores `upload` (PEM or DER) under `alias`: created, or replacing the current certificate (kept
   * in the history). Every check runs before anything is written.
   */
  async put(alias: string, upload: Buffer, preconditions?: Preconditions): Promise<{ created: boolean; entry: KeystoreEntry }> {
    const der = decodeCertificateUpload(upload)
    const certificate = parseReceiverCertificate(der)
    checkReceiverPolicy(certificate)
    const result = await this.db.transaction().execute(async (tx) => {
      const existing = await keystoreRepository.find(tx, alias)
      checkPreconditions(`alias "${alias}"`, existing?.version, preconditions)
      if (existing?.sha256_fingerprint === certificate.sha256Fingerprint) return { created: false, changed: false, row: existing }
      await this.checkEncryptorsStillResolve(tx, alias, certificate)
      const at = new Date().toISOString()
      const row = { alias, certificate: der, sha256_fingerprint: certificate.sha256Fingerprint, at }
      if (existing) {
        await keystoreRepository.retire(tx, existing, 'replaced', at)
        await keystoreRepository.replace(tx, { ...row, version: existing.version + 1 })
      } else {
        await keystoreRepository.insert(tx, { ...row, version: await keystoreRepository.nextVersion(tx, alias) })
      }
      return { created: !existing, changed: true, row: (await keystoreRepository.find(tx, alias))! }
    })
    if (result.changed) this.changes.publish({ kind: 'keystore', alias })
    return { created: result.created, entry: toEntry(result.row) }
  }

  async delete(alias: string, preconditions?: Preconditions): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      const existing = await keystoreRepository.find(tx, alias)
      if (!existing) throw new Errors.ALIAS_NOT_FOUND(alias)
      checkPreconditions(`alias "${alias}"`, existing.version, preconditions)
      await this.checkEncryptorsStillResolve(tx, alias, undefined)
      await keystoreRepository.retire(tx, existing, 'deleted', new Date().toISOString())
      await keystoreRepository.delete(tx, alias)
    })
    this.changes.publish({ kind: 'keystore', alias })
  }

  /** Refuses a change to `alias` (new certificate, or none) that would leave an encryptor unable to encrypt. */
  private async checkEncryptorsStillResolve(tx: Executor, alias: string, replacement: ReceiverCertificate | undefined) {
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
}
