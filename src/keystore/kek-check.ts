import type { Kysely } from 'kysely'
import type { Database, Executor } from '../store/schema.js'
import { readSnapshot } from '../store/transact.js'
import { KeyEncryptionKeyError, SealedKeyError, type KeyEncryptionKeys } from './key-encryption-key.js'

/** How many key pairs each kek id in the store sealed. */
export async function keyPairsByKek(db: Executor): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('key_pairs')
    .select((eb) => ['kek_id', eb.fn.countAll().as('count')])
    .groupBy('kek_id')
    .orderBy('kek_id')
    .execute()
  return new Map(rows.map((r) => [r.kek_id, Number(r.count)]))
}

/**
 * Checks at start, before anything is served, that these keys open what the store holds: every kek
 * id in key_pairs must be a loaded key, and for each id one sealed key (a trial, wiped at once) must
 * open. Otherwise a replica given another KEY_ENCRYPTION_KEY_FILE would start, look healthy, and fail
 * on the first signing encrypt; refusing the start says why while an operator is looking.
 * Answers how many key pairs each id sealed.
 */
export async function checkKeyEncryptionKeys(
  db: Kysely<Database>,
  keys: KeyEncryptionKeys,
): Promise<Map<string, number>> {
  return readSnapshot(db, (tx) => check(tx, keys))
}

async function check(db: Executor, keys: KeyEncryptionKeys): Promise<Map<string, number>> {
  const byKek = await keyPairsByKek(db)
  const unknown = [...byKek].filter(([kekId]) => !keys.has(kekId))
  if (unknown.length) {
    const named = unknown.map(([kekId, count]) => `${kekId} (${count} key pair${count === 1 ? '' : 's'})`)
    throw new KeyEncryptionKeyError(
      `The store holds private keys sealed under key-encryption key${unknown.length === 1 ? '' : 's'} ` +
        `${named.join(', ')}, which ${keys.source} does not hold (it holds ${keys.ids.join(', ')}). ` +
        'Replicas must share KEY_ENCRYPTION_KEY_FILE; after a rotation, keep the old key in the file until ' +
        'npm run kek:rotate has re-sealed every key pair (docs/key-encryption-key.md).',
    )
  }
  for (const kekId of byKek.keys()) {
    const sample = await db
      .selectFrom('key_pairs')
      .select(['alias', 'version', 'wrapped_key'])
      .where('kek_id', '=', kekId)
      .orderBy('alias')
      .limit(1)
      .executeTakeFirstOrThrow()
    try {
      keys
        .open(kekId, Buffer.from(sample.wrapped_key), { alias: sample.alias, version: Number(sample.version) })
        .fill(0)
    } catch (err) {
      if (!(err instanceof SealedKeyError)) throw err
      throw new KeyEncryptionKeyError(
        `${keys.source}: ${err.message} The service does not start rather than sign with a key it cannot ` +
          'open: restore the key pair, or import it again (docs/key-encryption-key.md).',
      )
    }
  }
  return byKek
}
