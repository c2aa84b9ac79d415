import type { Selectable } from 'kysely'
import { createHash } from 'node:crypto'
import type { Database, Executor } from '../store/schema.js'

/** A record's fields as the chain covers them: everything but its id and its hash. */
export type AuditContent = Omit<Selectable<Database['audit_log']>, 'id' | 'hash'>

/** The newest record of the chain, as the signed head names it. */
export interface ChainEnd {
  lastId: number
  hash: string
}

/** The previous hash of the first record. */
export const GENESIS = ''

/** The chain link: SHA-256 over the previous hash and this record's fields, in a fixed order. */
export function chainHash(previous: string, r: AuditContent): string {
  const fields = [r.at, r.actor, r.role, r.action, r.target, r.before, r.after, r.renewal_id, r.comment]
  return createHash('sha256').update(previous).update(JSON.stringify(fields)).digest('hex')
}

/**
 * The newest record. Records from before migration 0003 have no hash; the first record written
 * after them started the chain again from GENESIS, so a missing hash continues as GENESIS.
 */
export async function lastRecord(tx: Executor): Promise<ChainEnd | undefined> {
  const last = await tx.selectFrom('audit_log').select(['id', 'hash']).orderBy('id', 'desc').limit(1).executeTakeFirst()
  return last && { lastId: Number(last.id), hash: last.hash ?? GENESIS }
}

/** Appends one record after `previous` (the newest record, read in the same transaction). */
export async function appendRecord(
  tx: Executor,
  previous: ChainEnd | undefined,
  content: AuditContent,
): Promise<ChainEnd> {
  const hash = chainHash(previous?.hash ?? GENESIS, content)
  const { id } = await tx
    .insertInto('audit_log')
    .values({ ...content, hash })
    .returning('id')
    .executeTakeFirstOrThrow()
  return { lastId: Number(id), hash }
}
