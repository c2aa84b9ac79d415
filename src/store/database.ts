import BetterSqlite3 from 'better-sqlite3'
import { Kysely, Migrator, SqliteDialect } from 'kysely'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { migrationProvider } from './migrations.js'
import type { Database } from './schema.js'

export interface DatabaseOptions {
  /** Directory of the SQLite file; ':memory:' for a throwaway database. */
  dataDir: string
}

/**
 * Opens the store and brings its schema up to date. SQLite runs in WAL mode so reads never wait
 * for a writer, with synchronous=FULL: an acknowledged change to the keystore survives a power
 * loss, which matters more here than write throughput (writes are rare, encrypts read a cache).
 */
export async function openDatabase(options: DatabaseOptions): Promise<Kysely<Database>> {
  const file = options.dataDir === ':memory:' ? ':memory:' : join(options.dataDir, 'cms-encryptor.sqlite')
  if (file !== ':memory:') mkdirSync(options.dataDir, { recursive: true, mode: 0o700 })
  const sqlite = new BetterSqlite3(file)
  sqlite.pragma('journal_mode = WAL')
  sqlite.pragma('synchronous = FULL')
  sqlite.pragma('foreign_keys = ON')
  sqlite.pragma('busy_timeout = 5000')
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) })
  try {
    await migrate(db)
  } catch (err) {
    await db.destroy()
    throw err
  }
  return db
}

export async function migrate(db: Kysely<Database>): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider('sqlite') })
  const { error } = await migrator.migrateToLatest()
  if (error) throw error instanceof Error ? error : new Error(String(error))
}

/** True when the store answers a trivial query (readiness). */
export async function isReachable(db: Kysely<Database>): Promise<boolean> {
  try {
    await db.selectFrom('auth_tokens').select('name').limit(1).execute()
    return true
  } catch {
    return false
  }
}
