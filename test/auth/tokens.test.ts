import { chmodSync, chownSync, existsSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { createApp } from '../../src/app.js'
import { hashToken, TokenConfigError, TokenRegistry } from '../../src/auth/tokens.js'
import { loadConfig } from '../../src/config.js'
import { storeDir, testConfig } from '../helpers/app.js'

t.test('a new store bootstraps one token per role, once, in a 0600 file', async (t) => {
  const dir = storeDir(t, 'cms-auth-')
  const config = testConfig({ DATA_DIR: dir })
  const app = await createApp(config, { logger: false })
  const file = join(dir, 'bootstrap-tokens.json')
  t.equal(statSync(file).mode & 0o777, 0o600)
  const tokens = JSON.parse(readFileSync(file, 'utf8'))
  t.same(Object.keys(tokens).sort(), ['integration-developer', 'integration-flow', 'monitor', 'tenant-admin'])
  const put = (role: string) =>
    app.inject({
      method: 'PUT',
      url: '/encryptors/x',
      headers: { authorization: `Bearer ${tokens[role]}` },
      payload: { receiverAliases: ['a'] },
    })
  t.equal(
    (await put('integration-developer')).json().code,
    'CMS_NO_RECIPIENT',
    'the developer token reaches the encryptor checks',
  )
  t.equal((await put('tenant-admin')).statusCode, 403)
  t.equal(
    (
      await app.inject({
        method: 'GET',
        url: '/keystore/entries',
        headers: { authorization: `Bearer ${tokens.monitor}` },
      })
    ).statusCode,
    200,
  )
  await app.close()

  rmSync(file)
  const again = await createApp(config, { logger: false })
  t.notOk(existsSync(file), 'never re-created once tokens exist')
  const stored = await again.db.selectFrom('auth_tokens').selectAll().execute()
  t.equal(stored.length, 4)
  t.notOk(JSON.stringify(stored).includes(tokens.monitor), 'the store holds hashes, never tokens')
  t.equal(
    (
      await again.inject({
        method: 'GET',
        url: '/keystore/entries',
        headers: { authorization: `Bearer ${tokens.monitor}` },
      })
    ).statusCode,
    200,
  )
  await again.close()
})

t.test('AUTH_TOKENS_FILE: hashes and roles, a token may hold several roles', async (t) => {
  const dir = storeDir(t, 'cms-auth-')
  const file = join(dir, 'tokens.json')
  writeFileSync(
    file,
    JSON.stringify([
      { name: 'ci', roles: ['tenant-admin', 'monitor'], tokenSha256: hashToken('s3cret').toString('hex') },
    ]),
  )
  const app = await createApp(testConfig({ DATA_DIR: dir, AUTH_TOKENS_FILE: file }), { logger: false })
  t.teardown(() => app.close())
  t.notOk(existsSync(join(dir, 'bootstrap-tokens.json')), 'no bootstrap when tokens are configured')
  t.equal(
    (await app.inject({ method: 'GET', url: '/keystore/entries', headers: { authorization: 'Bearer s3cret' } }))
      .statusCode,
    200,
  )
  const res = await app.inject({
    method: 'DELETE',
    url: '/keystore/entries/x',
    headers: { authorization: 'Bearer s3cret' },
  })
  t.equal(res.json().code, 'CMS_ALIAS_NOT_FOUND', 'the tenant-admin role applies')
  t.equal(
    (await app.inject({ method: 'DELETE', url: '/keystore/entries/x', headers: { authorization: 'Bearer s3cret2' } }))
      .statusCode,
    401,
  )
})

t.test('a bad AUTH_TOKENS_FILE stops the start with a message naming the fault', async (t) => {
  const dir = storeDir(t, 'cms-auth-')
  const cases: Array<[string, string, RegExp]> = [
    ['not JSON', '{', /not valid JSON/],
    ['empty', '[]', /non-empty JSON array/],
    [
      'a raw token instead of a hash',
      JSON.stringify([{ name: 'a', roles: ['monitor'], tokenSha256: 'plain-token' }]),
      /hex SHA-256/,
    ],
    ['an unknown role', JSON.stringify([{ name: 'a', roles: ['root'], tokenSha256: 'a'.repeat(64) }]), /roles/],
    [
      'a duplicate name',
      JSON.stringify([
        { name: 'a', roles: ['monitor'], tokenSha256: 'a'.repeat(64) },
        { name: 'a', roles: ['monitor'], tokenSha256: 'b'.repeat(64) },
      ]),
      /duplicate/,
    ],
    [
      'an unknown property',
      JSON.stringify([{ name: 'a', roles: ['monitor'], tokenSha256: 'a'.repeat(64), token: 'x' }]),
      /unknown properties/,
    ],
  ]
  for (const [name, text, message] of cases) {
    const file = join(dir, 'tokens.json')
    writeFileSync(file, text)
    await t.rejects(
      createApp(testConfig({ DATA_DIR: dir, AUTH_TOKENS_FILE: file }), { logger: false }),
      { constructor: TokenConfigError, message },
      name,
    )
  }
  await t.rejects(
    createApp(testConfig({ DATA_DIR: dir, AUTH_TOKENS_FILE: join(dir, 'missing.json') }), { logger: false }),
    { message: /ENOENT/ },
  )
})

t.test('tokens are matched by hash in constant time', async (t) => {
  const registry = new TokenRegistry([
    { name: 'one', roles: ['monitor'], tokenSha256: hashToken('one').toString('hex') },
    { name: 'two', roles: ['integration-flow'], tokenSha256: hashToken('two').toString('hex') },
  ])
  t.same(registry.authenticate('two'), { name: 'two', roles: ['integration-flow'] })
  t.equal(registry.authenticate('three'), undefined)
})

t.test('invalid configuration is refused at start with a clear message', async (t) => {
  t.throws(() => loadConfig({ PORT: 'eighty' }), { name: 'ConfigError', message: /PORT must be integer/ })
  t.throws(() => loadConfig({ LOG_LEVEL: 'loud' }), { message: /LOG_LEVEL/ })
  t.throws(() => loadConfig({ MAX_PAYLOAD_BYTES: '0' }), { message: /MAX_PAYLOAD_BYTES/ })
  const defaults = loadConfig({})
  t.match(defaults, {
    HOST: '127.0.0.1',
    PORT: 8080,
    DATA_DIR: './data',
    MAX_PAYLOAD_BYTES: 2 * 1024 ** 3,
    BODY_LIMIT: 1024 * 1024,
  })
})

t.test('health needs no token', async (t) => {
  const dir = storeDir(t, 'cms-auth-')
  const app = await createApp(testConfig({ DATA_DIR: dir }), { logger: false })
  t.teardown(() => app.close())
  t.same((await app.inject({ method: 'GET', url: '/health/live' })).json(), { status: 'ok' })
  t.same((await app.inject({ method: 'GET', url: '/health/ready' })).json(), { status: 'ready' })
})

t.test('the bootstrap file is never written over a file or through a symlink left at its name', async (t) => {
  const dir = storeDir(t, 'cms-auth-')
  const config = testConfig({ DATA_DIR: dir })
  const file = join(dir, 'bootstrap-tokens.json')
  writeFileSync(file, 'left here by someone\n', { mode: 0o644 })
  await t.rejects(createApp(config, { logger: false }), { name: 'DataDirError', message: /already exists/ })
  t.equal(readFileSync(file, 'utf8'), 'left here by someone\n', 'the file is left untouched')
  t.equal(statSync(file).mode & 0o777, 0o644)

  const target = join(storeDir(t, 'cms-elsewhere-'), 'where-they-read.json')
  rmSync(file)
  symlinkSync(target, file)
  await t.rejects(createApp(config, { logger: false }), { name: 'DataDirError', message: /already exists/ })
  t.notOk(existsSync(target), 'nothing written where the symlink points')
  writeFileSync(target, 'theirs\n')
  await t.rejects(createApp(config, { logger: false }), { name: 'DataDirError' })
  t.equal(readFileSync(target, 'utf8'), 'theirs\n', 'nor over the file it points at')

  rmSync(file)
  const app = await createApp(config, { logger: false })
  t.teardown(() => app.close())
  t.equal(statSync(file).mode & 0o777, 0o600, 'refused starts stored no tokens: the next one bootstraps')
})

t.test('a DATA_DIR others could write to, or owned by another user, is refused at start', async (t) => {
  for (const mode of [0o777, 0o770, 0o722]) {
    const dir = storeDir(t, 'cms-auth-')
    chmodSync(dir, mode)
    await t.rejects(
      createApp(testConfig({ DATA_DIR: dir }), { logger: false }),
      { name: 'DataDirError', message: /DATA_DIR .* is writable by (its group|other users).*chmod 700/ },
      `mode ${mode.toString(8)}`,
    )
    t.notOk(existsSync(join(dir, 'bootstrap-tokens.json')), 'no token file written')
  }
  const image = storeDir(t, 'cms-auth-')
  chmodSync(image, 0o755)
  const app = await createApp(testConfig({ DATA_DIR: image }), { logger: false })
  await app.close()
  t.pass('mode 0755 (the image’s /data) is accepted')

  if (process.getuid?.() !== 0) return
  const theirs = storeDir(t, 'cms-auth-')
  chownSync(theirs, 1, 1)
  await t.rejects(createApp(testConfig({ DATA_DIR: theirs }), { logger: false }), {
    name: 'DataDirError',
    message: /owned by uid 1, but the service runs as uid 0/,
  })
})
