import Fastify from 'fastify'
import t from 'tap'
import { TokenRegistry } from '../../src/auth/tokens.js'
import { generateOpenApiObject } from '../../src/openapi/generate.js'
import authPlugin from '../../src/plugins/auth.js'
import errorsPlugin from '../../src/plugins/errors.js'
import { auth, buildTestApp } from '../helpers/app.js'

type Doc = { paths: Record<string, Record<string, { security?: unknown[] }>> }

/** The operations of a document, with a URL to call each one with (path parameters filled in). */
function operations(doc: Doc) {
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({
      name: `${method.toUpperCase()} ${path}`,
      method: method.toUpperCase() as 'GET',
      url: path.replace('{id}', '00000000-0000-4000-8000-000000000000').replace(/\{\w+\}/g, 'x'),
      isPublic: Array.isArray(op.security) && op.security.length === 0,
    })),
  )
}

t.test('a route that does not say who may call it does not register', async (t) => {
  const fastify = Fastify({ logger: false })
  t.teardown(() => fastify.close())
  await fastify.register(errorsPlugin)
  await fastify.register(authPlugin, { tokens: new TokenRegistry([]) })
  const handler = async () => 'x'
  t.throws(() => fastify.get('/neither', handler), /declare exactly one of config.public/)
  t.throws(() => fastify.get('/both', { config: { public: true, roles: ['monitor'] } }, handler))
  t.throws(() => fastify.get('/nobody', { config: { roles: [] } }, handler), /empty roles/)
  t.doesNotThrow(() => fastify.get('/open', { config: { public: true } }, handler))
  t.doesNotThrow(() => fastify.get('/closed', { config: { roles: ['monitor'] } }, handler))
})

t.test('the document marks public exactly the operations that answer without a token', async (t) => {
  const doc = (await generateOpenApiObject()) as unknown as Doc
  const app = await buildTestApp(t)
  const ops = operations(doc)
  t.same(
    ops.filter((o) => o.isPublic).map((o) => o.name),
    ['GET /openapi.yaml', 'GET /health/live', 'GET /health/ready'],
    'the public operations (/metrics needs a token by default: METRICS_REQUIRE_TOKEN=true)',
  )
  for (const op of ops) {
    const res = await app.inject({ method: op.method, url: op.url })
    if (op.isPublic) t.not(res.statusCode, 401, `${op.name} answers without a token`)
    else t.equal(res.statusCode, 401, `${op.name} needs a token`)
  }
})

t.test(
  '/metrics needs a token by default; METRICS_REQUIRE_TOKEN=false opens it, and each document says so',
  async (t) => {
    const closed = await buildTestApp(t)
    await closed.ready()
    const closedDoc = closed.swagger() as unknown as Doc
    t.same(closedDoc.paths['/metrics']!.get!.security, undefined, 'the document-wide bearer security applies')
    t.equal((await closed.inject({ method: 'GET', url: '/metrics' })).statusCode, 401)
    t.equal((await closed.inject({ method: 'GET', url: '/metrics', headers: auth('monitor') })).statusCode, 200)

    const open = await buildTestApp(t, { METRICS_REQUIRE_TOKEN: 'false' })
    await open.ready()
    t.same((open.swagger() as unknown as Doc).paths['/metrics']!.get!.security, [], 'public in its document')
    t.equal((await open.inject({ method: 'GET', url: '/metrics' })).statusCode, 200)
  },
)

t.test('a public operation documents 429 exactly when it answers one (by address); the others per token', async (t) => {
  const app = await buildTestApp(t, { RATE_LIMIT_MAX: '1' })
  await app.ready()
  const doc = app.swagger() as unknown as { paths: Record<string, Record<string, { responses: object }>> }
  const ops = operations(doc as unknown as Doc).filter((o) => o.isPublic)
  const limited: string[] = []
  for (const op of ops) {
    const statuses = []
    for (let i = 0; i < 3; i++) statuses.push((await app.inject({ method: op.method, url: op.url })).statusCode)
    const [method, path] = op.name.split(' ') as [string, string]
    const documents429 = '429' in doc.paths[path]![method.toLowerCase()]!.responses
    t.equal(statuses.includes(429), documents429, `${op.name}: ${statuses.join(', ')}`)
    if (documents429) limited.push(op.name)
  }
  t.same(limited, ['GET /openapi.yaml'], 'only the health probes are never limited')
  const get = () => app.inject({ method: 'GET', url: '/encryptors', headers: auth('monitor') })
  t.equal((await get()).statusCode, 200)
  t.equal((await get()).statusCode, 429, 'the second request of the window')
})
