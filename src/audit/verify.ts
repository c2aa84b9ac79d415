import type { Kysely } from 'kysely'
import type { Database } from '../store/schema.js'
import { readSnapshot } from '../store/transact.js'
import { anchorOf, readHead, type AuditHead, type AuditProblem } from './anchor.js'
import { chainHash, GENESIS, type ChainEnd } from './chain.js'

export interface AuditVerification {
  valid: boolean
  /** Chained records verified before the first break (all of them when the chain holds). */
  records: number
  /** Records from before migration 0003, written without a hash: nothing protects them. */
  unchained: number
  /** The first record whose hash does not follow, or the first written past the signed head. */
  firstInvalidId: number | null
  problem: AuditProblem | null
  head: AuditHead | null
}

/**
 * Recomputes the hash chain and holds its end against the signed head (anchor.ts), all in one read
 * snapshot, so a write committing meanwhile is either wholly in it or not at all. The chain starts at
 * the first record that has a hash: the ones before it predate migration 0003 (which added the hash
 * without computing it for older records), and the first record after them was chained from GENESIS.
 * Leaving them out hides nothing the head does not catch: dropping the hashes of a chain's first
 * records breaks the chain at the next one, or, recomputed, no longer ends where the head says.
 *
 * `checkpoint` is a head an outside monitor recorded earlier: the chain must still hold it, which
 * catches a store set back whole to an older copy (an older chain, an older valid head).
 */
export async function verifyAudit(db: Kysely<Database>, checkpoint?: ChainEnd): Promise<AuditVerification> {
  const anchor = anchorOf(db)
  const walk = await readSnapshot(db, async (tx) => {
    const head = (await readHead(tx)) ?? null
    let previous = GENESIS
    let records = 0
    let unchained = 0
    let broken: number | null = null
    let last: ChainEnd | undefined
    let headRecordHash: string | undefined
    let firstAfterHead: number | null = null
    let checkpointHeld = false
    for (let after = 0; broken === null;) {
      const page = await tx
        .selectFrom('audit_log')
        .selectAll()
        .where('id', '>', after)
        .orderBy('id')
        .limit(1000)
        .execute()
      if (page.length === 0) break
      for (const row of page) {
        const { id: rawId, hash, ...content } = row
        const id = Number(rawId)
        after = id
        if (hash === null && records === 0) {
          unchained++
          last = { lastId: id, hash: GENESIS }
          continue
        }
        if (hash !== chainHash(previous, content)) {
          broken = id
          break
        }
        previous = hash
        records++
        last = { lastId: id, hash }
        if (head && id === head.lastId) headRecordHash = hash
        if (head && id > head.lastId && firstAfterHead === null) firstAfterHead = id
        if (checkpoint && id === checkpoint.lastId) checkpointHeld = hash === checkpoint.hash
      }
    }
    return { head, records, unchained, broken, last, headRecordHash, firstAfterHead, checkpointHeld }
  })

  const { head, broken } = walk
  let problem: AuditProblem | null = null
  if (anchor && head && !anchor.key.verifies(head)) problem = 'head-signature'
  else if (broken !== null) problem = 'chain-broken'
  else if (anchor) problem = anchor.problemWith(head ?? undefined, walk.last)
  // Past the head, a head whose own record now has another hash means the chain was recomputed.
  if (problem === 'unsigned-records' && head && head.lastId > 0 && walk.headRecordHash !== head.hash)
    problem = 'rewritten'
  if (!problem && checkpoint && !walk.checkpointHeld) problem = 'checkpoint-missing'
  if (!problem && anchor && head) anchor.saw(head)
  return {
    valid: problem === null,
    records: walk.records,
    unchained: walk.unchained,
    firstInvalidId: problem === 'chain-broken' ? broken : problem === 'unsigned-records' ? walk.firstAfterHead : null,
    problem,
    head,
  }
}
