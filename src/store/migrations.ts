import { sql, type ColumnDefinitionBuilder, type Kysely, type Migration, type MigrationProvider } from 'kysely'

/**
 * Numbered migrations, applied in order at start. Never edit one that has shipped: add the next.
 * `autoIncrement` differs between dialects, so each migration gets the dialect's spelling.
 */
export type Dialect = 'sqlite' | 'postgres'

function migrations(dialect: Dialect): Record<string, Migration> {
  const identity = (col: ColumnDefinitionBuilder) =>
    dialect === 'sqlite' ? col.primaryKey().autoIncrement() : col.primaryKey().generatedAlwaysAsIdentity()
  const blob = dialect === 'sqlite' ? 'blob' : 'bytea'
  return {
    '0001_initial': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('keystore_entries')
          .addColumn('alias', 'varchar(250)', (c) => c.primaryKey())
          .addColumn('certificate', blob, (c) => c.notNull())
          .addColumn('sha256_fingerprint', 'varchar(64)', (c) => c.notNull())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
          .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
          .execute()
        await db.schema
          .createTable('keystore_history')
          .addColumn('id', 'integer', identity)
          .addColumn('alias', 'varchar(250)', (c) => c.notNull())
          .addColumn('certificate', blob, (c) => c.notNull())
          .addColumn('sha256_fingerprint', 'varchar(64)', (c) => c.notNull())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('retired_at', 'varchar(32)', (c) => c.notNull())
          .addColumn('reason', 'varchar(16)', (c) => c.notNull())
          .execute()
        await db.schema.createIndex('keystore_history_alias').on('keystore_history').column('alias').execute()
        await db.schema
          .createTable('encryptors')
          .addColumn('id', 'varchar(250)', (c) => c.primaryKey())
          .addColumn('content_encryption', 'varchar(32)', (c) => c.notNull())
          .addColumn('key_transport', 'varchar(32)', (c) => c.notNull())
          .addColumn('recipient_identifier', 'varchar(32)', (c) => c.notNull())
          .addColumn('missing_alias', 'varchar(8)', (c) => c.notNull())
          .addColumn('encoding', 'varchar(8)', (c) => c.notNull())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
          .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
          .execute()
        await db.schema
          .createTable('encryptor_aliases')
          .addColumn('encryptor_id', 'varchar(250)', (c) => c.notNull().references('encryptors.id').onDelete('cascade'))
          .addColumn('position', 'integer', (c) => c.notNull())
          .addColumn('alias', 'varchar(250)', (c) => c.notNull())
          .addPrimaryKeyConstraint('encryptor_aliases_pk', ['encryptor_id', 'alias'])
          .execute()
        await db.schema.createIndex('encryptor_aliases_alias').on('encryptor_aliases').column('alias').execute()
        await db.schema
          .createTable('auth_tokens')
          .addColumn('name', 'varchar(250)', (c) => c.primaryKey())
          .addColumn('roles', 'varchar(500)', (c) => c.notNull())
          .addColumn('token_sha256', 'varchar(64)', (c) => c.notNull().unique())
          .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
          .execute()
      },
    },
    '0002_renewals_and_audit': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('renewals')
          .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
          .addColumn('procedure', 'varchar(32)', (c) => c.notNull())
          .addColumn('encryptor_id', 'varchar(250)', (c) => c.notNull())
          .addColumn('current_alias', 'varchar(250)', (c) => c.notNull())
          .addColumn('new_alias', 'varchar(250)')
          .addColumn('state', 'varchar(16)', (c) => c.notNull())
          .addColumn('done_steps', 'integer', (c) => c.notNull())
          .addColumn('step_log', 'text', (c) => c.notNull())
          .addColumn('certificate', blob, (c) => c.notNull())
          .addColumn('certificate_fingerprint', 'varchar(64)', (c) => c.notNull())
          .addColumn('downtime_start', 'varchar(32)')
          .addColumn('downtime_end', 'varchar(32)')
          .addColumn('created_by', 'varchar(250)', (c) => c.notNull())
          .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
          .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
          .execute()
        await db.schema.createIndex('renewals_state').on('renewals').columns(['state', 'encryptor_id']).execute()
        await db.schema
          .createTable('audit_log')
          .addColumn('id', 'integer', identity)
          .addColumn('at', 'varchar(32)', (c) => c.notNull())
          .addColumn('actor', 'varchar(250)', (c) => c.notNull())
          .addColumn('role', 'varchar(32)', (c) => c.notNull())
          .addColumn('action', 'varchar(64)', (c) => c.notNull())
          .addColumn('target', 'varchar(300)', (c) => c.notNull())
          .addColumn('before', 'text')
          .addColumn('after', 'text')
          .addColumn('renewal_id', 'varchar(36)')
          .addColumn('comment', 'text')
          .execute()
        await db.schema.createIndex('audit_log_target').on('audit_log').column('target').execute()
        await db.schema.createIndex('audit_log_renewal').on('audit_log').column('renewal_id').execute()
        // Set while a downtime renewal has paused the encryptor: encrypt answers 503 + Retry-After.
        await db.schema.alterTable('encryptors').addColumn('paused_by', 'varchar(36)').execute()
        await db.schema.alterTable('encryptors').addColumn('paused_until', 'varchar(32)').execute()
      },
    },
    '0003_audit_hash_chain': {
      async up(db: Kysely<unknown>) {
        // Each record's hash covers its content and the previous record's hash: editing or
        // deleting a record in the database breaks the chain from there on (GET /audit/verify).
        await db.schema.alterTable('audit_log').addColumn('hash', 'varchar(64)').execute()
        // One row, written first by every SQLite write transaction: that takes the write lock up
        // front, where busy_timeout waits, instead of failing when a read lock must be upgraded.
        await db.schema
          .createTable('write_lock')
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .addColumn('writes', 'integer', (c) => c.notNull())
          .execute()
        await sql`insert into write_lock (id, writes) values (1, 0)`.execute(db)
      },
    },
    '0004_audit_head': {
      async up(db: Kysely<unknown>) {
        // The signed head of the audit chain: whoever can write the database can recompute the
        // chain, but not sign its new end. No row is inserted here: the first start with the key
        // signs the chain as it stands (audit/anchor.ts).
        await db.schema
          .createTable('audit_head')
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .addColumn('last_id', 'integer', (c) => c.notNull())
          .addColumn('hash', 'varchar(64)', (c) => c.notNull())
          .addColumn('at', 'varchar(32)', (c) => c.notNull())
          .addColumn('mac', 'varchar(64)', (c) => c.notNull())
          .addCheckConstraint('audit_head_one_row', sql`id = 1`)
          .execute()
      },
    },
    '0005_webhooks': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('webhook_subscriptions')
          .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
          .addColumn('url', 'varchar(2048)', (c) => c.notNull())
          .addColumn('events', 'text', (c) => c.notNull())
          .addColumn('description', 'varchar(500)')
          .addColumn('enabled', 'integer', (c) => c.notNull())
          .addColumn('secret', 'varchar(200)', (c) => c.notNull())
          .addColumn('previous_secret', 'varchar(200)')
          .addColumn('previous_secret_until', 'varchar(32)')
          .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
          .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
          .execute()
        // The outbox: written in the transaction of the change it tells of.
        await db.schema
          .createTable('webhook_events')
          .addColumn('seq', 'integer', identity)
          .addColumn('id', 'varchar(64)', (c) => c.notNull().unique())
          .addColumn('type', 'varchar(64)', (c) => c.notNull())
          .addColumn('at', 'varchar(32)', (c) => c.notNull())
          .addColumn('body', 'text', (c) => c.notNull())
          .execute()
        await db.schema
          .createTable('webhook_deliveries')
          .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
          .addColumn('seq', 'integer', (c) => c.notNull())
          .addColumn('event_id', 'varchar(64)', (c) => c.notNull())
          .addColumn('subscription_id', 'varchar(36)', (c) =>
            c.notNull().references('webhook_subscriptions.id').onDelete('cascade'),
          )
          .addColumn('ordering_key', 'varchar(300)', (c) => c.notNull())
          .addColumn('state', 'varchar(16)', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull())
          .addColumn('next_attempt_at', 'varchar(32)', (c) => c.notNull())
          .addColumn('first_attempt_at', 'varchar(32)')
          .addColumn('claimed_by', 'varchar(100)')
          .addColumn('claimed_until', 'varchar(32)')
          .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
          .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
          .execute()
        await db.schema
          .createIndex('webhook_deliveries_due')
          .on('webhook_deliveries')
          .columns(['state', 'seq'])
          .execute()
        // The worker's "no earlier delivery of this key pending" check, and the delivery log's pages.
        await db.schema
          .createIndex('webhook_deliveries_key')
          .on('webhook_deliveries')
          .columns(['subscription_id', 'ordering_key', 'state', 'seq'])
          .execute()
        await db.schema
          .createIndex('webhook_deliveries_subscription')
          .on('webhook_deliveries')
          .columns(['subscription_id', 'seq'])
          .execute()
        await db.schema
          .createTable('webhook_attempts')
          .addColumn('delivery_id', 'varchar(36)', (c) =>
            c.notNull().references('webhook_deliveries.id').onDelete('cascade'),
          )
          .addColumn('number', 'integer', (c) => c.notNull())
          .addColumn('at', 'varchar(32)', (c) => c.notNull())
          .addColumn('status', 'integer')
          .addColumn('duration_ms', 'integer', (c) => c.notNull())
          .addColumn('error', 'varchar(500)')
          .addColumn('response_prefix', 'varchar(300)')
          .addColumn('by', 'varchar(100)', (c) => c.notNull())
          .addPrimaryKeyConstraint('webhook_attempts_pk', ['delivery_id', 'number'])
          .execute()
        // Timed events already fired (a threshold per certificate, a wait per renewal step): the
        // primary key is what keeps restarts and replicas from firing one twice.
        await db.schema
          .createTable('webhook_fired')
          .addColumn('kind', 'varchar(64)', (c) => c.notNull())
          .addColumn('subject', 'varchar(400)', (c) => c.notNull())
          .addColumn('mark', 'varchar(32)', (c) => c.notNull())
          .addColumn('at', 'varchar(32)', (c) => c.notNull())
          .addPrimaryKeyConstraint('webhook_fired_pk', ['kind', 'subject', 'mark'])
          .execute()
        // Named leases (the scheduler's): held by one replica until it lapses or is renewed.
        await db.schema
          .createTable('leases')
          .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
          .addColumn('holder', 'varchar(100)', (c) => c.notNull())
          .addColumn('until', 'varchar(32)', (c) => c.notNull())
          .execute()
      },
    },
    '0006_key_pairs': {
      async up(db: Kysely<unknown>) {
        // The tenant's own key pairs. The private key is stored only wrapped (AES-256-GCM under a
        // key-encryption key the database does not hold, kek_id naming which; alias and version are
        // its associated data). Aliases are unique across this table and keystore_entries.
        await db.schema
          .createTable('key_pairs')
          .addColumn('alias', 'varchar(250)', (c) => c.primaryKey())
          .addColumn('certificate', blob, (c) => c.notNull())
          .addColumn('sha256_fingerprint', 'varchar(64)', (c) => c.notNull())
          // JSON array of base64 DER: the certificates after the signer's, issuer after subject.
          .addColumn('chain', 'text', (c) => c.notNull())
          .addColumn('wrapped_key', blob, (c) => c.notNull())
          .addColumn('kek_id', 'varchar(64)', (c) => c.notNull())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
          .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
          .execute()
        // Retired key pairs: their public part only. A private key leaves the store with its entry.
        await db.schema
          .createTable('key_pair_history')
          .addColumn('id', 'integer', identity)
          .addColumn('alias', 'varchar(250)', (c) => c.notNull())
          .addColumn('certificate', blob, (c) => c.notNull())
          .addColumn('sha256_fingerprint', 'varchar(64)', (c) => c.notNull())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('retired_at', 'varchar(32)', (c) => c.notNull())
          .addColumn('reason', 'varchar(16)', (c) => c.notNull())
          .execute()
        await db.schema.createIndex('key_pair_history_alias').on('key_pair_history').column('alias').execute()
        // An encryptor that signs: all five set, or none (signer_alias null).
        for (const column of [
          'signer_alias',
          'signer_digest',
          'signer_signature',
          'signer_include_certificates',
          'signer_identifier',
        ]) {
          await db.schema.alterTable('encryptors').addColumn(column, 'varchar(250)').execute()
        }
      },
    },
  }
}

export function migrationProvider(dialect: Dialect): MigrationProvider {
  return { getMigrations: async () => migrations(dialect) }
}
