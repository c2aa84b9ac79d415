import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import t from 'tap'
import { createApp } from '../../src/app.js'
import { auth, buildTestApp, freshDatabaseUrl, testConfig, testTokens, TOKENS } from '../helpers/app.js'
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

  const res = await app.inject({ method: 'GET', url: '/metrics' })
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
      new Date(
        JSON.parse((await app.inject({ method: 'GET', url: '/keystore/entries/a', headers: auth('monitor') })).body)
          .notAfter,
      ).getTime() / 1000,
    ),
  )
  t.ok([98, 99].includes(sample(text, 'cms_certificate_days_to_expiry', 'alias="a"')!), 'days to expiry')
  t.equal(sample(text, 'cms_renewals_active', 'procedure="downtime",step="exchange-certificate"'), 1)
  t.equal(sample(text, 'cms_encryptors_paused'), 1)
  t.ok(sample(text, 'process_resident_memory_bytes')! > 0, 'default process metrics')
  for (const secret of [...Object.values(TOKENS), 'BEGIN CERTIFICATE', a.pem.split('\n')[1]!])
    t.notOk(text.includes(secret), 'no secret or certificate in metrics')
})

t.test('metrics can require a token', async (t) => {
  const app = await buildTestApp(t, { METRICS_REQUIRE_TOKEN: 'true' })
  assertProblem(t, await app.inject({ method: 'GET', url: '/metrics' }), 401, 'CMS_UNAUTHENTICATED')
  t.equal((await app.inject({ method: 'GET', url: '/metrics', headers: auth('monitor') })).statusCode, 200)
})

t.test('security headers on every response', async (t) => {
  const app = await buildTestApp(t)
  for (const url of ['/health/live', '/keystore/entries', '/nope']) {
    const res = await app.inject({ method: 'GET', url, headers: auth('monitor') })
    t.equal(res.headers['x-content-type-options'], 'nosniff', url)
    t.match(res.headers['strict-transport-security'], /max-age=/, url)
    t.equal(res.headers['x-frame-options'], 'SAMEORIGIN', url)
  }
})

t.test('rate limiting per token; integration flows exempt unless configured', async (t) => {
  const app = await buildTestApp(t, { RATE_LIMIT_MAX: '3' })
  await putCertificate(app, 'a', await issueCertificate('a'))
  await putEncryptor(app, 'flow', { receiverAliases: ['a'] })
  const get = (role: 'monitor' | 'tenant-admin') =>
    app.inject({ method: 'GET', url: '/encryptors', headers: auth(role) })
  for (let i = 0; i < 3; i++) t.equal((await get('monitor')).statusCode, 200)
  const limited = await get('monitor')
  assertProblem(t, limited, 429, 'CMS_RATE_LIMITED', 'fourth request')
  t.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After')
  t.equal((await get('tenant-admin')).statusCode, 200, 'another token has its own budget')
  for (let i = 0; i < 6; i++) t.equal((await encrypt(app, 'flow', 'x')).statusCode, 200, 'flows are not limited')
  t.equal((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode, 200)

  const strict = await buildTestApp(t, { RATE_LIMIT_MAX: '2', RATE_LIMIT_FLOWS: 'true' })
  await putCertificate(strict, 'a', await issueCertificate('a'))
  await putEncryptor(strict, 'flow', { receiverAliases: ['a'] })
  const statuses = []
  for (let i = 0; i < 3; i++) statuses.push((await encrypt(strict, 'flow', 'x')).statusCode)
  t.same(statuses, [200, 200, 429], 'RATE_LIMIT_FLOWS limits flows too')
})

t.test('load shedding: a lagging event loop answers 503 with Retry-After', async (t) => {
  const app = await buildTestApp(t, { MAX_EVENT_LOOP_DELAY_MS: '50' })
  await app.ready()
  const until = Date.now() + 1500
  while (Date.now() < until) {
    /* block the loop, as an overloaded process would */
  }
  await new Promise((r) => setTimeout(r, 1100)) // under-pressure samples once a second
  let res = await app.inject({ method: 'GET', url: '/keystore/entries', headers: auth('monitor') })
  for (let i = 0; i < 20 && res.statusCode === 200; i++) {
    const block = Date.now() + 300
    while (Date.now() < block) {
      /* keep lagging */
    }
    await new Promise((r) => setTimeout(r, 50))
    res = await app.inject({ method: 'GET', url: '/keystore/entries', headers: auth('monitor') })
  }
  assertProblem(t, res, 503, 'CMS_OVERLOADED')
  t.ok(Number(res.headers['retry-after']) > 0)
})

t.test('expiring certificates are flagged, and logged at warn once', async (t) => {
  const lines: Array<{ level: number; msg: string; alias?: string; daysUntilExpiry?: number }> = []
  const stream = new PassThrough()
  stream.on('data', (d: Buffer) => {
    for (const l of d.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l))
  })
  const dir = mkdtempSync(join(tmpdir(), 'cms-expiry-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const config = testConfig({
    DATA_DIR: dir,
    DATABASE_URL: await freshDatabaseUrl(t),
    EXPIRY_WARNING_DAYS: '20',
    LOG_LEVEL: 'info',
  })
  const first = await createApp(config, { tokens: testTokens(), logger: false })
  await putCertificate(first, 'soon', await issueCertificate('soon', { notAfter: new Date(Date.now() + 10 * DAY) }))
  await putCertificate(first, 'later', await issueCertificate('later', { notAfter: new Date(Date.now() + 40 * DAY) }))
  const list = (await first.inject({ method: 'GET', url: '/keystore/entries', headers: auth('monitor') })).json()
  t.same(
    list.entries.map((e: { alias: string; expiringSoon: boolean }) => [e.alias, e.expiringSoon]),
    [
      ['later', false],
      ['soon', true],
    ],
  )
  await first.close()

  const app = await createApp(config, { tokens: testTokens(), logger: { level: 'info', stream } })
  t.teardown(() => app.close())
  await app.ready()
  const warnings = lines.filter((l) => l.level === 40 && l.alias)
  t.same(
    warnings.map((w) => [w.alias, w.daysUntilExpiry]),
    [['soon', 9]],
    'one warning, for the expiring alias only',
  )
})

t.test('the API contract is served: /openapi.yaml and Swagger UI at /docs', async (t) => {
  const app = await buildTestApp(t)
  const yaml = await app.inject({ method: 'GET', url: '/openapi.yaml' })
  t.equal(yaml.statusCode, 200)
  t.equal(yaml.body, readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8'), 'the committed document')
  const docs = await app.inject({ method: 'GET', url: '/docs/' })
  t.equal(docs.statusCode, 200)
  t.match(docs.body, /swagger-ui/)
})

t.test('TLS when TLS_CERT_FILE and TLS_KEY_FILE are set', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cms-tls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, 'tls.key'),
      '-out',
      join(dir, 'tls.crt'),
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-days',
      '2',
    ],
    { stdio: 'ignore' },
  )
  const app = await buildTestApp(t, { TLS_CERT_FILE: join(dir, 'tls.crt'), TLS_KEY_FILE: join(dir, 'tls.key') })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as { port: number }).port
  const status = await new Promise<number>((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/health/ready', ca: readFileSync(join(dir, 'tls.crt')) }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
      .on('error', reject)
      .end()
  })
  t.equal(status, 200)
  t.throws(() => testConfig({ TLS_CERT_FILE: join(dir, 'tls.crt') }), { message: /go together/ })
})
