import { sql, type Kysely, type Transaction } from 'kysely'
import type { Change, ChangeFeed } from './changes.js'
import { dialectOf } from './database.js'
import type { Database } from './schema.js'

/** What a write inside a transaction hands to the mutations it calls. */
export interface WriteContext {
  tx: Transaction<Database>
  /** Records a change, announced only once the transaction has committed. */
  touched(change: Change): void
  /** Runs `callback` once the transaction has committed (never after a rollback). */
  onCommit(callback: () => void): void
  /**
   * The store the transaction writes to: what settings made once per store are found by (the audit
   * anchor). Never query it inside the transaction: that would wait for the transaction itself.
   */
  store: Kysely<Database>
}

/** The PostgreSQL channel on which committed changes are announced to every replica. */
export const CHANGES_CHANNEL = 'cms_encryptor_changes'
/** An arbitrary constant naming the cluster-wide write lock (advisory locks are keyed by bigint): "CMSE". */
const WRITE_LOCK = 0x434d5345
/** pg_notify payloads must stay under 8000 bytes; past this many changes, announce "everything". */
const MAX_ANNOUNCED_CHANGES = 50

/**
 * Runs `work` in one transaction and, only after it commits, announces what it touched, so no cache
 * drops an entry for a change that rolled back, nor keeps one for a change that committed.
 *
 * On PostgreSQL every write transaction first takes one advisory lock, so read-check-write sequences
 * (preconditions, "no encryptor left without a recipient", renewal steps) never interleave across
 * replicas: the second writer waits, then sees the first one's result. Writes are rare configuration
 * changes, so serialising them costs nothing that matters. The NOTIFY is sent inside the
 * transaction: PostgreSQL delivers it on commit, and never for a rollback.
 */
export async function transact<T>(
  db: Kysely<Database>,
  feed: ChangeFeed,
  work: (ctx: WriteContext) => Promise<T>,
): Promise<T> {
  const changes: Change[] = []
  const committed: Array<() => void> = []
  const result = await writeTransaction(db, async (tx) => {
    const value = await work({ tx, touched: (c) => changes.push(c), onCommit: (c) => committed.push(c), store: db })
    if (dialectOf(db) === 'postgres' && changes.length > 0) {
      const announced: Change[] = changes.length > MAX_ANNOUNCED_CHANGES ? [{ kind: 'all' }] : changes
      await sql`select pg_notify(${CHANGES_CHANNEL}, ${JSON.stringify(announced)})`.execute(tx)
    }
    return value
  })
  for (const change of changes) feed.publish(change)
  for (const callback of committed) callback()
  return result
}

/**
 * A transaction holding the write lock from its first statement. PostgreSQL: the cluster-wide
 * advisory lock. SQLite: within a process transactions are serial already; across processes (an
 * overlapping restart) a transaction that read first could not upgrade to writing, so it writes first.
 */
export function writeTransaction<T>(db: Kysely<Database>, work: (tx: Transaction<Database>) => Promise<T>) {
  return lockedTransaction(db, 'write', work)
}

/** A read of several tables as one consistent view: it waits for a writer in progress to commit. */
export function readSnapshot<T>(db: Kysely<Database>, work: (tx: Transaction<Database>) => Promise<T>) {
  return lockedTransaction(db, 'read', work)
}

async function lockedTransaction<T>(
  db: Kysely<Database>,
  mode: 'write' | 'read',
  work: (tx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  const postgres = dialectOf(db) === 'postgres'
  return db.transaction().execute(async (tx) => {
    if (postgres && mode === 'write') await sql`select pg_advisory_xact_lock(${WRITE_LOCK})`.execute(tx)
    else if (postgres) await sql`select pg_advisory_xact_lock_shared(${WRITE_LOCK})`.execute(tx)
    else if (mode === 'write') {
      await tx
        .updateTable('write_lock')
        .set((eb) => ({ writes: eb('writes', '+', 1) }))
        .where('id', '=', 1)
        .execute()
    }
    return work(tx)
  })
}
