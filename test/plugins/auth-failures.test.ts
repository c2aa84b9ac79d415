import t from 'tap'
import { FailureCounter } from '../../src/auth/failure-counter.js'
import { auth, buildTestApp } from '../helpers/app.js'
import { assertProblem } from '../helpers/requests.js'

const BAD = { authorization: 'Bearer not-a-token' }

t.test('failed authentications are limited per client address; a right token still passes', async (t) => {
  const app = await buildTestApp(t, { AUTH_FAILURE_LIMIT: '3' })
  const from = (remoteAddress: string, headers: Record<string, string> = {}) =>
    app.inject({ method: 'GET', url: '/encryptors', remoteAddress, headers })
  const statuses = []
  for (const headers of [BAD, {}, BAD]) statuses.push((await from('127.0.0.2', headers)).statusCode)
  t.same(statuses, [401, 401, 401], 'a bad token and a missing one both count')
  const limited = await from('127.0.0.2', BAD)
  assertProblem(t, limited, 429, 'CMS_RATE_LIMITED', 'the fourth failure')
  t.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After')
  t.match(JSON.parse(limited.body).detail, /failed authentications/)
  t.equal((await from('127.0.0.2', auth('monitor'))).statusCode, 200, 'a right token from that address still works')
  t.equal((await from('127.0.0.2', BAD)).statusCode, 429, 'and the next failure is still refused')
  t.equal((await from('127.0.0.3', auth('monitor'))).statusCode, 200, 'another address is not affected')
  t.equal((await from('127.0.0.3', BAD)).statusCode, 401, 'and has its own budget')
  const probe = await app.inject({ method: 'GET', url: '/health/ready', remoteAddress: '127.0.0.2' })
  t.equal(probe.statusCode, 200, 'public routes answer a blocked address')
})

t.test('successes are never counted', async (t) => {
  const app = await buildTestApp(t, { AUTH_FAILURE_LIMIT: '1' })
  for (let i = 0; i < 5; i++) {
    const res = await app.inject({ method: 'GET', url: '/encryptors', headers: auth('monitor') })
    t.equal(res.statusCode, 200)
  }
  const wrongRole = await app.inject({ method: 'PUT', url: '/encryptors/x', headers: auth('monitor'), payload: {} })
  t.equal(wrongRole.statusCode, 403, 'a valid token with the wrong role is no failed authentication')
  t.equal((await app.inject({ method: 'GET', url: '/encryptors', headers: auth('monitor') })).statusCode, 200)
})

t.test('AUTH_FAILURE_LIMIT=0: no limit', async (t) => {
  const app = await buildTestApp(t, { AUTH_FAILURE_LIMIT: '0' })
  const statuses = new Set<number>()
  for (let i = 0; i < 50; i++)
    statuses.add((await app.inject({ method: 'GET', url: '/encryptors', headers: BAD })).statusCode)
  t.same([...statuses], [401])
})

t.test('TRUST_PROXY: the forwarded address is the client only when the peer is a trusted proxy', async (t) => {
  const fail = (app: Awaited<ReturnType<typeof buildTestApp>>, forwardedFor: string) =>
    app.inject({
      method: 'GET',
      url: '/encryptors',
      remoteAddress: '127.0.0.1',
      headers: { ...BAD, 'x-forwarded-for': forwardedFor },
    })
  const behindProxy = await buildTestApp(t, { AUTH_FAILURE_LIMIT: '1', TRUST_PROXY: '127.0.0.1' })
  t.equal((await fail(behindProxy, '203.0.113.5')).statusCode, 401)
  t.equal((await fail(behindProxy, '203.0.113.5')).statusCode, 429, 'the client behind the proxy is limited')
  t.equal((await fail(behindProxy, '203.0.113.6')).statusCode, 401, 'another client behind the same proxy is not')

  const direct = await buildTestApp(t, { AUTH_FAILURE_LIMIT: '1' })
  t.equal((await fail(direct, '203.0.113.5')).statusCode, 401)
  t.equal((await fail(direct, '203.0.113.6')).statusCode, 429, 'without TRUST_PROXY the header cannot dodge it')

  const otherProxy = await buildTestApp(t, { AUTH_FAILURE_LIMIT: '1', TRUST_PROXY: '10.0.0.0/8' })
  t.equal((await fail(otherProxy, '203.0.113.5')).statusCode, 401)
  t.equal((await fail(otherProxy, '203.0.113.6')).statusCode, 429, 'a peer outside TRUST_PROXY is not believed')
})

t.test('FailureCounter: windows end, and memory is bounded', async (t) => {
  let now = 0
  const counter = new FailureCounter(2, 10_000, 3, () => now)
  counter.record('a')
  t.equal(counter.retryAfter('a'), 0, 'under the limit')
  counter.record('a')
  t.equal(counter.retryAfter('a'), 10, 'at the limit: the rest of the window, in seconds')
  now = 9_500
  t.equal(counter.retryAfter('a'), 1, 'rounded up')
  now = 10_000
  t.equal(counter.retryAfter('a'), 0, 'the window is over')
  counter.record('a')
  t.equal(counter.retryAfter('a'), 0, 'a new window starts at one')

  for (const key of ['b', 'c', 'd']) {
    counter.record(key)
    counter.record(key)
  }
  t.equal(counter.retryAfter('a'), 0, 'the address idle longest made room')
  t.equal(counter.retryAfter('d'), 10, 'the newest is remembered')
})

t.test('X-Request-Id: a short plain id is kept, anything else replaced by a generated one', async (t) => {
  const app = await buildTestApp(t)
  const idOf = async (id: string) =>
    (await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': id } })).headers['x-request-id']
  t.equal(await idOf('trace-42.a:b/c+d=e@f'), 'trace-42.a:b/c+d=e@f', 'kept')
  t.equal(await idOf('a'.repeat(64)), 'a'.repeat(64), '64 characters: kept')
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
  for (const bad of ['a'.repeat(65), 'two words', 'x"}{"level":60', 'id\u00e9', ''])
    t.match(await idOf(bad), uuid, `replaced: ${JSON.stringify(bad.slice(0, 20))}`)
  const none = await app.inject({ method: 'GET', url: '/health/live' })
  t.match(none.headers['x-request-id'], uuid, 'generated when absent')
})
