import t from 'tap'
import { buildTestApp, TOKENS } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { issueCertificate } from '../helpers/pki.js'
import { startRenewal, takeStep } from '../helpers/renewals.js'
import { assertProblem, encrypt, putCertificate, putEncryptor } from '../helpers/requests.js'

const DAY = 86_400_000

/** The value of one sample line, e.g. sample(text, 'cms_encryptors_paused') or with labels. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(labels ? `${name}{${labels}} ` : `${name} `))
  return line === undefined ? undefined : Number(line.split(' ').pop())
}

t.test('metrics: every family, with values that match the traffic', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  const a = await issueCertificate('a', { notAfter: new Date(Date.now() + 100 * DAY) })
  const b = await issueCertificate('b', { key: 'ec-p256' })
  await putCertificate(app, 'a', a)
  await putCertificate(app, 'b', b)
  await putEncryptor(app, 'flow', { receiverAliases: ['a', 'b'] })
  await putEncryptor(app, 'other', { receiverAliases: ['a'] })
  const payloads = [10, 1000, 300_000]
  for (const size of payloads) t.equal((await encrypt(app, 'flow', Buffer.alloc(size, 1))).statusCode, 200)
  await encrypt(app, 'nope', 'x')
  await encrypt(app, 'flow', '')
  const fresh = await issueCertificate('a-2', { notAfter: new Date(Date.now() + 700 * DAY) })
  const renewal = (
    await startRenewal(app, { procedure: 'downtime', encryptorId: 'other', currentAlias: 'a', certificate: fresh.pem })
  ).json()
  await takeStep(app, renewal.id, 'begin-downtime', 'tenant-admin')
  await encrypt(app, 'other', 'paused')

  const res = await asRole('monitor').get('/metrics')
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  const text = res.body
  t.equal(sample(text, 'http_requests_total', 'method="POST",route="/encryptors/:id/encrypt",status="200"'), 3)
  t.ok(
    sample(
      text,
      'http_request_duration_seconds_count',
      'method="POST",route="/encryptors/:id/encrypt",status="200"',
    ) === 3,
  )
  t.equal(sample(text, 'http_requests_total', 'method="PUT",route="/keystore/entries/:alias",status="201"'), 2)
  t.equal(sample(text, 'cms_encrypt_payload_bytes_count'), 3)
  t.equal(
    sample(text, 'cms_encrypt_payload_bytes_sum'),
    payloads.reduce((x, y) => x + y),
  )
  t.equal(sample(text, 'cms_encrypt_recipients_sum'), 6, 'two recipients per message')
  t.equal(sample(text, 'cms_encrypt_errors_total', 'reason="CMS_ENCRYPTOR_NOT_FOUND"'), 1)
  t.equal(sample(text, 'cms_encrypt_errors_total', 'reason="CMS_EMPTY_BODY"'), 1)
  t.equal(sample(text, 'cms_encrypt_errors_total', 'reason="CMS_ENCRYPTOR_PAUSED"'), 1)
  t.equal(
    sample(text, 'cms_certificate_not_after_seconds', 'alias="a"'),
    Math.floor(
      new Date(JSON.parse((await asRole('monitor').get('/keystore/entries/a')).body).notAfter).getTime() / 1000,
    ),
  )
  t.ok([98, 99].includes(sample(text, 'cms_certificate_days_to_expiry', 'alias="a"')!), 'days to expiry')
  t.equal(sample(text, 'cms_renewals_active', 'procedure="downtime",step="exchange-certificate"'), 1)
  t.equal(sample(text, 'cms_encryptors_paused'), 1)
  t.ok(sample(text, 'process_resident_memory_bytes')! > 0, 'default process metrics')
  for (const secret of [...Object.values(TOKENS), 'BEGIN CERTIFICATE', a.pem.split('\n')[1]!])
    t.notOk(text.includes(secret), 'no secret or certificate in metrics')
})

t.test('metrics need a token of any role by default; METRICS_REQUIRE_TOKEN=false opens them', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  assertProblem(t, await app.inject({ method: 'GET', url: '/metrics' }), 401, 'CMS_UNAUTHENTICATED')
  for (const role of ['monitor', 'integration-flow'] as const)
    t.equal((await asRole(role).get('/metrics')).statusCode, 200, role)
  const open = await buildTestApp(t, { METRICS_REQUIRE_TOKEN: 'false' })
  t.equal((await open.inject({ method: 'GET', url: '/metrics' })).statusCode, 200, 'open for a private scrape')
})
