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
  }
  encryptor_aliases: {
    encryptor_id: string
    /** Order of the aliases as configured (0-based). */
    position: number
    alias: string
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
