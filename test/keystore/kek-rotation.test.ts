import t, { type Test } from 'tap'
import { runRotateKek } from '../../src/kek-rotate-command.js'
import { checkRotation, rotateKeyEncryptionKey } from '../../src/keystore/kek-rotation.js'
import { parseKeyEncryptionKeys } from '../../src/keystore/key-encryption-key.js'
import { openDatabase } from '../../src/store/database.js'
import { insertKeyPair, kekStore, keyLine, pkcs8Of, sealedRows } from './kek-fixtures.js'

const ALIASES = ['alpha', 'bravo', 'charlie', 'delta']

/** A store with four key pairs sealed under `old`, written by an app started with that key alone. */
async function storeUnder(t: Test, old: string) {
  const store = await kekStore(t)
  const app = await store.start([old])
  for (const [i, alias] of ALIASES.entries())
    await insertKeyPair(app.db, app.keyEncryptionKeys, alias, { version: i + 1 })
  await app.close()
  return store
}

/** Runs the rotation command in process, as `npm run kek:rotate` would. */
async function rotateCommand(env: NodeJS.ProcessEnv, args: string[] = []) {
  const out: string[] = []
  const err: string[] = []
  const code = await runRotateKek(
    args,
    env,
    (l) => out.push(l),
    (l) => err.push(l),
  )
  return { code, out: out.join('\n'), err: err.join('\n') }
}

t.test('rotation re-seals every key pair under the first key, then they open with it alone', async (t) => {
  const [old, next] = [keyLine(), keyLine()]
  const store = await storeUnder(t, old)
  const oldId = parseKeyEncryptionKeys(old, 'old').currentId
  const newId = parseKeyEncryptionKeys(next, 'new').currentId

  // (a) every replica restarted with the new key first and the old one second: it serves
  const serving = await store.start([next, old])
  t.equal(serving.keyEncryptionKeys.currentId, newId)

  // (b) once, from beside it
  const checked = await rotateCommand(store.env([next, old]), ['--check'])
  t.equal(checked.code, 0, checked.err)
  t.match(checked.out, `${oldId}: 4`)
  t.match(checked.out, `a rotation would re-seal 4 under ${newId}`)
  t.same(
    (await sealedRows(serving.db)).map((r) => r.kek_id),
    ALIASES.map(() => oldId),
    '--check changes nothing',
  )
  const before = await sealedRows(serving.db)
  const rotated = await rotateCommand(store.env([next, old]))
  t.equal(rotated.code, 0, rotated.err)
  t.match(rotated.out, `re-sealed 4 key pair(s) under ${newId}`)
  t.match(rotated.out, `kek ids left in the store: ${newId}: 4`)

  const after = await sealedRows(serving.db)
  t.same(
    after.map((r) => [r.alias, r.version, r.kek_id, r.updated_at, r.certificate.toString()]),
    before.map((r) => [r.alias, r.version, newId, r.updated_at, r.certificate.toString()]),
    'only wrapped_key and kek_id change',
  )
  // the running replica, holding both keys, opens every key pair before and after
  for (const r of [...before, ...after]) {
    t.same(serving.keyEncryptionKeys.open(r.kek_id, r.wrapped_key, r), pkcs8Of(r.alias), `${r.alias} opens`)
  }
  const onlyNew = parseKeyEncryptionKeys(next, 'new only')
  for (const r of after) t.same(onlyNew.open(r.kek_id, r.wrapped_key, r), pkcs8Of(r.alias), `${r.alias}: new key alone`)
  await serving.close()

  // (c) the old line removed: the replicas start with the new key alone; the old key alone is refused
  t.equal((await store.start([next])).keyEncryptionKeys.ids.length, 1)
  await t.rejects(store.start([old]), { name: 'KeyEncryptionKeyError', message: newId })

  const again = await rotateCommand(store.env([next]))
  t.match(again.out, 're-sealed 0 key pair(s)', 'a second run has nothing to do')
})

t.test('a rotation that fails halfway changes nothing', async (t) => {
  const [old, next] = [keyLine(), keyLine()]
  const store = await storeUnder(t, old)
  const oldKeys = parseKeyEncryptionKeys(old, 'old')
  // after alpha and bravo in alias order: one row under the old id whose bytes do not open
  const db = await openDatabase({ dataDir: store.dataDir, databaseUrl: store.databaseUrl })
  t.teardown(() => db.destroy())
  await insertKeyPair(db, oldKeys, 'bravo-2', { wrapped: Buffer.alloc(80, 1) })
  const before = await sealedRows(db)

  const checked = await rotateCommand(store.env([next, old]), ['--check'])
  t.equal(checked.code, 1)
  t.match(checked.err, /does not open: alias "bravo-2" version 1/)
  const failed = await rotateCommand(store.env([next, old]))
  t.equal(failed.code, 1)
  t.match(failed.err, /alias "bravo-2" version 1 does not open.*Nothing was changed\./)
  t.same(await sealedRows(db), before, 'alpha and bravo, re-sealed before the failure, rolled back with it')

  const keys = parseKeyEncryptionKeys(`${next}\n${old}`, 'both')
  await t.rejects(rotateKeyEncryptionKey(db, keys), { name: 'SealedKeyError', reason: 'not-opened' })
  t.same(await sealedRows(db), before)
  t.equal((await checkRotation(db, keys)).unopened.length, 1)
})

t.test('a rotation without the old key in the file fails, naming the key it lacks, and changes nothing', async (t) => {
  const [old, next] = [keyLine(), keyLine()]
  const store = await storeUnder(t, old)
  const oldId = parseKeyEncryptionKeys(old, 'old').currentId
  const db = await openDatabase({ dataDir: store.dataDir, databaseUrl: store.databaseUrl })
  t.teardown(() => db.destroy())
  const before = await sealedRows(db)
  const failed = await rotateCommand(store.env([next]))
  t.equal(failed.code, 1)
  t.match(failed.err, new RegExp(`sealed under key-encryption key ${oldId}, which is not in`))
  t.same(await sealedRows(db), before)
})

t.test('the rotation command refuses a bad key file or argument, and never makes a key', async (t) => {
  const store = await kekStore(t)
  const short = await rotateCommand(store.env([Buffer.alloc(16).toString('base64')]))
  t.equal(short.code, 78)
  t.match(short.err, /line 1 holds 16 bytes/)
  const missing = await rotateCommand({ DATA_DIR: store.dataDir, DATABASE_URL: store.databaseUrl })
  t.equal(missing.code, 78)
  t.match(missing.err, /key-encryption-key does not exist, and KEY_ENCRYPTION_KEY_FILE is not set/)
  const usage = await rotateCommand(store.env([keyLine()]), ['--force'])
  t.equal(usage.code, 64)
  t.match(usage.err, /unknown argument --force/)
})
