import BetterSqlite3 from 'better-sqlite3'
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { ANNOUNCED_COMMITS_ONLY, type ExternalCommits } from './changes.js'
import { migrationProvider, type Dialect } from './migrations.js'
import type { Database } from './schema.js'

export interface DatabaseOptions {
  /** Directory of the SQLite file; ':memory:' for a throwaway database. */
  dataDir: string
  /** PostgreSQL URL; when set, the store is PostgreSQL and dataDir holds only the bootstrap token file. */
  databaseUrl?: string
}

const dialects = new WeakMap<Kysely<Database>, Dialect>()
const externalCommits = new WeakMap<Kysely<Database>, ExternalCommits>()

/** Which SQL engine a database handle talks to. */
export function dialectOf(db: Kysely<Database>): Dialect {
  return dialects.get(db) ?? 'sqlite'
}

/** How this process learns that another one committed to the store (see ExternalCommits). */
export function externalCommitsOf(db: Kysely<Database>): ExternalCommits {
  return externalCommits.get(db) ?? ANNOUNCED_COMMITS_ONLY
}

/**
 * Opens the store and brings its schema up to date.
 *
 * SQLite runs in WAL mode so reads never wait for a writer, with synchronous=FULL: an acknowledged
 * change to the keystore survives a power loss, which matters more here than write throughput
 * (writes are rare, encrypts read a cache).
 *
 * PostgreSQL: several replicas share it. Kysely's migrator holds an advisory lock while it migrates,
 * so replicas starting together apply each migration once.
 */
export async function openDatabase(options: DatabaseOptions): Promise<Kysely<Database>> {
  const dialect: Dialect = options.databaseUrl ? 'postgres' : 'sqlite'
  const db = dialect === 'postgres' ? openPostgres(options.databaseUrl!) : openSqlite(options.dataDir)
  dialects.set(db, dialect)
  try {
    await migrate(db, dialect)
  } catch (err) {
    await db.destroy()
    throw err
  }
  return db
}

/**
 * Applies pending migrations. Kysely locks PostgreSQL migrations and runs them in one transaction. On
 * SQLite it does neither (its adapter has no transactional DDL): two processes opening one new file at
 * once (an overlapping restart) can both try, the loser fails on SQLite's write lock or on a table
 * the winner created, and a retry finds the winner's migrations applied.
 */
async function migrate(db: Kysely<Database>, dialect: Dialect): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const { error } = await new Migrator({ db, provider: migrationProvider(dialect) }).migrateToLatest()
    if (!error) return
    if (dialect === 'postgres' || attempt === 5) throw error instanceof Error ? error : new Error(String(error))
    await new Promise((resolve) => setTimeout(resolve, 20 * attempt))
  }
}

function openSqlite(dataDir: string): Kysely<Database> {
  const file = dataDir === ':memory:' ? ':memory:' : join(dataDir, 'cms-encryptor.sqlite')
  if (file !== ':memory:') mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const sqlite = new BetterSqlite3(file)
  sqlite.pragma('journal_mode = WAL')
  sqlite.pragma('synchronous = FULL')
  sqlite.pragma('foreign_keys = ON')
  sqlite.pragma('busy_timeout = 5000')
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) })
  externalCommits.set(db, sqliteDataVersion(sqlite, db))
  return db
}

/**
 * SQLite's own answer: PRAGMA data_version changes when another connection to the file has
 * committed, never for this connection's commits. Kysely's SQLite dialect runs everything on this
 * one connection, so "another connection" means another process. The pragma is a prepared statement
 * run synchronously: a few microseconds (a read transaction's two file-lock calls), against hundreds
 * for an encrypt. Outside a transaction it starts a fresh read, so it sees every commit made so far;
 * inside one it would answer as of that transaction's snapshot, so it then waits for the connection
 * (Kysely hands it to one transaction at a time) and asks after. So never ask from inside a
 * transaction on this handle: it would wait for itself.
 */
function sqliteDataVersion(sqlite: BetterSqlite3.Database, db: Kysely<Database>): ExternalCommits {
  const dataVersion = sqlite.prepare('PRAGMA data_version').pluck()
  const read = () => dataVersion.get() as number
  return { version: () => (sqlite.inTransaction ? db.connection().execute(async () => read()) : read()) }
}

function openPostgres(url: string): Kysely<Database> {
  const pool = new pg.Pool({ connectionString: url, max: 10, application_name: 'cms-encryptor', keepAlive: true })
  // An idle client's error (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => {})
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
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
