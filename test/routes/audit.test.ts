import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { issueCertificate } from '../helpers/pki.js'
import { assertProblem, putCertificate, putEncryptor } from '../helpers/requests.js'

t.test('every change is audited; the log pages, filters, and only reads', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  const a = await issueCertificate('a'),
    b = await issueCertificate('b')
  await putCertificate(app, 'a', a)
  await putCertificate(app, 'a', b)
  await putCertificate(app, 'c', a)
  await putEncryptor(app, 'flow', { receiverAliases: ['a'] })
  await asRole('integration-developer').post('/encryptors/flow/aliases', { alias: 'c' })
  await asRole('integration-developer').delete('/encryptors/flow/aliases/c')
  await asRole('tenant-admin').delete('/keystore/entries/c')
  await putCertificate(app, 'a', b) // unchanged: no record
  await asRole('tenant-admin').delete('/keystore/entries/nope') // refused: no record

  const all = (await asRole('monitor').get('/audit')).json()
  t.same(all.records.map((r: { action: string }) => r.action).reverse(), [
    'keystore.create',
    'keystore.replace',
    'keystore.create',
    'encryptor.create',
    'encryptor.alias.add',
    'encryptor.alias.remove',
    'keystore.delete',
  ])
  t.match(
    all.records.find((r: { action: string }) => r.action === 'keystore.replace'),
    {
      actor: 'test-tenant-admin',
      role: 'tenant-admin',
      target: 'keystore/a',
      renewalId: null,
      before: { version: 1 },
      after: { version: 2 },
    },
  )
  t.equal(all.next, null)

  const pages: string[] = []
  let cursor: number | null | undefined
  do {
    const page = (await asRole('tenant-admin').get(`/audit?limit=3${cursor ? `&before=${cursor}` : ''}`)).json()
    pages.push(...page.records.map((r: { id: number }) => String(r.id)))
    cursor = page.next
  } while (cursor)
  t.same(
    pages,
    all.records.map((r: { id: number }) => String(r.id)),
    'pages cover the log once, newest first',
  )

  const filtered = (await asRole('monitor').get('/audit?target=keystore/a')).json()
  t.equal(filtered.records.length, 2)
  assertProblem(
    t,
    await asRole('integration-flow').get('/audit'),
    403,
    'CMS_FORBIDDEN',
    'flows cannot read the audit log',
  )
  assertProblem(
    t,
    await asRole('integration-developer').get('/audit'),
    403,
    'CMS_FORBIDDEN',
    'developers cannot read the audit log',
  )
  assertProblem(
    t,
    await asRole('tenant-admin').delete('/audit'),
    404,
    'CMS_ROUTE_NOT_FOUND',
    'no way to delete audit records',
  )
  assertProblem(t, await asRole('monitor').get('/audit?limit=0'), 400, 'CMS_VALIDATION_FAILED', 'limit below 1')
})

t.test('the audit log is hash-chained: editing or deleting a record in the database is detected', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  await putCertificate(app, 'a', await issueCertificate('a'))
  await putCertificate(app, 'b', await issueCertificate('b'))
  await putEncryptor(app, 'flow', { receiverAliases: ['a'] })
  await asRole('integration-developer').post('/encryptors/flow/aliases', { alias: 'b' })
  const verify = async () => (await asRole('monitor').get('/audit/verify')).json()
  t.match(await verify(), { valid: true, records: 4, firstInvalidId: null, problem: null })
  assertProblem(t, await asRole('integration-flow').get('/audit/verify'), 403, 'CMS_FORBIDDEN', 'flows cannot verify')

  const rows = await app.db.selectFrom('audit_log').select(['id', 'actor']).orderBy('id').execute()
  await app.db.updateTable('audit_log').set({ actor: 'someone-else' }).where('id', '=', rows[1]!.id).execute()
  t.match(
    await verify(),
    { valid: false, records: 1, firstInvalidId: Number(rows[1]!.id), problem: 'chain-broken' },
    'an edited record breaks the chain',
  )
  await app.db.updateTable('audit_log').set({ actor: rows[1]!.actor }).where('id', '=', rows[1]!.id).execute()
  t.equal((await verify()).valid, true, 'restored, it verifies again')
  await app.db.deleteFrom('audit_log').where('id', '=', rows[2]!.id).execute()
  t.match(
    await verify(),
    { valid: false, records: 2, firstInvalidId: Number(rows[3]!.id), problem: 'chain-broken' },
    'a deleted record breaks the chain at the next one',
  )
})

t.test('since and until compare instants: any offset or precision selects the right records', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  const cert = await issueCertificate('a', { key: 'ec-p256' })
  // Records at the edges of one second; `at` set directly (the chain is not what this test reads).
  const times = [
    '2026-11-30T09:59:59.999Z',
    '2026-11-30T10:00:00.000Z',
    '2026-11-30T10:00:00.500Z',
    '2026-11-30T10:00:00.999Z',
    '2026-11-30T10:00:01.000Z',
  ]
  for (const [i, at] of times.entries()) {
    await putCertificate(app, `a${i}`, cert)
    await app.db.updateTable('audit_log').set({ at }).where('target', '=', `keystore/a${i}`).execute()
  }
  const select = async (query: string) => {
    const res = await asRole('monitor').get(`/audit?${query}`)
    t.equal(res.statusCode, 200, query)
    return (res.json().records as Array<{ at: string }>).map((r) => r.at.slice(17)).reverse()
  }
  const cases: Array<[string, string[]]> = [
    ['since=2026-11-30T10:00:00Z', ['00.000Z', '00.500Z', '00.999Z', '01.000Z']],
    ['since=2026-11-30T11:00:00%2B01:00', ['00.000Z', '00.500Z', '00.999Z', '01.000Z']],
    ['since=2026-11-30T05:00:00.5-05:00', ['00.500Z', '00.999Z', '01.000Z']],
    ['until=2026-11-30T10:00:01Z', ['59.999Z', '00.000Z', '00.500Z', '00.999Z']],
    ['until=2026-11-30T10:00:00Z', ['59.999Z']],
    ['since=2026-11-30T10:00:00Z&until=2026-11-30T10:00:01Z', ['00.000Z', '00.500Z', '00.999Z']],
    ['since=2026-11-30t10:00:00.000z&until=2026-11-30%2011:00:00.501%2B01:00', ['00.000Z', '00.500Z']],
    // Finer than the records' milliseconds: rounded up, so .999 is before .9991 and before .9999.
    ['since=2026-11-30T10:00:00.9991Z', ['01.000Z']],
    ['until=2026-11-30T10:00:00.9991Z', ['59.999Z', '00.000Z', '00.500Z', '00.999Z']],
    ['until=2026-11-30T10:00:00.999000Z', ['59.999Z', '00.000Z', '00.500Z']],
    ['since=0000-01-01T00:30:00%2B01:00', ['59.999Z', '00.000Z', '00.500Z', '00.999Z', '01.000Z']],
    ['until=9999-12-31T23:00:00-05:00', ['59.999Z', '00.000Z', '00.500Z', '00.999Z', '01.000Z']],
  ]
  for (const [query, expected] of cases) t.same(await select(query), expected, query)

  for (const query of [
    'since=2026-11-30T23:59:60Z',
    'since=2026-02-30T10:00:00Z',
    'until=2026-11-30T10:00:00',
    'until=2026-11-30T10:00:00%2B24:00',
    'since=yesterday',
  ]) {
    assertProblem(t, await asRole('monitor').get(`/audit?${query}`), 400, 'CMS_VALIDATION_FAILED', query)
  }
})
