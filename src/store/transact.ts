import type { Kysely, Transaction } from 'kysely'
import type { Change, ChangeFeed } from './changes.js'
import type { Database } from './schema.js'

/** What a write inside a transaction hands to the mutations it calls. */
export interface WriteContext {
  tx: Transaction<Database>
  /** Records a change, announced only once the transaction has committed. */
  touched(change: Change): void
}

/**
 * Runs `work` in one transaction and, only after it commits, announces what it touched, so no cache
 * ever drops an entry for a change that then rolled back, nor keeps one for a change that committed.
 */
export async function transact<T>(db: Kysely<Database>, feed: ChangeFeed, work: (ctx: WriteContext) => Promise<T>): Promise<T> {
  const changes: Change[] = []
  const result = await db.transaction().execute((tx) => work({ tx, touched: (c) => changes.push(c) }))
  for (const change of changes) feed.publish(change)
  return result
}
