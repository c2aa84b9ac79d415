import type { Selectable } from 'kysely'
import { createHash } from 'node:crypto'
import type { Role } from '../auth/tokens.js'
import type { Database, Executor } from '../store/schema.js'
import type { WriteContext } from '../store/transact.js'

/** Who made a change: the token's name and the role that allowed it. */
export interface Actor {
  name: string
  role: Role
}

/**
 * A write in a transaction, attributed to an actor and, for renewal steps, to the renewal: what the
 * keystore and encryptor mutations take, so their audit records commit with the change.
 */
export interface MutationContext extends WriteContext {
  actor: Actor
  renewalId?: string
  comment?: string
}

export interface AuditEntry {
  action: string
  target: string
  before?: unknown
  after?: unknown
  renewalId?: string
  comment?: string
}

type AuditContent = Omit<Selectable<Database['audit_log']>, 'id' | 'hash'>

/** The chain link: SHA-256 over the previous hash and this record's fields, in a fixed order. */
function chainHash(previous: string, r: AuditContent): string {
  const fields = [r.at, r.actor, r.role, r.action, r.target, r.before, r.after, r.renewal_id, r.comment]
  return createHash('sha256').update(previous).update(JSON.stringify(fields)).digest('hex')
}

const GENESIS = ''

/**
 * Writes one audit record in the caller's transaction: it commits with the change, or not at all.
 * Writes are serialised (one transaction at a time on SQLite, the write lock on PostgreSQL), so the
 * hash chain is a line.
 */
export async function recordAudit(tx: Executor, actor: Actor, entry: AuditEntry): Promise<void> {
  const content: AuditContent = {
    at: new Date().toISOString(),
    actor: actor.name,
    role: actor.role,
    action: entry.action,
    target: entry.target,
    before: entry.before === undefined ? null : JSON.stringify(entry.before),
    after: entry.after === undefined ? null : JSON.stringify(entry.after),
    renewal_id: entry.renewalId ?? null,
    comment: entry.comment ?? null,
  }
  const last = await tx.selectFrom('audit_log').select('hash').orderBy('id', 'desc').limit(1).executeTakeFirst()
  await tx
    .insertInto('audit_log')
    .values({ ...content, hash: chainHash(last?.hash ?? GENESIS, content) })
    .execute()
}

/** The audit record of a keystore or encryptor write, attributed as its context says (actor, renewal, comment). */
export function recordMutation(ctx: MutationContext, entry: Omit<AuditEntry, 'renewalId' | 'comment'>): Promise<void> {
  return recordAudit(ctx.tx, ctx.actor, { ...entry, renewalId: ctx.renewalId, comment: ctx.comment })
}

/** Recomputes the hash chain; the first record whose hash does not follow shows where tampering began. */
export async function verifyAudit(
  db: Executor,
): Promise<{ valid: boolean; records: number; firstInvalidId: number | null }> {
  let previous = GENESIS
  let records = 0
  let lastId = 0
  for (;;) {
    const page = await db
      .selectFrom('audit_log')
      .selectAll()
      .where('id', '>', lastId)
      .orderBy('id')
      .limit(1000)
      .execute()
    if (page.length === 0) return { valid: true, records, firstInvalidId: null }
    for (const row of page) {
      const { id, hash, ...content } = row
      if (hash !== chainHash(previous, content)) return { valid: false, records, firstInvalidId: Number(id) }
      previous = hash
      records++
      lastId = Number(id)
    }
  }
}

export interface AuditFilter {
  action?: string
  target?: string
  actor?: string
  renewalId?: string
  since?: string
  until?: string
  /** Return records with an id below this (pages go from newest to oldest). */
  before?: number
  limit: number
}

export interface AuditRecord {
  id: number
  at: string
  actor: string
  role: string
  action: string
  target: string
  before: unknown
  after: unknown
  renewalId: string | null
  comment: string | null
}

/** A stored row as the API shows it: the JSON columns parsed, the chain hash left out. */
function toRecord({ id, hash: _hash, before, after, renewal_id, ...text }: Selectable<Database['audit_log']>) {
  const parse = (json: string | null): unknown => (json === null ? null : JSON.parse(json))
  return { ...text, id: Number(id), before: parse(before), after: parse(after), renewalId: renewal_id }
}

/** Audit records, newest first, filtered; `next` is the cursor for the following page. */
export async function listAudit(
  db: Executor,
  f: AuditFilter,
): Promise<{ records: AuditRecord[]; next: number | null }> {
  let q = db
    .selectFrom('audit_log')
    .selectAll()
    .orderBy('id', 'desc')
    .limit(f.limit + 1)
  if (f.action) q = q.where('action', '=', f.action)
  if (f.target) q = q.where('target', '=', f.target)
  if (f.actor) q = q.where('actor', '=', f.actor)
  if (f.renewalId) q = q.where('renewal_id', '=', f.renewalId)
  if (f.since) q = q.where('at', '>=', f.since)
  if (f.until) q = q.where('at', '<', f.until)
  if (f.before !== undefined) q = q.where('id', '<', f.before)
  const rows = await q.execute()
  const page = rows.slice(0, f.limit)
  return {
    records: page.map(toRecord),
    next: rows.length > f.limit ? Number(page[page.length - 1]!.id) : null,
  }
}
