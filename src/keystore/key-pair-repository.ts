import { createPrivateKey } from 'node:crypto'
import type { Selectable } from 'kysely'
import type { SigningKeyPair } from '../cms/key-pair.js'
import { storedCertificate } from '../store/receiver-certificates.js'
import type { Database, Executor } from '../store/schema.js'
import type { KeyEncryptionKeys } from './key-encryption-key.js'

export type KeyPairRow = Selectable<Database['key_pairs']>

/** A key pair being written under an alias, at `at` (ISO 8601); the private key sealed already. */
export type KeyPairWrite = {
  alias: string
  certificate: Buffer
  sha256_fingerprint: string
  /** DER of the certificates after the signer's. */
  chain: Buffer[]
  wrapped_key: Buffer
  kek_id: string
  version: number
  at: string
}

/** The columns that change whenever an alias gets a key pair, created or replaced. */
const currentKeyPair = (row: KeyPairWrite) => ({
  certificate: row.certificate,
  sha256_fingerprint: row.sha256_fingerprint,
  chain: JSON.stringify(row.chain.map((der) => der.toString('base64'))),
  wrapped_key: row.wrapped_key,
  kek_id: row.kek_id,
  version: row.version,
  updated_at: row.at,
})

/** The stored chain column: base64 DER in a JSON array, back to DER. */
export const storedChain = (row: { chain: string }): Buffer[] =>
  (JSON.parse(row.chain) as string[]).map((b64) => Buffer.from(b64, 'base64'))

/** The columns anyone may read: everything but the sealed key, so a listing never even loads it. */
const PUBLIC_COLUMNS = [
  'alias',
  'certificate',
  'sha256_fingerprint',
  'chain',
  'version',
  'created_at',
  'updated_at',
] as const

export type PublicKeyPairRow = Pick<KeyPairRow, (typeof PUBLIC_COLUMNS)[number]>

/** Queries on the key-pair tables; one set for every SQL dialect. */
export const keyPairRepository = {
  /** The whole row, sealed key included: for writes and for opening the key, never for rendering. */
  find(db: Executor, alias: string): Promise<KeyPairRow | undefined> {
    return db.selectFrom('key_pairs').selectAll().where('alias', '=', alias).executeTakeFirst()
  },

  findPublic(db: Executor, alias: string): Promise<PublicKeyPairRow | undefined> {
    return db.selectFrom('key_pairs').select(PUBLIC_COLUMNS).where('alias', '=', alias).executeTakeFirst()
  },

  listPublic(db: Executor): Promise<PublicKeyPairRow[]> {
    return db.selectFrom('key_pairs').select(PUBLIC_COLUMNS).orderBy('alias').execute()
  },

  async exists(db: Executor, alias: string): Promise<boolean> {
    return (
      (await db.selectFrom('key_pairs').select('alias').where('alias', '=', alias).executeTakeFirst()) !== undefined
    )
  },

  history(db: Executor, alias: string) {
    return db.selectFrom('key_pair_history').selectAll().where('alias', '=', alias).orderBy('id', 'desc').execute()
  },

  /** Versions keep counting across delete and re-create, so an old ETag never matches a new key pair. */
  async nextVersion(db: Executor, alias: string): Promise<number> {
    const row = await db
      .selectFrom('key_pair_history')
      .select((eb) => eb.fn.max('version').as('max'))
      .where('alias', '=', alias)
      .executeTakeFirst()
    return Number(row?.max ?? 0) + 1
  },

  async insert(db: Executor, row: KeyPairWrite) {
    await db
      .insertInto('key_pairs')
      .values({ alias: row.alias, ...currentKeyPair(row), created_at: row.at })
      .execute()
  },

  async replace(db: Executor, row: KeyPairWrite) {
    await db.updateTable('key_pairs').set(currentKeyPair(row)).where('alias', '=', row.alias).execute()
  },

  async delete(db: Executor, alias: string) {
    await db.deleteFrom('key_pairs').where('alias', '=', alias).execute()
  },

  /** The history keeps the public part only: a retired private key is gone for good. */
  async retire(db: Executor, entry: PublicKeyPairRow, reason: 'replaced' | 'deleted', at: string) {
    await db
      .insertInto('key_pair_history')
      .values({
        alias: entry.alias,
        certificate: entry.certificate,
        sha256_fingerprint: entry.sha256_fingerprint,
        version: entry.version,
        retired_at: at,
        reason,
      })
      .execute()
  },

  /** Ids of the encryptors that sign with `alias`, in id order. */
  async signers(db: Executor, alias: string): Promise<Array<{ id: string; signature: string | null }>> {
    const rows = await db
      .selectFrom('encryptors')
      .select(['id', 'signer_signature'])
      .where('signer_alias', '=', alias)
      .orderBy('id')
      .execute()
    return rows.map((r) => ({ id: r.id, signature: r.signer_signature }))
  },
}

/**
 * The key pair under `alias`, private key opened, read in the caller's transaction (the encrypt path
 * resolves an encryptor's signer in the same snapshot as its recipients); undefined when the alias
 * holds no key pair. Throws when the key-encryption key that sealed it is not loaded, or the sealed
 * bytes were not sealed for this alias and version: a moved or tampered row never signs.
 */
export async function loadSigningKeyPair(
  db: Executor,
  keys: KeyEncryptionKeys,
  alias: string,
): Promise<SigningKeyPair | undefined> {
  const row = await keyPairRepository.find(db, alias)
  if (!row) return undefined
  return openKeyPair(row, keys)
}

/** A stored row as a SigningKeyPair; the opened PKCS#8 bytes are wiped once the KeyObject holds them. */
export function openKeyPair(row: KeyPairRow, keys: KeyEncryptionKeys): SigningKeyPair {
  const certificate = storedCertificate(row)
  const pkcs8 = keys.open(row.kek_id, Buffer.from(row.wrapped_key), { alias: row.alias, version: row.version })
  try {
    const privateKey = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })
    return { certificate, chain: storedChain(row), privateKey, keyType: certificate.publicKey }
  } finally {
    pkcs8.fill(0)
  }
}
