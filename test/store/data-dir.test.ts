import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import {
  createSecretFile,
  DataDirError,
  ensureDataDir,
  readOrCreateSecretFile,
  readSecretFile,
} from '../../src/store/data-dir.js'

const asRoot = process.getuid?.() === 0

t.test('DATA_DIR: created 0700 when missing; refused when others could write to it', async (t) => {
  const root = t.testdir()
  const fresh = join(root, 'new', 'data')
  await ensureDataDir(fresh)
  t.equal(statSync(fresh).mode & 0o777, 0o700, 'created for this user only')

  for (const mode of [0o700, 0o750, 0o755]) {
    const dir = join(root, `ok-${mode.toString(8)}`)
    mkdirSync(dir)
    chmodSync(dir, mode)
    await t.resolves(ensureDataDir(dir), `mode ${mode.toString(8)} is accepted (the image's /data is 0755)`)
  }
  for (const [mode, who] of [
    [0o777, /writable by its group/],
    [0o770, /writable by its group/],
    [0o702, /writable by other users/],
    [0o1777, /writable by its group/],
  ] as const) {
    const dir = join(root, `bad-${mode.toString(8)}`)
    mkdirSync(dir)
    chmodSync(dir, mode)
    await t.rejects(
      ensureDataDir(dir),
      { constructor: DataDirError, message: who },
      `mode ${mode.toString(8)} is refused`,
    )
  }
  const file = join(root, 'a-file')
  writeFileSync(file, '')
  await t.rejects(ensureDataDir(file), { message: /not a directory|EEXIST/ })
})

t.test('DATA_DIR owned by another user is refused', { skip: !asRoot && 'needs root to chown' }, async (t) => {
  const dir = join(t.testdir(), 'data')
  mkdirSync(dir, { mode: 0o700 })
  chownSync(dir, 1, 1)
  await t.rejects(ensureDataDir(dir), {
    constructor: DataDirError,
    message: new RegExp(`owned by uid 1, but the service runs as uid ${process.getuid!()}`),
  })
})

t.test('DATA_DIR may be a symlink: the directory it leads to is checked', async (t) => {
  const root = t.testdir()
  mkdirSync(join(root, 'volume'), { mode: 0o700 })
  symlinkSync(join(root, 'volume'), join(root, 'data'))
  await t.resolves(ensureDataDir(join(root, 'data')))
  chmodSync(join(root, 'volume'), 0o777)
  await t.rejects(ensureDataDir(join(root, 'data')), { constructor: DataDirError, message: /writable/ })
})

t.test('a secret file is created 0600, never over a file or through a symlink left at its name', async (t) => {
  const dir = t.testdir({ 'existing.json': 'planted\n', 'target.json': 'theirs\n' })
  const file = join(dir, 'secret.json')
  await createSecretFile(file, 'secret\n')
  t.equal(statSync(file).mode & 0o777, 0o600)
  t.equal(readFileSync(file, 'utf8'), 'secret\n')

  const existing = join(dir, 'existing.json')
  await t.rejects(createSecretFile(existing, 'secret\n'), { constructor: DataDirError, message: /already exists/ })
  t.equal(readFileSync(existing, 'utf8'), 'planted\n', 'a file already there is left untouched')

  const toExisting = join(dir, 'link-to-existing.json')
  symlinkSync(join(dir, 'target.json'), toExisting)
  await t.rejects(createSecretFile(toExisting, 'secret\n'), { constructor: DataDirError, message: /already exists/ })
  t.equal(readFileSync(join(dir, 'target.json'), 'utf8'), 'theirs\n', 'a symlink is not followed')

  const dangling = join(dir, 'link-to-nowhere.json')
  symlinkSync(join(dir, 'where-they-read.json'), dangling)
  await t.rejects(createSecretFile(dangling, 'secret\n'), { constructor: DataDirError, message: /already exists/ })
  t.notOk(existsSync(join(dir, 'where-they-read.json')), 'nor is a dangling one')
})

t.test('a secret file is read only if it is this user’s alone, and never through a symlink', async (t) => {
  const dir = t.testdir({ 'key-0600': 'k', 'key-0640': 'k', 'key-0604': 'k' })
  chmodSync(join(dir, 'key-0600'), 0o600)
  chmodSync(join(dir, 'key-0640'), 0o640)
  chmodSync(join(dir, 'key-0604'), 0o604)
  t.equal((await readSecretFile(join(dir, 'key-0600'))).toString(), 'k')
  await t.rejects(readSecretFile(join(dir, 'key-0640')), { constructor: DataDirError, message: /chmod 600/ })
  await t.rejects(readSecretFile(join(dir, 'key-0604')), { constructor: DataDirError, message: /0604/ })
  symlinkSync(join(dir, 'key-0600'), join(dir, 'link'))
  await t.rejects(readSecretFile(join(dir, 'link')), { constructor: DataDirError, message: /symlink/ })
  if (asRoot) {
    chownSync(join(dir, 'key-0600'), 1, 1)
    await t.rejects(readSecretFile(join(dir, 'key-0600')), { constructor: DataDirError, message: /owned by uid 1/ })
  }
})

t.test('processes creating one secret file at once all read the one that won', async (t) => {
  const dir = t.testdir()
  const file = join(dir, 'key')
  let made = 0
  const contents = await Promise.all(
    Array.from({ length: 16 }, () => readOrCreateSecretFile(file, () => Buffer.from(`candidate ${++made}\n`))),
  )
  t.equal(new Set(contents.map(String)).size, 1, 'one content for all')
  t.equal(readFileSync(file, 'utf8'), String(contents[0]))
  t.same(readdirSync(dir), ['key'], 'no temporary file left behind')
  t.equal(String(await readOrCreateSecretFile(file, () => Buffer.from('later'))), String(contents[0]), 'kept after')
})
