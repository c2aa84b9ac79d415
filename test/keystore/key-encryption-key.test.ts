import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import {
  KEY_ENCRYPTION_KEY_FILE,
  KeyEncryptionKeyError,
  KeyEncryptionKeys,
  loadKeyEncryptionKeys,
  parseKeyEncryptionKeys,
  SealedKeyError,
} from '../../src/keystore/key-encryption-key.js'
import { DataDirError } from '../../src/store/data-dir.js'

const PKCS8 = randomBytes(1218) // the size of an RSA-2048 PKCS#8; the contents do not matter here
const BINDING = { alias: 'signer', version: 3 }
const keyLine = () => randomBytes(32).toString('base64')

/** A fresh DATA_DIR (0700) in the test's own directory. */
function dataDirs(t: Test) {
  const root = t.testdir()
  let n = 0
  return () => {
    const dir = join(root, `data-${++n}`)
    mkdirSync(dir, { mode: 0o700 })
    return dir
  }
}

t.test('seal then open gives the PKCS#8 back, under the current id', async (t) => {
  const keys = parseKeyEncryptionKeys(keyLine(), 'test')
  const { kekId, wrapped } = keys.seal(PKCS8, BINDING)
  t.equal(kekId, keys.currentId)
  t.match(kekId, /^[0-9a-f]{16}$/)
  t.equal(wrapped.length, 12 + PKCS8.length + 16, 'iv | ciphertext | tag')
  t.same(keys.open(kekId, wrapped, BINDING), PKCS8)
  t.not(keys.seal(PKCS8, BINDING).wrapped.toString('hex'), wrapped.toString('hex'), 'a fresh iv each time')
})

t.test('a sealed key does not open under another binding, when tampered with, or too short', async (t) => {
  const keys = parseKeyEncryptionKeys(keyLine(), 'test')
  const { kekId, wrapped } = keys.seal(PKCS8, BINDING)
  const cases: Array<[string, Buffer, { alias: string; version: number }]> = [
    ['another alias', wrapped, { alias: 'other', version: 3 }],
    ['another version', wrapped, { alias: 'signer', version: 4 }],
    ['a ciphertext byte flipped', flip(wrapped, 40), BINDING],
    ['an iv byte flipped', flip(wrapped, 0), BINDING],
    ['a tag byte flipped', flip(wrapped, wrapped.length - 1), BINDING],
    ['cut short', wrapped.subarray(0, 20), BINDING],
  ]
  for (const [name, bytes, binding] of cases) {
    t.throws(() => keys.open(kekId, bytes, binding), { name: 'SealedKeyError', reason: 'not-opened' }, name)
  }
  const runTogether = keys.seal(PKCS8, { alias: 'signer1', version: 3 })
  t.throws(
    () => keys.open(runTogether.kekId, runTogether.wrapped, { alias: 'signer', version: 13 }),
    { name: 'SealedKeyError', reason: 'not-opened' },
    'alias and version are kept apart ("signer1", 3 is not "signer", 13)',
  )
})

t.test('a kek id that is not loaded is refused, naming it and KEY_ENCRYPTION_KEY_FILE', async (t) => {
  const sealer = parseKeyEncryptionKeys(keyLine(), 'sealer')
  const other = parseKeyEncryptionKeys(keyLine(), 'other')
  const { kekId, wrapped } = sealer.seal(PKCS8, BINDING)
  t.throws(() => other.open(kekId, wrapped, BINDING), {
    constructor: SealedKeyError,
    reason: 'unknown-kek',
    message: new RegExp(`${kekId}.*KEY_ENCRYPTION_KEY_FILE`),
  })
  t.throws(
    () => other.open(other.currentId, wrapped, BINDING),
    { name: 'SealedKeyError', reason: 'not-opened' },
    'nor under a wrong id',
  )
})

t.test('a file of two keys seals with the first and opens with both', async (t) => {
  const [newer, older] = [keyLine(), keyLine()]
  const before = parseKeyEncryptionKeys(older, 'before')
  const sealedBefore = before.seal(PKCS8, BINDING)
  const both = parseKeyEncryptionKeys(`# added today\n${newer}\n\n${older}\n`, 'both')
  t.equal(both.ids.length, 2)
  t.equal(both.ids[1], before.currentId, 'the second line keeps its id')
  t.not(both.currentId, before.currentId, 'the first line seals')
  const sealedNow = both.seal(PKCS8, BINDING)
  t.equal(sealedNow.kekId, both.currentId)
  t.same(both.open(sealedBefore.kekId, sealedBefore.wrapped, BINDING), PKCS8, 'opens what the old key sealed')
  t.same(both.open(sealedNow.kekId, sealedNow.wrapped, BINDING), PKCS8)
  t.same(parseKeyEncryptionKeys(newer, 'new only').open(sealedNow.kekId, sealedNow.wrapped, BINDING), PKCS8)
})

t.test('the kek id is neither the key nor a plain hash of it, and stable across loads', async (t) => {
  const line = keyLine()
  const secret = Buffer.from(line, 'base64')
  const id = parseKeyEncryptionKeys(line, 'a').currentId
  t.equal(parseKeyEncryptionKeys(`${line}\r\n`, 'b').currentId, id, 'CRLF and trailing newline alike')
  const { createHash } = await import('node:crypto')
  t.notOk(createHash('sha256').update(secret).digest('hex').startsWith(id))
  t.notOk(secret.toString('hex').startsWith(id))
})

t.test('a malformed key file is a KeyEncryptionKeyError naming the line, never its content', async (t) => {
  const good = keyLine()
  const short = randomBytes(16).toString('base64')
  const long = randomBytes(64).toString('base64')
  const cases: Array<[string, string, RegExp]> = [
    ['empty', '', /holds no key/],
    ['only comments and blank lines', '# a note\n\n', /holds no key/],
    ['a key of 16 bytes', short, /line 1 holds 16 bytes; .* exactly 32/],
    ['a key of 64 bytes on the second line', `${good}\n${long}`, /line 2 holds 64 bytes/],
    ['not base64', 'not a key!', /line 1 is not a base64 key/],
    ['hex instead of base64', randomBytes(32).toString('hex'), /line 1 holds 48 bytes/],
    ['base64 without its padding', good.replace(/=+$/, ''), /line 1 is not a base64 key/],
    ['the same key twice', `${good}\n${good}`, /key 2 repeats/],
  ]
  for (const [name, text, message] of cases) {
    const err = t.throws(
      () => parseKeyEncryptionKeys(text, 'KEY_ENCRYPTION_KEY_FILE k'),
      {
        constructor: KeyEncryptionKeyError,
        message,
      },
      name,
    ) as Error
    for (const line of text.split('\n').filter((l) => l.length > 8)) {
      t.notOk(err.message.includes(line), `${name}: the message shows no key`)
    }
  }
  t.throws(() => new KeyEncryptionKeys([], 'none'), { name: 'KeyEncryptionKeyError', message: /holds no key/ })
})

t.test('without KEY_ENCRYPTION_KEY_FILE: DATA_DIR/key-encryption-key, made once (mode 0600), reused', async (t) => {
  const dataDir = dataDirs(t)
  const dir = dataDir()
  const [first, ...racing] = await Promise.all(
    Array.from({ length: 6 }, () => loadKeyEncryptionKeys({ file: '', dataDir: dir })),
  )
  const file = join(dir, KEY_ENCRYPTION_KEY_FILE)
  t.equal(statSync(file).mode & 0o777, 0o600)
  const lines = readFileSync(file, 'utf8').split('\n')
  t.same(lines.length, 2, 'one line and its newline')
  t.equal(Buffer.from(lines[0]!, 'base64').length, 32, 'base64 of 32 bytes')
  t.ok(first!.created || racing.some((k) => k.created), 'one start created it')
  t.ok(
    racing.every((k) => k.currentId === first!.currentId),
    'starts racing on a shared volume agree on one key',
  )
  const next = await loadKeyEncryptionKeys({ file: '', dataDir: dir })
  t.equal(next.currentId, first!.currentId, 'the next start reads the same key')
  t.equal(next.created, false)
  t.not((await loadKeyEncryptionKeys({ file: '', dataDir: dataDir() })).currentId, first!.currentId, 'random per store')

  const planted = dataDir()
  symlinkSync(join(planted, '..', 'their-key'), join(planted, KEY_ENCRYPTION_KEY_FILE))
  await t.rejects(loadKeyEncryptionKeys({ file: '', dataDir: planted }), {
    constructor: DataDirError,
    message: /symlink/,
  })
  const open = dataDir()
  writeFileSync(join(open, KEY_ENCRYPTION_KEY_FILE), `${keyLine()}\n`, { mode: 0o644 })
  await t.rejects(loadKeyEncryptionKeys({ file: '', dataDir: open }), { constructor: DataDirError, message: /0644/ })
  const wrong = dataDir()
  writeFileSync(join(wrong, KEY_ENCRYPTION_KEY_FILE), `${randomBytes(31).toString('base64')}\n`, { mode: 0o600 })
  await t.rejects(loadKeyEncryptionKeys({ file: '', dataDir: wrong }), {
    constructor: KeyEncryptionKeyError,
    message: /key-encryption-key: line 1 holds 31 bytes/,
  })
})

t.test('KEY_ENCRYPTION_KEY_FILE: must exist, nobody else may write it, its keys well formed', async (t) => {
  const dir = t.testdir()
  const file = (name: string, text: string, mode = 0o600) => {
    writeFileSync(join(dir, name), text)
    chmodSync(join(dir, name), mode) // not through writeFileSync's mode, which the umask narrows
    return join(dir, name)
  }
  const two = file('two', `${keyLine()}\n${keyLine()}\n`, 0o440)
  const loaded = await loadKeyEncryptionKeys({ file: two, dataDir: ':memory:' })
  t.equal(loaded.ids.length, 2, 'a read-only mounted secret, readable by its group, is fine')
  t.match(loaded.source, /KEY_ENCRYPTION_KEY_FILE/)
  await t.rejects(loadKeyEncryptionKeys({ file: join(dir, 'missing'), dataDir: ':memory:' }), {
    constructor: KeyEncryptionKeyError,
    message: /ENOENT.*openssl rand -base64 32/,
  })
  await t.rejects(loadKeyEncryptionKeys({ file: file('writable', keyLine(), 0o622), dataDir: ':memory:' }), {
    constructor: KeyEncryptionKeyError,
    message: /writable by other users/,
  })
  await t.rejects(
    loadKeyEncryptionKeys({ file: file('short', randomBytes(24).toString('base64')), dataDir: ':memory:' }),
    {
      constructor: KeyEncryptionKeyError,
      message: /line 1 holds 24 bytes/,
    },
  )
  await t.rejects(loadKeyEncryptionKeys({ file: file('empty', ''), dataDir: ':memory:' }), {
    constructor: KeyEncryptionKeyError,
    message: /holds no key/,
  })
})

t.test('an in-memory store gets an in-memory key', async (t) => {
  const keys = await loadKeyEncryptionKeys({ file: '', dataDir: ':memory:' })
  t.equal(keys.created, true)
  t.same(keys.open(keys.currentId, keys.seal(PKCS8, BINDING).wrapped, BINDING), PKCS8)
})

function flip(bytes: Buffer, at: number): Buffer {
  const copy = Buffer.from(bytes)
  copy[at] = copy[at]! ^ 0x01
  return copy
}
