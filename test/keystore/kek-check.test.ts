import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { KEY_ENCRYPTION_KEY_FILE, KeyEncryptionKeyError } from '../../src/keystore/key-encryption-key.js'
import { buildTestApp } from '../helpers/app.js'
import { insertKeyPair, kekStore, keyLine, pkcs8Of } from './kek-fixtures.js'

t.test('the default test app has a key-encryption key, made in its DATA_DIR', async (t) => {
  const app = await buildTestApp(t)
  const keys = app.keyEncryptionKeys
  t.match(keys.currentId, /^[0-9a-f]{16}$/)
  t.match(keys.source, new RegExp(`cms-test-data-[^/]+/${KEY_ENCRYPTION_KEY_FILE}$`), 'in the temporary DATA_DIR')
  t.equal(statSync(keys.source).mode & 0o777, 0o600)
  const binding = { alias: 'a', version: 1 }
  const sealed = keys.seal(pkcs8Of('a'), binding)
  t.same(keys.open(sealed.kekId, sealed.wrapped, binding), pkcs8Of('a'))
})

t.test('a store whose key pairs open starts again, with the DATA_DIR key kept', async (t) => {
  const store = await kekStore(t)
  const first = await store.start()
  t.ok(first.keyEncryptionKeys.created, 'made by the first start')
  await insertKeyPair(first.db, first.keyEncryptionKeys, 'signer')
  const id = first.keyEncryptionKeys.currentId
  await first.close()
  const second = await store.start()
  t.equal(second.keyEncryptionKeys.currentId, id, 'the same key')
  t.notOk(second.keyEncryptionKeys.created)
  t.ok(existsSync(join(store.dataDir, KEY_ENCRYPTION_KEY_FILE)))
})

t.test('a store holding a key pair under a kek id not in the file refuses the start, naming the id', async (t) => {
  const store = await kekStore(t)
  const [ours, theirs] = [keyLine(), keyLine()]
  const other = await store.start([theirs])
  const theirId = other.keyEncryptionKeys.currentId
  await insertKeyPair(other.db, other.keyEncryptionKeys, 'signer-a')
  await insertKeyPair(other.db, other.keyEncryptionKeys, 'signer-b')
  await other.close()
  await t.rejects(store.start([ours]), {
    constructor: KeyEncryptionKeyError,
    message: new RegExp(`${theirId} \\(2 key pairs\\).*Replicas must share KEY_ENCRYPTION_KEY_FILE`),
  })
  await t.rejects(
    store.start(),
    { constructor: KeyEncryptionKeyError, message: theirId },
    'nor with a new DATA_DIR key',
  )
  const both = await store.start([ours, theirs])
  t.equal(both.keyEncryptionKeys.ids[1], theirId, 'with the key as a second line it starts')
})

t.test('a store whose kek id is known but whose sealed bytes do not open refuses the start', async (t) => {
  const store = await kekStore(t)
  const line = keyLine()
  const app = await store.start([line])
  const keys = app.keyEncryptionKeys
  const garbage = Buffer.alloc(12 + 40 + 16, 7)
  await insertKeyPair(app.db, keys, 'altered', { wrapped: garbage })
  await app.close()
  await t.rejects(store.start([line]), {
    constructor: KeyEncryptionKeyError,
    message: /alias "altered" version 1 does not open with key-encryption key [0-9a-f]{16}.*does not start/,
  })
})

t.test('a sealed key moved to another alias does not open, and refuses the start', async (t) => {
  const store = await kekStore(t)
  const line = keyLine()
  const app = await store.start([line])
  const keys = app.keyEncryptionKeys
  const sealedForB = keys.seal(pkcs8Of('b'), { alias: 'b', version: 1 })
  await insertKeyPair(app.db, keys, 'a', { wrapped: sealedForB.wrapped })
  await app.close()
  await t.rejects(store.start([line]), {
    constructor: KeyEncryptionKeyError,
    message: /alias "a" version 1 does not open/,
  })
})
