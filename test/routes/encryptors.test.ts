import t from 'tap'
import { MAX_RECEIVER_ALIASES } from '../../src/encryptors/alias-limit.js'
import { buildTestApp } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { opensslDecrypt } from '../helpers/openssl.js'
import { issueCertificate } from '../helpers/pki.js'
import { assertProblem, encrypt, putCertificate, putEncryptor, snapshot } from '../helpers/requests.js'

t.test('create with defaults, read, add and remove aliases, delete', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  const a = await issueCertificate('a')
  const b = await issueCertificate('b')
  await putCertificate(app, 'a', a)
  await putCertificate(app, 'b', b)

  const created = await putEncryptor(app, 'orders', { receiverAliases: ['a'] })
  t.equal(created.statusCode, 201)
  t.equal(created.headers.etag, '"1"')
  t.match(created.json(), {
    id: 'orders',
    receiverAliases: ['a'],
    recipients: ['a'],
    contentEncryption: 'aes-256-cbc',
    keyTransport: 'rsa-oaep-sha256',
    recipientIdentifier: 'issuer-serial',
    missingAlias: 'fail',
    encoding: 'der',
    version: 1,
  })
  t.equal(
    (await putEncryptor(app, 'orders', { receiverAliases: ['a'] })).json().version,
    1,
    'an unchanged PUT keeps the version',
  )

  const added = await asRole('integration-developer').post('/encryptors/orders/aliases', { alias: 'b' })
  t.equal(added.statusCode, 200)
  t.same(added.json().receiverAliases, ['a', 'b'])
  t.equal(added.headers.etag, '"2"')
  const two = await encrypt(app, 'orders', 'for both')
  // RecipientInfo order is DER SET OF order (by encoding), not the configured order.
  t.same(String(two.headers['x-cms-recipients']).split(',').sort(), ['a', 'b'])
  t.equal((await opensslDecrypt(two.rawPayload, a)).toString(), 'for both')
  t.equal((await opensslDecrypt(two.rawPayload, b)).toString(), 'for both')

  const usedBy = (await asRole('monitor').get('/keystore/entries/b')).json().usedBy
  t.same(usedBy, ['orders'])

  const removed = await asRole('integration-developer').delete('/encryptors/orders/aliases/a', { 'if-match': '"2"' })
  t.equal(removed.statusCode, 200)
  t.same(removed.json().receiverAliases, ['b'])
  const one = await encrypt(app, 'orders', 'for b only')
  t.equal(one.headers['x-cms-recipients'], 'b', 'the change is used by the very next encrypt')
  await t.rejects(opensslDecrypt(one.rawPayload, a), 'the removed receiver cannot decrypt')

  const list = (await asRole('tenant-admin').get('/encryptors')).json()
  t.same(
    list.encryptors.map((e: { id: string }) => e.id),
    ['orders'],
  )
  t.equal((await asRole('integration-developer').delete('/encryptors/orders')).statusCode, 204)
  assertProblem(t, await encrypt(app, 'orders', 'x'), 404, 'CMS_ENCRYPTOR_NOT_FOUND')
})

t.test('missingAlias "skip" encrypts for the aliases present; "fail" refuses', async (t) => {
  const app = await buildTestApp(t)
  const a = await issueCertificate('a')
  await putCertificate(app, 'a', a)
  const skip = await putEncryptor(app, 'prepared', { receiverAliases: ['a', 'a-next'], missingAlias: 'skip' })
  t.equal(skip.statusCode, 201)
  t.same(skip.json().recipients, ['a'])
  const res = await encrypt(app, 'prepared', 'hello')
  t.equal(res.statusCode, 200)
  t.equal(res.headers['x-cms-recipients'], 'a')
  t.equal((await opensslDecrypt(res.rawPayload, a)).toString(), 'hello')

  const next = await issueCertificate('a-next')
  await putCertificate(app, 'a-next', next)
  const both = await encrypt(app, 'prepared', 'hello again')
  t.same(
    String(both.headers['x-cms-recipients']).split(',').sort(),
    ['a', 'a-next'],
    'a certificate filling the prepared slot is used at once',
  )
  t.equal((await opensslDecrypt(both.rawPayload, next)).toString(), 'hello again')
})

t.test('subject key identifiers: refused when saved and at encrypt time', async (t) => {
  const app = await buildTestApp(t)
  const withSki = await issueCertificate('with-ski')
  const without = await issueCertificate('without', { subjectKeyIdentifier: false })
  await putCertificate(app, 'with-ski', withSki)
  await putCertificate(app, 'without', without)
  const res = await putEncryptor(app, 'by-ski', {
    receiverAliases: ['with-ski', 'without'],
    recipientIdentifier: 'subject-key-identifier',
  })
  assertProblem(t, res, 409, 'CMS_SUBJECT_KEY_IDENTIFIER_MISSING')
  t.match(res.json().detail, /"without"/)

  t.equal(
    (
      await putEncryptor(app, 'by-ski', {
        receiverAliases: ['with-ski'],
        recipientIdentifier: 'subject-key-identifier',
        missingAlias: 'skip',
      })
    ).statusCode,
    201,
  )
  // A certificate changed behind the service's back (e.g. directly in the database): encrypt refuses too.
  const row = await app.db
    .selectFrom('keystore_entries')
    .selectAll()
    .where('alias', '=', 'without')
    .executeTakeFirstOrThrow()
  await app.db
    .updateTable('keystore_entries')
    .set({ certificate: row.certificate, sha256_fingerprint: row.sha256_fingerprint })
    .where('alias', '=', 'with-ski')
    .execute()
  app.recipients.invalidate()
  const refused = await encrypt(app, 'by-ski', 'x')
  assertProblem(t, refused, 409, 'CMS_SUBJECT_KEY_IDENTIFIER_MISSING')
  t.match(refused.json().detail, /"with-ski"/)
})

t.test('bad input is refused with a precise problem and changes nothing', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  await putCertificate(app, 'a', await issueCertificate('a'))
  await putCertificate(app, 'b', await issueCertificate('b'))
  t.equal((await putEncryptor(app, 'one', { receiverAliases: ['a'] })).statusCode, 201)
  t.equal(
    (await putEncryptor(app, 'skipper', { receiverAliases: ['a', 'ghost'], missingAlias: 'skip' })).statusCode,
    201,
  )

  const put = (body: unknown, headers: Record<string, string> = {}, id = 'new-one') =>
    asRole('integration-developer').put(`/encryptors/${id}`, body as object, headers)
  const rawJson = (text: string) =>
    asRole('integration-developer').put('/encryptors/new-one', text, { 'content-type': 'application/json' })
  const cases: Array<{ name: string; send: () => ReturnType<typeof put>; status: number; code: string }> = [
    {
      name: 'an alias missing with missingAlias fail',
      send: () => put({ receiverAliases: ['a', 'ghost'] }),
      status: 409,
      code: 'CMS_NO_RECIPIENT',
    },
    {
      name: 'no alias present with missingAlias skip',
      send: () => put({ receiverAliases: ['ghost'], missingAlias: 'skip' }),
      status: 409,
      code: 'CMS_NO_RECIPIENT',
    },
    { name: 'no aliases', send: () => put({ receiverAliases: [] }), status: 400, code: 'CMS_VALIDATION_FAILED' },
    {
      name: 'duplicate aliases',
      send: () => put({ receiverAliases: ['a', 'a'] }),
      status: 400,
      code: 'CMS_VALIDATION_FAILED',
    },
    {
      name: 'aliases as a string',
      send: () => put({ receiverAliases: 'a' }),
      status: 400,
      code: 'CMS_VALIDATION_FAILED',
    },
    {
      name: 'an invalid alias',
      send: () => put({ receiverAliases: ['../a'] }),
      status: 400,
      code: 'CMS_VALIDATION_FAILED',
    },
    {
      name: 'an unknown algorithm',
      send: () => put({ receiverAliases: ['a'], contentEncryption: 'rc2-40' }),
      status: 400,
      code: 'CMS_VALIDATION_FAILED',
    },
    {
      name: 'an unknown key transport',
      send: () => put({ receiverAliases: ['a'], keyTransport: 'rsa-oaep-md5' }),
      status: 400,
      code: 'CMS_VALIDATION_FAILED',
    },
    {
      name: 'an unknown property',
      send: () => put({ receiverAliases: ['a'], compress: true }),
      status: 400,
      code: 'CMS_VALIDATION_FAILED',
    },
    {
      name: 'a number for a string',
      send: () => put({ receiverAliases: ['a'], encoding: 1 }),
      status: 400,
      code: 'CMS_VALIDATION_FAILED',
    },
    {
      name: 'deeply nested JSON (100,000 levels)',
      send: () => rawJson('{"receiverAliases":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}'),
      status: 400,
      code: 'CMS_VALIDATION_FAILED',
    },
    {
      name: 'a 10 MB string (over BODY_LIMIT)',
      send: () => rawJson(JSON.stringify({ receiverAliases: ['x'.repeat(10 * 1024 * 1024)] })),
      status: 413,
      code: 'CMS_BODY_TOO_LARGE',
    },
    {
      name: 'a 900 KB alias (under BODY_LIMIT)',
      send: () => put({ receiverAliases: ['x'.repeat(900 * 1024)] }),
      status: 400,
      code: 'CMS_VALIDATION_FAILED',
    },
    {
      name: 'a __proto__ key',
      send: () => rawJson('{"receiverAliases":["a"],"__proto__":{"admin":true}}'),
      status: 400,
      code: 'CMS_MALFORMED_JSON',
    },
    {
      name: 'a constructor.prototype key',
      send: () => rawJson('{"receiverAliases":["a"],"constructor":{"prototype":{"admin":true}}}'),
      status: 400,
      code: 'CMS_MALFORMED_JSON',
    },
    { name: 'null instead of an object', send: () => rawJson('null'), status: 400, code: 'CMS_VALIDATION_FAILED' },
    {
      name: 'an array instead of an object',
      send: () => rawJson('[{"receiverAliases":["a"]}]'),
      status: 400,
      code: 'CMS_VALIDATION_FAILED',
    },
    { name: 'an empty JSON body', send: () => rawJson(''), status: 400, code: 'CMS_EMPTY_BODY' },
    {
      name: 'a duplicate key smuggling a second value',
      send: () => rawJson('{"receiverAliases":["a"],"receiverAliases":"a"}'),
      status: 400,
      code: 'CMS_VALIDATION_FAILED',
    },
    {
      name: 'a NUL inside an alias',
      send: () => put({ receiverAliases: ['a\u0000b'] }),
      status: 400,
      code: 'CMS_VALIDATION_FAILED',
    },
    {
      name: 'broken JSON',
      send: () =>
        asRole('integration-developer').put('/encryptors/x', '{"receiverAliases": [', {
          'content-type': 'application/json',
        }),
      status: 400,
      code: 'CMS_MALFORMED_JSON',
    },
    {
      name: 'a non-JSON body',
      send: () =>
        asRole('integration-developer').put('/encryptors/x', 'x', { 'content-type': 'application/x-pem-file' }),
      status: 415,
      code: 'CMS_UNSUPPORTED_MEDIA_TYPE',
    },
    {
      name: 'an invalid id',
      send: () => put({ receiverAliases: ['a'] }, {}, '-x'),
      status: 400,
      code: 'CMS_VALIDATION_FAILED',
    },
    {
      name: 'a stale If-Match',
      send: () => put({ receiverAliases: ['a', 'b'] }, { 'if-match': '"5"' }, 'one'),
      status: 412,
      code: 'CMS_PRECONDITION_FAILED',
    },
    {
      name: 'If-None-Match * on an existing encryptor',
      send: () => put({ receiverAliases: ['b'] }, { 'if-none-match': '*' }, 'one'),
      status: 412,
      code: 'CMS_PRECONDITION_FAILED',
    },
    {
      name: 'tenant-admin writing an encryptor',
      send: () => asRole('tenant-admin').put('/encryptors/new-one', { receiverAliases: ['a'] }),
      status: 403,
      code: 'CMS_FORBIDDEN',
    },
    {
      name: 'integration-flow writing an encryptor',
      send: () => asRole('integration-flow').put('/encryptors/new-one', { receiverAliases: ['a'] }),
      status: 403,
      code: 'CMS_FORBIDDEN',
    },
    {
      name: 'no token',
      send: () => put({ receiverAliases: ['a'] }, { authorization: '' }),
      status: 401,
      code: 'CMS_UNAUTHENTICATED',
    },
    {
      name: 'get an unknown encryptor',
      send: () => asRole('monitor').get('/encryptors/nope'),
      status: 404,
      code: 'CMS_ENCRYPTOR_NOT_FOUND',
    },
    {
      name: 'delete an unknown encryptor',
      send: () => asRole('integration-developer').delete('/encryptors/nope'),
      status: 404,
      code: 'CMS_ENCRYPTOR_NOT_FOUND',
    },
    {
      name: 'add an alias to an unknown encryptor',
      send: () => asRole('integration-developer').post('/encryptors/nope/aliases', { alias: 'b' }),
      status: 404,
      code: 'CMS_ENCRYPTOR_NOT_FOUND',
    },
    {
      name: 'add an alias twice',
      send: () => asRole('integration-developer').post('/encryptors/one/aliases', { alias: 'a' }),
      status: 409,
      code: 'CMS_ALIAS_ALREADY_LISTED',
    },
    {
      name: 'add a missing alias with fail',
      send: () => asRole('integration-developer').post('/encryptors/one/aliases', { alias: 'ghost' }),
      status: 409,
      code: 'CMS_NO_RECIPIENT',
    },
    {
      name: 'remove the last alias',
      send: () => asRole('integration-developer').delete('/encryptors/one/aliases/a'),
      status: 409,
      code: 'CMS_LAST_ALIAS',
    },
    {
      name: 'remove the last present alias (skip)',
      send: () => asRole('integration-developer').delete('/encryptors/skipper/aliases/a'),
      status: 409,
      code: 'CMS_NO_RECIPIENT',
    },
    {
      name: 'remove an alias not listed',
      send: () => asRole('integration-developer').delete('/encryptors/one/aliases/b'),
      status: 404,
      code: 'CMS_ALIAS_NOT_LISTED',
    },
    {
      name: 'remove an alias as tenant-admin',
      send: () => asRole('tenant-admin').delete('/encryptors/skipper/aliases/ghost'),
      status: 403,
      code: 'CMS_FORBIDDEN',
    },
  ]
  const before = await snapshot(app)
  for (const c of cases) assertProblem(t, await c.send(), c.status, c.code, c.name)
  t.same(await snapshot(app), before, 'the store is unchanged')
})

/** `count` aliases: "a", which the keystore holds, then empty slots (saved with missingAlias "skip"). */
const aliases = (count: number) => ['a', ...Array.from({ length: count - 1 }, (_, i) => `slot-${i + 1}`)]

t.test(`409 a receiver alias past ${MAX_RECEIVER_ALIASES}: refused before anything changes`, async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  await putCertificate(app, 'a', await issueCertificate('a'))
  const full = { receiverAliases: aliases(MAX_RECEIVER_ALIASES), missingAlias: 'skip' }
  t.equal((await putEncryptor(app, 'full', full)).statusCode, 201)
  assertProblem(
    t,
    await putEncryptor(app, 'full', { ...full, receiverAliases: [...full.receiverAliases, 'one-more'] }),
    400,
    'CMS_VALIDATION_FAILED',
    'a PUT of one more (the schema reads the same limit)',
  )

  const auditLength = async () => (await asRole('monitor').get('/audit/head')).json().head.lastId
  const before = { store: await snapshot(app), audit: await auditLength() }
  const refused = await asRole('integration-developer').post('/encryptors/full/aliases', { alias: 'one-more' })
  assertProblem(t, refused, 409, 'CMS_TOO_MANY_ALIASES', 'a POST of one more')
  t.match(refused.json().detail, /"full" would list 101 receiver aliases; it may list 100/, 'names count and limit')
  t.same({ store: await snapshot(app), audit: await auditLength() }, before, 'nothing changed, nothing audited')
  const encryptor = (await asRole('monitor').get('/encryptors/full')).json()
  t.equal(encryptor.version, 1, 'the version is unchanged')
  t.equal(encryptor.receiverAliases.length, MAX_RECEIVER_ALIASES)

  t.equal((await asRole('integration-developer').delete('/encryptors/full/aliases/slot-1')).statusCode, 200)
  const added = await asRole('integration-developer').post('/encryptors/full/aliases', { alias: 'one-more' })
  t.equal(added.statusCode, 200, 'with one removed, one may be added')
  t.equal(added.json().receiverAliases.length, MAX_RECEIVER_ALIASES)
})

t.test('an encryptor saved past the limit before it was enforced may lose aliases, never gain one', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  await putCertificate(app, 'a', await issueCertificate('a'))
  const list = aliases(MAX_RECEIVER_ALIASES + 2)
  t.equal(
    (await putEncryptor(app, 'legacy', { receiverAliases: list.slice(0, 1), missingAlias: 'skip' })).statusCode,
    201,
  )
  await app.db
    .insertInto('encryptor_aliases')
    .values(list.slice(1).map((alias, i) => ({ encryptor_id: 'legacy', position: i + 1, alias })))
    .execute()

  const refused = await asRole('integration-developer').post('/encryptors/legacy/aliases', { alias: 'one-more' })
  assertProblem(t, refused, 409, 'CMS_TOO_MANY_ALIASES')
  t.match(refused.json().detail, /would list 103 receiver aliases/)
  const removed = await asRole('integration-developer').delete('/encryptors/legacy/aliases/slot-1')
  t.equal(removed.statusCode, 200, 'removing one is allowed')
  t.equal(removed.json().receiverAliases.length, MAX_RECEIVER_ALIASES + 1)
  const replaced = await putEncryptor(app, 'legacy', {
    receiverAliases: aliases(MAX_RECEIVER_ALIASES),
    missingAlias: 'skip',
  })
  t.equal(replaced.statusCode, 200, 'and so is a PUT back under the limit')
})
