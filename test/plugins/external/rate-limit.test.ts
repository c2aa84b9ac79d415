import t from 'tap'
import { buildTestApp } from '../../helpers/app.js'
import { asRoleOn } from '../../helpers/as-role.js'
import { issueCertificate } from '../../helpers/pki.js'
import { assertProblem, encrypt, putCertificate, putEncryptor } from '../../helpers/requests.js'

t.test('rate limiting per token; integration flows exempt unless configured', async (t) => {
  const app = await buildTestApp(t, { RATE_LIMIT_MAX: '3' })
  const asRole = asRoleOn(app)
  await putCertificate(app, 'a', await issueCertificate('a'))
  await putEncryptor(app, 'flow', { receiverAliases: ['a'] })
  const get = (role: 'monitor' | 'tenant-admin') => asRole(role).get('/encryptors')
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

t.test('without a token, per client address: /metrics and unknown URLs are limited, /health/* never', async (t) => {
  const app = await buildTestApp(t, { RATE_LIMIT_MAX: '2', METRICS_REQUIRE_TOKEN: 'false' })
  const from = (remoteAddress: string, url: string) => app.inject({ method: 'GET', url, remoteAddress })
  const metrics = []
  for (let i = 0; i < 3; i++) metrics.push((await from('127.0.0.2', '/metrics')).statusCode)
  t.same(metrics, [200, 200, 429], '/metrics from one address')
  const limited = await from('127.0.0.2', '/metrics')
  assertProblem(t, limited, 429, 'CMS_RATE_LIMITED', 'still over the limit')
  t.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After')
  t.equal((await from('127.0.0.3', '/metrics')).statusCode, 200, 'another address has its own budget')
  const unknown = []
  for (let i = 0; i < 3; i++) unknown.push((await from('127.0.0.4', '/no/such/route')).statusCode)
  t.same(unknown, [404, 404, 429], 'unknown URLs are counted by address')
  for (const url of ['/health/live', '/health/ready']) {
    const statuses = []
    for (let i = 0; i < 10; i++) statuses.push((await from('127.0.0.2', url)).statusCode)
    t.same(new Set(statuses), new Set([200]), `${url}: never limited, even from an address over its limit`)
  }
})
