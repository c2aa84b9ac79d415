import type { Generated, Kysely, Transaction } from 'kysely'

/** Tables as Kysely sees them. Timestamps are ISO 8601 text, so SQLite and PostgreSQL agree. */
export interface Database {
  keystore_entries: {
    alias: string
    certificate: Buffer
    sha256_fingerprint: string
    version: number
    created_at: string
    updated_at: string
  }
  keystore_history: {
    id: Generated<number>
    alias: string
    certificate: Buffer
    sha256_fingerprint: string
    version: number
    /** When this certificate stopped being current. */
    retired_at: string
    /** 'replaced' or 'deleted'. */
    reason: string
  }
  encryptors: {
    id: string
    content_encryption: string
    key_transport: string
    recipient_identifier: string
    missing_alias: string
    encoding: string
    version: number
    created_at: string
    updated_at: string
    /** Renewal id while a downtime renewal pauses this encryptor. */
    paused_by: string | null
    /** End of the planned downtime window, when known (Retry-After points at it). */
    paused_until: string | null
  }
  encryptor_aliases: {
    encryptor_id: string
    /** Order of the aliases as configured (0-based). */
    position: number
    alias: string
  }
  renewals: {
    id: string
    procedure: string
    encryptor_id: string
    current_alias: string
    new_alias: string | null
    /** 'active', 'completed' or 'aborted'. */
    state: string
    /** How many steps of the procedure are done. */
    done_steps: number
    /** JSON array of {name, at, by, role, comment}, one per completed step. */
    step_log: string
    /** DER of the receiver's new certificate, validated when the renewal started. */
    certificate: Buffer
    certificate_fingerprint: string
    downtime_start: string | null
    downtime_end: string | null
    created_by: string
    created_at: string
    updated_at: string
  }
  audit_log: {
    id: Generated<number>
    at: string
    actor: string
    role: string
    action: string
    target: string
    /** JSON: fingerprints and alias lists before the change. */
    before: string | null
    after: string | null
    renewal_id: string | null
    comment: string | null
    /** SHA-256 (hex) of the previous record's hash and this record's content: the audit hash chain. */
    hash: string | null
  }
  /**
   * One row (id 1): the newest audit record's id and hash, signed with the audit key (HMAC-SHA256),
   * which the database does not hold. Written in the transaction of every audit record.
   */
  audit_head: {
    id: number
    last_id: number
    hash: string
    /** When that record was written. */
    at: string
    /** HMAC-SHA256 (hex) of id, hash and time under the audit key (audit/anchor.ts). */
    mac: string
  }
  write_lock: {
    id: number
    writes: number
  }
  auth_tokens: {
    name: string
    /** JSON array of role names. */
    roles: string
    token_sha256: string
    created_at: string
  }
}

/** Anything queries can run on: the database itself or an open transaction. */
export type Executor = Kysely<Database> | Transaction<Database>
