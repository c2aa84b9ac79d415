import type { Kysely } from 'kysely'
import type { Database, Executor } from '../store/schema.js'
import { readSnapshot, writeTransaction } from '../store/transact.js'
import { keyPairsByKek } from './kek-check.js'
import { SealedKeyError, type KeyEncryptionKeys } from './key-encryption-key.js'

/**
 * Moving the sealed private keys to the first key of KEY_ENCRYPTION_KEY_FILE (docs/key-encryption-key.md).
 * Only wrapped_key and kek_id change: the key pair, its version and updated_at stay as they were, so
 * nothing that reads key pairs sees a change, and a replica that opened a key before keeps using it.
 */

/** A key pair that does not open with the loaded keys. */
export interface UnopenedKeyPair {
  alias: string
  version: number
  kekId: string
  reason: SealedKeyError['reason']
}

export interface RotationCheck {
  currentId: string
  /** Key pairs per kek id, as the store holds them now. */
  byKek: Map<string, number>
  /** How many a rotation would re-seal: those under another key than the current one. */
  toReseal: number
  /** Key pairs that do not open: while there is one, a rotation fails and changes nothing. */
  unopened: UnopenedKeyPair[]
}

export interface RotationResult {
  currentId: string
  resealed: number
  /** Key pairs per kek id after the rotation: the current id only. */
  remaining: Map<string, number>
}

/** The sealed key of every key pair, in one order (alias) so a failure names the same row each time. */
function sealedKeys(db: Executor) {
  return db.selectFrom('key_pairs').select(['alias', 'version', 'kek_id', 'wrapped_key']).orderBy('alias').execute()
}

/** What a rotation would do, changing nothing: every key pair is opened as a trial (and wiped). */
export async function checkRotation(db: Kysely<Database>, keys: KeyEncryptionKeys): Promise<RotationCheck> {
  return readSnapshot(db, async (tx) => {
    const rows = await sealedKeys(tx)
    const unopened: UnopenedKeyPair[] = []
    for (const row of rows) {
      const binding = { alias: row.alias, version: Number(row.version) }
      try {
        keys.open(row.kek_id, Buffer.from(row.wrapped_key), binding).fill(0)
      } catch (err) {
        if (!(err instanceof SealedKeyError)) throw err
        unopened.push({ ...binding, kekId: row.kek_id, reason: err.reason })
      }
    }
    return {
      currentId: keys.currentId,
      byKek: await keyPairsByKek(tx),
      toReseal: rows.filter((r) => r.kek_id !== keys.currentId).length,
      unopened,
    }
  })
}

/**
 * Re-seals every key pair under the current key, in one transaction: each is opened with the key its
 * kek_id names and sealed again under the first key of the file. One that does not open throws
 * SealedKeyError and rolls back the whole rotation, so the store is never half moved. The write lock
 * keeps a replica from adding a key pair under the old key in between.
 */
export async function rotateKeyEncryptionKey(db: Kysely<Database>, keys: KeyEncryptionKeys): Promise<RotationResult> {
  return writeTransaction(db, async (tx) => {
    let resealed = 0
    for (const row of await sealedKeys(tx)) {
      if (row.kek_id === keys.currentId) continue
      const binding = { alias: row.alias, version: Number(row.version) }
      const pkcs8 = keys.open(row.kek_id, Buffer.from(row.wrapped_key), binding)
      let sealed
      try {
        sealed = keys.seal(pkcs8, binding)
      } finally {
        pkcs8.fill(0)
      }
      await tx
        .updateTable('key_pairs')
        .set({ wrapped_key: sealed.wrapped, kek_id: sealed.kekId })
        .where('alias', '=', row.alias)
        .where('version', '=', row.version)
        .execute()
      resealed++
    }
    return { currentId: keys.currentId, resealed, remaining: await keyPairsByKek(tx) }
  })
}
