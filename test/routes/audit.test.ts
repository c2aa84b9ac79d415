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
  t.same(await verify(), { valid: true, records: 4, firstInvalidId: null })
  assertProblem(t, await asRole('integration-flow').get('/audit/verify'), 403, 'CMS_FORBIDDEN', 'flows cannot verify')

  const rows = await app.db.selectFrom('audit_log').select(['id', 'actor']).orderBy('id').execute()
  await app.db.updateTable('audit_log').set({ actor: 'someone-else' }).where('id', '=', rows[1]!.id).execute()
  t.same(
    await verify(),
    { valid: false, records: 1, firstInvalidId: Number(rows[1]!.id) },
    'an edited record breaks the chain',
  )
  await app.db.updateTable('audit_log').set({ actor: rows[1]!.actor }).where('id', '=', rows[1]!.id).execute()
  t.equal((await verify()).valid, true, 'restored, it verifies again')
  await app.db.deleteFrom('audit_log').where('id', '=', rows[2]!.id).execute()
  t.same(
    await verify(),
    { valid: false, records: 2, firstInvalidId: Number(rows[3]!.id) },
    'a deleted record breaks the chain at the next one',
  )
})
