import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { AUDIT_KEY_FILE, AuditKeyError, loadAuditKey, type AuditKey } from '../../src/audit/anchor.js'
import { DataDirError } from '../../src/store/data-dir.js'

/** Keys compared by what they sign, the only thing they show. */
const fingerprint = (key: AuditKey) => key.sign({ lastId: 1, hash: 'h', at: 'now' }).mac

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

t.test('without AUDIT_KEY_FILE: DATA_DIR/audit-key, 32 random bytes made once, mode 0600', async (t) => {
  const dataDir = dataDirs(t)
  const dir = dataDir()
  const [first, ...racing] = await Promise.all(
    Array.from({ length: 8 }, () => loadAuditKey({ file: '', dataDir: dir })),
  )
  const file = join(dir, AUDIT_KEY_FILE)
  t.equal(statSync(file).mode & 0o777, 0o600)
  t.equal(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64').length, 32)
  t.ok(
    racing.every((k) => fingerprint(k) === fingerprint(first!)),
    'starts racing on a shared volume agree on one key',
  )
  t.equal(fingerprint(await loadAuditKey({ file: '', dataDir: dir })), fingerprint(first!), 'kept across starts')
  const other = dataDir()
  t.not(fingerprint(await loadAuditKey({ file: '', dataDir: other })), fingerprint(first!), 'random per store')
})

t.test('DATA_DIR/audit-key planted as a symlink, or open to others, is refused', async (t) => {
  const dataDir = dataDirs(t)
  const dir = dataDir()
  const elsewhere = join(dir, '..', 'their-key')
  symlinkSync(elsewhere, join(dir, AUDIT_KEY_FILE))
  await t.rejects(loadAuditKey({ file: '', dataDir: dir }), { constructor: DataDirError, message: /symlink/ })
  t.notOk(existsSync(elsewhere), 'no key written where the link points')

  const open = dataDir()
  writeFileSync(join(open, AUDIT_KEY_FILE), randomBytes(32).toString('base64'), { mode: 0o644 })
  await t.rejects(loadAuditKey({ file: '', dataDir: open }), { constructor: DataDirError, message: /0644/ })

  const shared = dataDir()
  chmodSync(shared, 0o777)
  await t.rejects(loadAuditKey({ file: '', dataDir: shared }), { constructor: DataDirError, message: /writable/ })
})

t.test('AUDIT_KEY_FILE: must exist and hold base64 of 32 bytes or more; a mounted secret is fine', async (t) => {
  const dir = t.testdir()
  const file = (name: string, text: string, mode = 0o600) => {
    writeFileSync(join(dir, name), text, { mode })
    chmodSync(join(dir, name), mode)
    return join(dir, name)
  }
  const key = randomBytes(32).toString('base64')
  const good = await loadAuditKey({ file: file('good', key + '\n'), dataDir: '/nonexistent' })
  t.equal(good.source, `AUDIT_KEY_FILE ${join(dir, 'good')}`)
  const mounted = file('mounted', key, 0o444)
  symlinkSync(mounted, join(dir, 'link'))
  t.equal(
    fingerprint(await loadAuditKey({ file: join(dir, 'link'), dataDir: '' })),
    fingerprint(good),
    'a read-only mounted secret, through a symlink (Kubernetes), is read',
  )
  const cases: Array<[string, string, RegExp]> = [
    [join(dir, 'missing'), 'missing', /ENOENT.*openssl rand -base64 32/],
    [file('short', randomBytes(16).toString('base64')), 'too short', /at least 32 bytes/],
    [file('text', 'correct horse battery staple'), 'not base64', /base64/],
    [file('writable', key, 0o666), 'writable by others', /writable by other users/],
  ]
  for (const [path, name, message] of cases)
    await t.rejects(loadAuditKey({ file: path, dataDir: '' }), { constructor: AuditKeyError, message }, name)
})

t.test('an in-memory store gets a key as short-lived as itself', async (t) => {
  const a = await loadAuditKey({ file: '', dataDir: ':memory:' })
  const b = await loadAuditKey({ file: '', dataDir: ':memory:' })
  t.not(fingerprint(a), fingerprint(b))
})
