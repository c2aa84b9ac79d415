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
  key_pairs: {
    alias: string
    certificate: Buffer
    sha256_fingerprint: string
    /** JSON array of base64 DER, the certificates after the signer's. */
    chain: string
    /** The PKCS#8 DER of the private key, sealed: iv (12) | ciphertext | tag (16). */
    wrapped_key: Buffer
    /** Which key-encryption key sealed it (KeyEncryptionKeys ids). */
    kek_id: string
    version: number
    created_at: string
    updated_at: string
  }
  key_pair_history: {
    id: Generated<number>
    alias: string
    certificate: Buffer
    sha256_fingerprint: string
    version: number
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
    /** The key pair this encryptor signs with (sign, then encrypt); null: encrypt only. */
    signer_alias: string | null
    signer_digest: string | null
    signer_signature: string | null
    signer_include_certificates: string | null
    signer_identifier: string | null
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
  webhook_subscriptions: {
    id: string
    url: string
    /** JSON array of event types, or ["*"]. */
    events: string
    description: string | null
    /** 1 or 0 (SQLite has no boolean). */
    enabled: number
    /** `whsec_…`: the service must sign with it, so it is kept (never shown after it is made). */
    secret: string
    /** The secret before the last rotation, still signing beside the new one until previous_secret_until. */
    previous_secret: string | null
    previous_secret_until: string | null
    created_at: string
    updated_at: string
  }
  /** The outbox: one row per event, written in the transaction of the change it tells of. */
  webhook_events: {
    seq: Generated<number>
    /** `evt_…`: the webhook-id of every delivery of the event. */
    id: string
    type: string
    at: string
    /** The JSON body, exactly as sent (and signed). */
    body: string
  }
  /** One event to one subscription: what the delivery worker claims, attempts and records. */
  webhook_deliveries: {
    id: string
    /** The event's seq: deliveries of one ordering key go out in this order. */
    seq: number
    event_id: string
    subscription_id: string
    /** Events with one key (a renewal, an alias, an encryptor) reach a subscription in order. */
    ordering_key: string
    /** 'pending', 'delivered' or 'failed'. */
    state: string
    attempts: number
    next_attempt_at: string
    first_attempt_at: string | null
    /** The replica delivering it, until claimed_until: past that, another replica takes it over. */
    claimed_by: string | null
    claimed_until: string | null
    created_at: string
    updated_at: string
  }
  webhook_attempts: {
    delivery_id: string
    number: number
    at: string
    /** HTTP status, or null when no response came (refused, timeout, blocked address). */
    status: number | null
    duration_ms: number
    error: string | null
    /** The first characters of the response body, no more. */
    response_prefix: string | null
    /** The replica that made the attempt. */
    by: string
  }
  webhook_fired: {
    kind: string
    subject: string
    mark: string
    at: string
  }
  leases: {
    name: string
    holder: string
    until: string
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
