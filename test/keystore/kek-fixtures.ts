import { randomBytes } from 'node:crypto'
import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Kysely } from 'kysely'
import type { Test } from 'tap'
import { createApp } from '../../src/app.js'
import type { KeyEncryptionKeys } from '../../src/keystore/key-encryption-key.js'
import type { Database } from '../../src/store/schema.js'
import { freshDatabaseUrl, storeDir, testConfig, testTokens } from '../helpers/app.js'

/** A new key-encryption key as a line of KEY_ENCRYPTION_KEY_FILE. */
export const keyLine = () => randomBytes(32).toString('base64')

/** Stands in for a private key's PKCS#8: what is sealed does not matter to the KEK, only that it comes back. */
export const pkcs8Of = (alias: string) => Buffer.from(`pkcs8 of ${alias}`)

/** A KEY_ENCRYPTION_KEY_FILE (mode 0600) holding `lines`, in the test's own directory. */
export function kekFile(t: Test, lines: string[]): string {
  const path = join(t.testdir(), `kek-${randomBytes(4).toString('hex')}`)
  writeFileSync(path, lines.join('\n') + '\n')
  chmodSync(path, 0o600)
  return path
}

/** A store (a data directory and, on a PostgreSQL run, a database) that apps can be started on in turn. */
export async function kekStore(t: Test) {
  const dataDir = storeDir(t)
  const databaseUrl = await freshDatabaseUrl(t)
  return {
    dataDir,
    databaseUrl,
    /** Starts the app on this store with these key lines (none: the DATA_DIR default); closed in teardown. */
    async start(lines?: string[]) {
      const file = lines ? kekFile(t, lines) : ''
      const config = testConfig({ DATA_DIR: dataDir, DATABASE_URL: databaseUrl, KEY_ENCRYPTION_KEY_FILE: file })
      const app = await createApp(config, { tokens: testTokens(), logger: false })
      t.teardown(() => app.close())
      return app
    },
    /** The environment the rotation command reads, for this store and these key lines. */
    env(lines: string[]): NodeJS.ProcessEnv {
      return { DATA_DIR: dataDir, DATABASE_URL: databaseUrl, KEY_ENCRYPTION_KEY_FILE: kekFile(t, lines) }
    },
  }
}

/** Inserts a key pair row directly (no service): sealed by `keys`, or with the `wrapped`/`kekId` given. */
export async function insertKeyPair(
  db: Kysely<Database>,
  keys: KeyEncryptionKeys,
  alias: string,
  override: { wrapped?: Buffer; kekId?: string; version?: number } = {},
) {
  const version = override.version ?? 1
  const sealed = keys.seal(pkcs8Of(alias), { alias, version })
  const now = new Date().toISOString()
  await db
    .insertInto('key_pairs')
    .values({
      alias,
      certificate: Buffer.from(`certificate of ${alias}`),
      sha256_fingerprint: '0'.repeat(64),
      chain: '[]',
      wrapped_key: override.wrapped ?? sealed.wrapped,
      kek_id: override.kekId ?? sealed.kekId,
      version,
      created_at: now,
      updated_at: now,
    })
    .execute()
}

/** Every key pair row's kek id and sealed key, by alias. */
export async function sealedRows(db: Kysely<Database>) {
  const rows = await db.selectFrom('key_pairs').selectAll().orderBy('alias').execute()
  return rows.map((r) => ({ ...r, wrapped_key: Buffer.from(r.wrapped_key), version: Number(r.version) }))
}
