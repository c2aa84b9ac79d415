import type { Selectable } from 'kysely'
import type { Role } from '../auth/tokens.js'
import type { Database, Executor } from '../store/schema.js'
import type { WriteContext } from '../store/transact.js'
import { anchorOf, auditAnchorBroken, readHead, writeHead } from './anchor.js'
import { appendRecord, lastRecord, type AuditContent } from './chain.js'
import { auditInstant } from './instant.js'

/**
 * Who made a change: the token's name and the role that allowed it (for a renewal step, the role the
 * step requires, whatever other roles the token holds).
 */
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

/**
 * Writes one audit record in the caller's transaction: it commits with the change, or not at all.
 * Writes are serialised (one transaction at a time on SQLite, the write lock on PostgreSQL), so the
 * hash chain is a line. With the store's audit anchor open (anchor.ts), the signed head moves in
 * the same transaction; a log that no longer matches its head is not extended (the write fails),
 * since signing a new head over it would hide what was done to it.
 */
export async function recordAudit(ctx: WriteContext, actor: Actor, entry: AuditEntry): Promise<number> {
  const { tx } = ctx
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
  const anchor = anchorOf(ctx.store)
  const [last, head] = await Promise.all([lastRecord(tx), anchor ? readHead(tx) : undefined])
  if (anchor) {
    const problem = anchor.problemWith(head, last)
    if (problem) throw auditAnchorBroken(problem)
  }
  const end = await appendRecord(tx, last, content)
  if (anchor) {
    const signed = anchor.key.sign({ ...end, at: content.at })
    await writeHead(tx, signed)
    ctx.onCommit(() => anchor.saw(signed))
  }
  return end.lastId
}

/**
 * The audit record of a keystore or encryptor write, attributed as its context says (actor, renewal,
 * comment); answers the record's id, which the change's webhook event names.
 */
export function recordMutation(
  ctx: MutationContext,
  entry: Omit<AuditEntry, 'renewalId' | 'comment'>,
): Promise<number> {
  return recordAudit(ctx, ctx.actor, { ...entry, renewalId: ctx.renewalId, comment: ctx.comment })
}

export interface AuditFilter {
  action?: string
  target?: string
  actor?: string
  renewalId?: string
  /** From this instant (inclusive): RFC 3339, any offset, any precision. */
  since?: string
  /** Before this instant. */
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
  // Compared as instants: `at` is always toISOString() (UTC, milliseconds), so a filter written
  // the same way compares as text in time order, whatever offset or precision the caller used.
  if (f.since) q = q.where('at', '>=', auditInstant(f.since, 'since'))
  if (f.until) q = q.where('at', '<', auditInstant(f.until, 'until'))
  if (f.before !== undefined) q = q.where('id', '<', f.before)
  const rows = await q.execute()
  const page = rows.slice(0, f.limit)
  return {
    records: page.map(toRecord),
    next: rows.length > f.limit ? Number(page[page.length - 1]!.id) : null,
  }
}
