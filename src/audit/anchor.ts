import { Errors } from '../errors.js'
import type { Kysely } from 'kysely'
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { ensureDataDir, readOrCreateSecretFile } from '../store/data-dir.js'
import type { Database, Executor } from '../store/schema.js'
import { writeTransaction } from '../store/transact.js'
import { appendRecord, lastRecord, type ChainEnd } from './chain.js'

/**
 * The hash chain shows a record changed in place, but whoever can write the database can recompute
 * every hash after it, or cut off the newest records. So the chain's end is signed: an HMAC under a
 * key the database does not hold (AUDIT_KEY_FILE), kept in audit_head and rewritten in the
 * transaction of every audit record. Rewriting or cutting the chain then leaves a head that no
 * longer matches it, and forging a new head needs the key.
 *
 * What it cannot catch on its own: a store set back whole to an older copy (an older chain with its
 * then valid head). A process catches that while it runs (it remembers the newest head it wrote or
 * saw); across restarts only an outside monitor that records the head (GET /audit/head) and later
 * checks the chain still holds it (GET /audit/verify?lastId=&hash=) does.
 */

/** The key file is missing, malformed, or not the key that signed the store's head: the service does not start. */
export class AuditKeyError extends Error {
  override name = 'AuditKeyError'
}

/** What can be wrong with the audit log, as GET /audit/verify names it. */
export const AUDIT_PROBLEMS = {
  'chain-broken': 'a record was changed or deleted: its hash does not follow from the record before it',
  'head-missing': 'the signed head is gone while records exist',
  'head-signature': 'the signed head was altered: its signature does not verify with the audit key',
  truncated: 'the newest records were deleted: the signed head names a record that is no longer there',
  rewritten: 'records were rewritten and the chain recomputed: the record the signed head names has another hash',
  'unsigned-records': 'records were added without the audit key: the chain goes on past the signed head',
  'rolled-back': 'the store was set back: its signed head is older than one this process wrote or saw',
  'checkpoint-missing': 'the checkpoint given is not in the chain: records up to it were rewritten or rolled back',
} as const
export type AuditProblem = keyof typeof AUDIT_PROBLEMS

/**
 * The log does not match its signed head: extending it would sign over the tampering, so the write
 * is refused, with a 503 (the service is fine, the store needs an operator) rather than a 500.
 */
export function auditAnchorBroken(problem: AuditProblem) {
  return new Errors.AUDIT_ANCHOR_BROKEN(
    `The audit log does not match its signed head (${AUDIT_PROBLEMS[problem]}); changes are refused until ` +
      'an operator has looked into it (GET /audit/verify; docs/trust-model.md).',
  )
}

/** The newest record, signed. */
export interface AuditHead extends ChainEnd {
  /** When the record was written. */
  at: string
  /** HMAC-SHA256 (hex) under the audit key. */
  mac: string
}

const KEY_BYTES = 32
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/
/** Fixed first element of what is signed, so a MAC made for anything else never verifies as a head. */
const HEAD_DOMAIN = 'cms-encryptor audit head v1'

/** The audit key: it signs and checks heads; the secret itself never leaves this object. */
export class AuditKey {
  readonly #secret: Buffer

  /** `source` names where the key came from, for messages (never the key itself). */
  /**
   * `source` names where the key came from, for messages (never the key itself); `created`: made by
   * this start (a new DATA_DIR/audit-key, an in-memory store), so no head can have been signed yet.
   */
  constructor(
    secret: Buffer,
    readonly source: string,
    readonly created = false,
  ) {
    if (secret.length < KEY_BYTES) throw new AuditKeyError(`${source}: the key must be at least ${KEY_BYTES} bytes.`)
    this.#secret = Buffer.from(secret)
  }

  sign(end: ChainEnd & { at: string }): AuditHead {
    return { lastId: end.lastId, hash: end.hash, at: end.at, mac: this.mac(end) }
  }

  verifies(head: AuditHead): boolean {
    const expected = Buffer.from(this.mac(head), 'hex')
    const given = Buffer.from(head.mac, 'hex')
    return given.length === expected.length && timingSafeEqual(given, expected)
  }

  /**
   * A key of its own for `purpose` (HKDF-SHA256 from this one), for what else must be kept from whoever
   * reads the database but not the key file: the webhook signing secrets. Never the audit key itself.
   */
  derive(purpose: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#secret, Buffer.alloc(0), `cms-encryptor ${purpose} v1`, KEY_BYTES))
  }

  private mac(end: ChainEnd & { at: string }): string {
    const canonical = JSON.stringify([HEAD_DOMAIN, end.lastId, end.hash, end.at])
    return createHmac('sha256', this.#secret).update(canonical).digest('hex')
  }
}

function parseKey(text: string, source: string, created = false): AuditKey {
  const base64 = text.trim()
  if (!BASE64.test(base64) || base64.length % 4 !== 0)
    throw new AuditKeyError(`${source}: expected the key as base64 text (openssl rand -base64 32).`)
  return new AuditKey(Buffer.from(base64, 'base64'), source, created)
}

export const AUDIT_KEY_FILE = 'audit-key'

/**
 * The audit key: from AUDIT_KEY_FILE when set (it must exist; it may be a mounted secret, a symlink
 * or readable by a group, but nobody else may write it); else DATA_DIR/audit-key, created once with
 * 32 random bytes (mode 0600, O_EXCL|O_NOFOLLOW: store/data-dir.ts). An in-memory store gets a key
 * as short-lived as itself.
 */
export async function loadAuditKey(options: { file: string; dataDir: string }): Promise<AuditKey> {
  const { file, dataDir } = options
  if (file) {
    let text: string
    try {
      const info = await stat(file)
      if (info.mode & 0o022) {
        throw new AuditKeyError(
          `AUDIT_KEY_FILE ${file} is writable by other users (mode ${(info.mode & 0o777).toString(8)}); chmod 600 it.`,
        )
      }
      text = await readFile(file, 'utf8')
    } catch (err) {
      if (err instanceof AuditKeyError) throw err
      throw new AuditKeyError(
        `AUDIT_KEY_FILE ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}. ` +
          `Make one with: openssl rand -base64 32 > ${file}; chmod 600 ${file}`,
      )
    }
    return parseKey(text, `AUDIT_KEY_FILE ${file}`)
  }
  if (dataDir === ':memory:')
    return new AuditKey(randomBytes(KEY_BYTES), 'the in-memory key of an in-memory store', true)
  await ensureDataDir(dataDir)
  const path = join(dataDir, AUDIT_KEY_FILE)
  let created = false
  const text = await readOrCreateSecretFile(path, () => {
    created = true
    return Buffer.from(randomBytes(KEY_BYTES).toString('base64') + '\n')
  })
  return parseKey(text.toString('utf8'), path, created)
}

export async function readHead(db: Executor): Promise<AuditHead | undefined> {
  const row = await db.selectFrom('audit_head').selectAll().where('id', '=', 1).executeTakeFirst()
  return row && { lastId: Number(row.last_id), hash: row.hash, at: row.at, mac: row.mac }
}

export async function writeHead(tx: Executor, head: AuditHead): Promise<void> {
  const row = { last_id: head.lastId, hash: head.hash, at: head.at, mac: head.mac }
  const updated = await tx.updateTable('audit_head').set(row).where('id', '=', 1).executeTakeFirst()
  if (Number(updated.numUpdatedRows) === 0)
    await tx
      .insertInto('audit_head')
      .values({ id: 1, ...row })
      .execute()
}

/** A store's audit key, and the newest head this process wrote or saw there. */
export class AuditAnchor {
  #newest: ChainEnd | null = null

  constructor(readonly key: AuditKey) {}

  /** Remembers a head this process wrote (once committed) or found valid. */
  saw(head: ChainEnd): void {
    if (!this.#newest || head.lastId > this.#newest.lastId) this.#newest = { lastId: head.lastId, hash: head.hash }
  }

  /**
   * What is wrong between the stored head and the chain's newest record (read in one transaction),
   * or null. Record ids only grow (AUTOINCREMENT, identity columns), so the head's id orders heads.
   */
  problemWith(head: AuditHead | undefined, last: ChainEnd | undefined): AuditProblem | null {
    const newest = this.#newest
    // Every anchored store has a head from its first start on (openAuditAnchor): none is a removal.
    if (!head) return 'head-missing'
    if (!this.key.verifies(head)) return 'head-signature'
    if (newest && (head.lastId < newest.lastId || (head.lastId === newest.lastId && head.hash !== newest.hash)))
      return 'rolled-back'
    if (!last) return head.lastId === 0 ? null : 'truncated'
    if (last.lastId < head.lastId) return 'truncated'
    if (last.lastId > head.lastId) return 'unsigned-records'
    if (last.hash !== head.hash) return 'rewritten'
    return null
  }
}

const anchors = new WeakMap<Kysely<Database>, AuditAnchor>()

/** The anchor opened for this store, if any (a store opened without one keeps the bare hash chain). */
export function anchorOf(db: Kysely<Database>): AuditAnchor | undefined {
  return anchors.get(db)
}

/** The hash a head signed over an empty log names (record 0): the shape of a SHA-256, of no record. */
export const EMPTY_LOG_HASH = '0'.repeat(64)

/** Whether the store holds anything an audit record would have been written for. */
async function holdsData(tx: Executor): Promise<boolean> {
  const [entry, encryptor, renewal] = await Promise.all([
    tx.selectFrom('keystore_entries').select('alias').limit(1).executeTakeFirst(),
    tx.selectFrom('encryptors').select('id').limit(1).executeTakeFirst(),
    tx.selectFrom('renewals').select('id').limit(1).executeTakeFirst(),
  ])
  return Boolean(entry || encryptor || renewal)
}

/** The name and role of the audit record written when the service itself signs a chain for the first time. */
const SERVICE_ACTOR = { name: 'cms-encryptor', role: 'service' }

/**
 * Opens the audit anchor of a store, at start, before any write: every audit record written through
 * this handle from now on moves the signed head with it.
 *
 * - A head that does not verify with this key stops the start (AuditKeyError): it was signed with
 *   another key (replicas must share AUDIT_KEY_FILE) or altered; re-signing it would hide either.
 * - No head while records exist (a store from before migration 0004, or one whose head row an
 *   operator removed to re-anchor after losing the key): the chain is signed as it stands, after an
 *   `audit.anchor` record that says so, so the moment stays visible in the log itself.
 * - A valid head that does not match the chain is not fatal here: the answer names the problem (to
 *   log), GET /audit/verify reports it, and changes are refused until it is dealt with.
 */
export async function openAuditAnchor(
  db: Kysely<Database>,
  key: AuditKey,
  options: { reanchor?: boolean } = {},
): Promise<{ head: AuditHead | null; anchored: boolean; problem: AuditProblem | null }> {
  const anchor = new AuditAnchor(key)
  const opened = await writeTransaction(db, async (tx) => {
    const [head, last] = await Promise.all([readHead(tx), lastRecord(tx)])
    if (head && !key.verifies(head)) {
      throw new AuditKeyError(
        `The audit log's signed head does not verify with the key in ${key.source}. Either the store was ` +
          'signed with another key (replicas must share one AUDIT_KEY_FILE: restore that key), or the head ' +
          'was altered in the database. The service does not re-sign it; see docs/trust-model.md.',
      )
    }
    if (head) return { head, last, anchored: false }
    // No head. Signing now is right only where none can have been signed before: a store that holds
    // nothing yet, a key made by this start (the first start with the anchor, DATA_DIR/audit-key), or
    // an operator's explicit AUDIT_REANCHOR. Otherwise the head was removed (with records, perhaps)
    // by someone who can write the database, and signing would launder that: head-missing.
    const at = new Date().toISOString()
    if (!last && !(await holdsData(tx))) {
      const genesis = key.sign({ lastId: 0, hash: EMPTY_LOG_HASH, at })
      await writeHead(tx, genesis)
      return { head: genesis, last, anchored: false }
    }
    if (!key.created && !options.reanchor) return { head: null, last, anchored: false }
    if (!last) {
      const genesis = key.sign({ lastId: 0, hash: EMPTY_LOG_HASH, at })
      await writeHead(tx, genesis)
      return { head: genesis, last, anchored: true }
    }
    const end = await appendRecord(tx, last, {
      at,
      actor: SERVICE_ACTOR.name,
      role: SERVICE_ACTOR.role,
      action: 'audit.anchor',
      target: 'audit',
      before: JSON.stringify({ signedHead: null }),
      after: JSON.stringify({ signedFrom: last.lastId }),
      renewal_id: null,
      comment: 'no signed head was found: the chain is signed from here on as it stands',
    })
    const signed = key.sign({ ...end, at })
    await writeHead(tx, signed)
    return { head: signed, last: end, anchored: true }
  })
  const problem = anchor.problemWith(opened.head ?? undefined, opened.last)
  if (opened.head && !problem) anchor.saw(opened.head)
  anchors.set(db, anchor)
  return { head: opened.head, anchored: opened.anchored, problem }
}
