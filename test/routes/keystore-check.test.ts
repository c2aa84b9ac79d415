import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { issueCertificate } from '../helpers/pki.js'
import { startRenewal } from '../helpers/renewals.js'
import { assertProblem, putCertificate, putEncryptor, snapshot } from '../helpers/requests.js'

const DAY = 86_400_000
const PEM = { 'content-type': 'application/x-pem-file' }

t.test('POST /keystore/entries/:alias/check says what PUT would do, and changes nothing', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  const [current, renewed, other] = await Promise.all([
    issueCertificate('partner-ag'),
    issueCertificate('partner-ag-2027', { key: 'rsa-3072', notAfter: new Date(Date.now() + 364.5 * DAY) }),
    issueCertificate('other', { keyUsage: null }),
  ])
  await putCertificate(app, 'partner-ag', current)
  await putEncryptor(app, 'orders-to-partner', { receiverAliases: ['partner-ag'] })
  const auditRecords = async () => (await asRole('tenant-admin').get('/audit/verify')).json().records as number
  const before = { snapshot: await snapshot(app), audit: await auditRecords() }

  const replace = await asRole('tenant-admin').post('/keystore/entries/partner-ag/check', renewed.pem, {
    ...PEM,
    'if-match': '"1"',
  })
  t.equal(replace.statusCode, 200)
  const body = replace.json()
  t.match(body, {
    alias: 'partner-ag',
    action: 'replace',
    currentVersion: 1,
    certificate: { subject: 'CN=partner-ag-2027', publicKey: { algorithm: 'RSA', bits: 3072 }, notYetValid: false },
    usedBy: ['orders-to-partner'],
    warnings: [],
  })
  t.same(
    body.checks.map((c: { name: string; passed: boolean }) => [c.name, c.passed]),
    ['parse', 'key', 'keyUsage', 'validity', 'precondition', 'renewal', 'encryptors'].map((n) => [n, true]),
    'every check PUT runs, in its order',
  )
  const detail = (name: string) => body.checks.find((c: { name: string }) => c.name === name).detail
  t.equal(detail('parse'), 'Parsed: one X.509 certificate (PEM), CN=partner-ag-2027')
  t.equal(detail('key'), 'RSA 3072 bits (at least 2048)')
  t.equal(detail('keyUsage'), 'keyUsage allows keyEncipherment')
  t.match(detail('validity'), /^valid until \d{4}-\d\d-\d\dT.*Z, 364 days$/)
  t.equal(detail('precondition'), 'If-Match "1" holds for version 1')
  t.equal(detail('renewal'), 'no active renewal owns partner-ag')
  t.equal(detail('encryptors'), 'every encryptor listing partner-ag can still encrypt: orders-to-partner')

  const unchanged = (await asRole('tenant-admin').post('/keystore/entries/partner-ag/check', current.pem, PEM)).json()
  t.equal(unchanged.action, 'unchanged', 'the same certificate again')
  const created = await asRole('tenant-admin').post('/keystore/entries/fresh/check', other.der, {
    'content-type': 'application/pkix-cert',
  })
  t.match(created.json(), { action: 'create', currentVersion: null, usedBy: [] })
  t.match(created.json().checks, [
    { detail: 'Parsed: one X.509 certificate (DER), CN=other' },
    {},
    { detail: 'no keyUsage extension: any use allowed' },
  ])
  const json = await asRole('tenant-admin').post('/keystore/entries/fresh/check', { certificate: other.pem })
  t.equal(json.statusCode, 200, 'JSON {"certificate"} as PUT takes it')

  t.same(await snapshot(app), before.snapshot, 'no entry, version or encryptor changed')
  t.equal(await auditRecords(), before.audit, 'no audit record written')
  assertProblem(t, await asRole('monitor').get('/keystore/entries/fresh'), 404, 'CMS_ALIAS_NOT_FOUND')
})

t.test('a failing check answers the problem PUT answers, and changes nothing', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  const [current, renewed, noSki, expired, weak, signOnly] = await Promise.all([
    issueCertificate('current'),
    issueCertificate('renewed', { notAfter: new Date(Date.now() + 700 * DAY) }),
    issueCertificate('no-ski', { subjectKeyIdentifier: false }),
    issueCertificate('expired', { notBefore: new Date(Date.now() - 9 * DAY), notAfter: new Date(Date.now() - DAY) }),
    issueCertificate('weak', { key: 'rsa-1024' }),
    issueCertificate('sign-only', { keyUsage: ['digitalSignature'] }),
  ])
  await putCertificate(app, 'by-ski', current)
  await putEncryptor(app, 'ski-flow', { receiverAliases: ['by-ski'], recipientIdentifier: 'subject-key-identifier' })
  await putCertificate(app, 'renewing', current)
  await putEncryptor(app, 'renewing-flow', { receiverAliases: ['renewing'] })
  t.equal(
    (
      await startRenewal(app, {
        procedure: 'exchange',
        encryptorId: 'renewing-flow',
        currentAlias: 'renewing',
        certificate: renewed.pem,
      })
    ).statusCode,
    201,
  )
  const auditRecords = async () => (await asRole('tenant-admin').get('/audit/verify')).json().records as number
  const before = { snapshot: await snapshot(app), audit: await auditRecords() }

  const cases = [
    { name: '400 broken PEM', alias: 'x', body: '-----BEGIN CERTIFICATE-----\nnope\n', status: 400 },
    { name: '400 empty body', alias: 'x', body: Buffer.alloc(0), status: 400 },
    { name: '422 expired certificate', alias: 'x', body: expired.pem, status: 422 },
    { name: '422 RSA key too weak', alias: 'x', body: weak.pem, status: 422 },
    { name: '422 keyUsage forbids encryption', alias: 'x', body: signOnly.pem, status: 422 },
    {
      name: '412 If-Match a stale version',
      alias: 'by-ski',
      body: renewed.pem,
      headers: { 'if-match': '"7"' },
      status: 412,
    },
    { name: '409 alias owned by an active renewal', alias: 'renewing', body: renewed.pem, status: 409 },
    { name: '409 an encryptor needs the subject key identifier', alias: 'by-ski', body: noSki.pem, status: 409 },
  ]
  for (const c of cases) {
    const headers = { ...PEM, ...(c.headers ?? {}) }
    const checked = await asRole('tenant-admin').post(`/keystore/entries/${c.alias}/check`, c.body, headers)
    const put = await asRole('tenant-admin').put(`/keystore/entries/${c.alias}`, c.body, headers)
    assertProblem(t, checked, c.status, put.json().code, c.name)
    t.equal(put.statusCode, c.status, `${c.name}: PUT answers the same`)
  }
  assertProblem(
    t,
    await asRole('integration-developer').post('/keystore/entries/x/check', current.pem, PEM),
    403,
    'CMS_FORBIDDEN',
  )
  t.same(await snapshot(app), before.snapshot, 'nothing changed')
  t.equal(await auditRecords(), before.audit, 'no audit record written')
})

t.test('warnings: not valid yet, and expiring within EXPIRY_WARNING_DAYS', async (t) => {
  const app = await buildTestApp(t, { EXPIRY_WARNING_DAYS: '45' })
  const asRole = asRoleOn(app)
  const [early, soon] = await Promise.all([
    issueCertificate('early', {
      notBefore: new Date(Date.now() + 2 * DAY),
      notAfter: new Date(Date.now() + 400 * DAY),
    }),
    issueCertificate('soon', { notAfter: new Date(Date.now() + 40.5 * DAY) }),
  ])
  const notYet = (await asRole('tenant-admin').post('/keystore/entries/early/check', early.pem, PEM)).json()
  t.equal(notYet.certificate.notYetValid, true)
  t.match(notYet.warnings, [/^Not valid yet: its validity starts /])
  t.match(notYet.checks[3].detail, /^not valid before .*, valid until /)
  const expiring = (await asRole('tenant-admin').post('/keystore/entries/soon/check', soon.pem, PEM)).json()
  t.equal(expiring.certificate.expiringSoon, true)
  t.match(expiring.warnings, [/^Expires within EXPIRY_WARNING_DAYS \(45\): on .*, in 40 days\./])

  const list = (await asRole('monitor').get('/keystore/entries')).json()
  t.same(list, { entries: [], expiryWarningDays: 45 }, 'GET /keystore/entries names the setting')
})
