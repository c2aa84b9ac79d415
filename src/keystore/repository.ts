import type { Executor } from '../store/schema.js'

/** A certificate being written under an alias, at `at` (ISO 8601). */
type CertificateWrite = { alias: string; certificate: Buffer; sha256_fingerprint: string; version: number; at: string }

/** The columns that change whenever an alias gets a certificate, created or replaced. */
const currentCertificate = ({ certificate, sha256_fingerprint, version, at }: CertificateWrite) => ({
  certificate,
  sha256_fingerprint,
  version,
  updated_at: at,
})

/** Queries on the keystore tables; one set for every SQL dialect. */
export const keystoreRepository = {
  find(db: Executor, alias: string) {
    return db.selectFrom('keystore_entries').selectAll().where('alias', '=', alias).executeTakeFirst()
  },

  list(db: Executor) {
    return db.selectFrom('keystore_entries').selectAll().orderBy('alias').execute()
  },

  history(db: Executor, alias: string) {
    return db.selectFrom('keystore_history').selectAll().where('alias', '=', alias).orderBy('id', 'desc').execute()
  },

  /** Versions keep counting across delete and re-create, so an old ETag never matches a new certificate. */
  async nextVersion(db: Executor, alias: string): Promise<number> {
    const row = await db
      .selectFrom('keystore_history')
      .select((eb) => eb.fn.max('version').as('max'))
      .where('alias', '=', alias)
      .executeTakeFirst()
    return Number(row?.max ?? 0) + 1
  },

  async insert(db: Executor, row: CertificateWrite) {
    await db
      .insertInto('keystore_entries')
      .values({ alias: row.alias, ...currentCertificate(row), created_at: row.at })
      .execute()
  },

  async replace(db: Executor, row: CertificateWrite) {
    await db.updateTable('keystore_entries').set(currentCertificate(row)).where('alias', '=', row.alias).execute()
  },

  async delete(db: Executor, alias: string) {
    await db.deleteFrom('keystore_entries').where('alias', '=', alias).execute()
  },

  async retire(
    db: Executor,
    entry: { alias: string; certificate: Buffer; sha256_fingerprint: string; version: number },
    reason: 'replaced' | 'deleted',
    at: string,
  ) {
    await db
      .insertInto('keystore_history')
      .values({
        alias: entry.alias,
        certificate: entry.certificate,
        sha256_fingerprint: entry.sha256_fingerprint,
        version: entry.version,
        retired_at: at,
        reason,
      })
      .execute()
  },
}
