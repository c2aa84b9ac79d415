import type { FastifyInstance } from 'fastify'
import { randomBytes } from 'node:crypto'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { createApp } from '../../src/app.js'
import { AuditKey, AuditKeyError, loadAuditKey, openAuditAnchor } from '../../src/audit/anchor.js'
import { chainHash } from '../../src/audit/chain.js'
import { buildTestApp, freshDatabaseUrl, storeDir, testConfig, testTokens } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { issueCertificate } from '../helpers/pki.js'
import { assertProblem, putCertificate } from '../helpers/requests.js'
import { auditKeyFile, buildAnchoredApp, contentOf, recomputeChain } from '../helpers/anchored-app.js'

const cert = await issueCertificate('audit-anchor', { key: 'ec-p256' })
const HEX64 = /^[0-9a-f]{64}$/

const verify = async (app: FastifyInstance, query = '') =>
  (await asRoleOn(app)('monitor').get(`/audit/verify${query}`)).json()
const head = async (app: FastifyInstance) => (await asRoleOn(app)('monitor').get('/audit/head')).json().head
const ids = async (app: FastifyInstance) =>
  (await app.db.selectFrom('audit_log').select('id').orderBy('id').execute()).map((r) => Number(r.id))

/** An anchored app with `n` audit records (keystore.create a0 … a{n-1}). */
async function withRecords(t: Parameters<typeof buildAnchoredApp>[0], n = 4) {
  const built = await buildAnchoredApp(t)
  for (let i = 0; i < n; i++) t.equal((await putCertificate(built.app, `a${i}`, cert)).statusCode, 201)
  return { ...built, key: await loadAuditKey({ file: built.keyFile, dataDir: '' }) }
}

t.test('an intact chain verifies and ends at its signed head, which is shown', async (t) => {
  const { app } = await buildAnchoredApp(t)
  t.match(
    await verify(app),
    { valid: true, records: 0, problem: null, head: { lastId: 0, hash: '0'.repeat(64) } },
    'an empty log is valid',
  )
  t.match(await head(app), { lastId: 0, hash: '0'.repeat(64) }, 'a new store is signed empty at its first start')

  await putCertificate(app, 'a', cert)
  // Writes in parallel are serialised: each moves the head in its own transaction.
  const parallel = await Promise.all(['b', 'c', 'd', 'e'].map((alias) => putCertificate(app, alias, cert)))
  t.same(
    parallel.map((r) => r.statusCode),
    [201, 201, 201, 201],
  )
  const last = (await ids(app)).at(-1)
  const result = await verify(app)
  t.same(result, {
    valid: true,
    records: 5,
    unchained: 0,
    firstInvalidId: null,
    problem: null,
    head: { lastId: last, hash: result.head.hash, at: result.head.at, mac: result.head.mac },
  })
  t.match(result.head, { hash: HEX64, mac: HEX64 })
  const newest = await app.db.selectFrom('audit_log').select(['hash', 'at']).where('id', '=', last!).executeTakeFirst()
  t.match(result.head, { hash: newest!.hash, at: newest!.at }, 'the head names the newest record')
  t.same(await head(app), result.head, 'GET /audit/head answers the same head')
  assertProblem(t, await asRoleOn(app)('integration-flow').get('/audit/head'), 403, 'CMS_FORBIDDEN')
})

t.test('the newest records cut off in the database: detected, and no change is signed over the cut', async (t) => {
  const { app, key } = await withRecords(t)
  const all = await ids(app)
  await app.db.deleteFrom('audit_log').where('id', '>=', all[2]!).execute()
  const result = await verify(app)
  t.match(result, { valid: false, problem: 'truncated', records: 2, firstInvalidId: null }, 'the rest still chains')
  t.equal(result.head.lastId, all.at(-1), 'the head still names the newest record, which was cut off')

  const refused = await putCertificate(app, 'b', cert)
  assertProblem(t, refused, 503, 'CMS_AUDIT_ANCHOR_BROKEN', 'a change on a cut log')
  t.equal((await ids(app)).length, 2, 'no record written')
  t.equal((await asRoleOn(app)('monitor').get('/keystore/entries/b')).statusCode, 404, 'nor the change itself')
  t.match(await openAuditAnchor(app.db, key), { anchored: false, problem: 'truncated' }, 'a restart reports it too')
  t.match(await verify(app), { valid: false, problem: 'truncated' })
})

t.test('a record rewritten and the whole chain recomputed: detected', async (t) => {
  const { app } = await withRecords(t)
  const [, second] = await ids(app)
  await app.db.updateTable('audit_log').set({ actor: 'someone-else' }).where('id', '=', second!).execute()
  await recomputeChain(app)
  const result = await verify(app)
  t.match(result, { valid: false, problem: 'rewritten', records: 4, firstInvalidId: null }, 'every hash follows')

  // Moving the head onto the recomputed end needs the key: without it the signature fails.
  const end = await app.db.selectFrom('audit_log').select('hash').orderBy('id', 'desc').executeTakeFirstOrThrow()
  await app.db.updateTable('audit_head').set({ hash: end.hash! }).execute()
  t.match(await verify(app), { valid: false, problem: 'head-signature' })
})

t.test('the signed head altered or removed: detected; a start on an altered head stops', async (t) => {
  const { app, key } = await withRecords(t)
  const original = await head(app)
  await app.db.updateTable('audit_head').set({ at: '2020-01-01T00:00:00.000Z' }).execute()
  t.match(await verify(app), { valid: false, problem: 'head-signature' }, 'its time changed')
  await app.db
    .updateTable('audit_head')
    .set({ at: original.at, mac: randomBytes(32).toString('hex') })
    .execute()
  t.match(await verify(app), { valid: false, problem: 'head-signature' }, 'its signature replaced')
  await t.rejects(openAuditAnchor(app.db, key), { name: 'AuditKeyError', message: /does not verify/ })

  await app.db.deleteFrom('audit_head').execute()
  t.match(await verify(app), { valid: false, problem: 'head-missing' }, 'removed')
  assertProblem(t, await putCertificate(app, 'b', cert), 503, 'CMS_AUDIT_ANCHOR_BROKEN', 'no change without the head')
})

t.test('records added in the database without the key: detected at the first of them', async (t) => {
  const { app } = await withRecords(t, 2)
  const last = await app.db.selectFrom('audit_log').selectAll().orderBy('id', 'desc').executeTakeFirstOrThrow()
  const fields = contentOf({ ...last, actor: 'forger', at: new Date().toISOString() })
  await app.db
    .insertInto('audit_log')
    .values({ ...fields, hash: chainHash(last.hash!, fields) })
    .execute()
  const added = (await ids(app)).at(-1)
  t.match(await verify(app), { valid: false, problem: 'unsigned-records', records: 3, firstInvalidId: added })
})

t.test('a start with another key stops with a message naming the cause', async (t) => {
  const { app } = await withRecords(t, 1)
  await t.rejects(openAuditAnchor(app.db, new AuditKey(randomBytes(32), 'the-other-key-file')), {
    constructor: AuditKeyError,
    message: /does not verify with the key in the-other-key-file.*replicas must share one AUDIT_KEY_FILE/s,
  })
})

t.test(
  'a log without a signed head (a store from before it) is signed at start, with a record saying so',
  async (t) => {
    const { app, key } = await withRecords(t, 2)
    await app.db.deleteFrom('audit_head').execute()
    const opened = await openAuditAnchor(app.db, key, { reanchor: true })
    t.match(opened, { anchored: true, problem: null, head: { lastId: (await ids(app)).at(-1) } })
    const newest = (await asRoleOn(app)('monitor').get('/audit?limit=1')).json().records[0]
    t.match(newest, { action: 'audit.anchor', actor: 'cms-encryptor', role: 'service', target: 'audit' })
    t.match(await verify(app), { valid: true, records: 3, problem: null })
    t.equal((await putCertificate(app, 'b', cert)).statusCode, 201, 'changes go on')
    t.match(await verify(app), { valid: true, records: 4 })
  },
)

t.test('records from before the hash chain (migration 0003) are left out; the chain starts after them', async (t) => {
  const app = await buildTestApp(t)
  const unhashed = { actor: 'old', role: 'tenant-admin', action: 'keystore.create', before: null, after: null }
  for (const target of ['keystore/old-1', 'keystore/old-2']) {
    await app.db
      .insertInto('audit_log')
      .values({ ...unhashed, target, at: new Date().toISOString(), renewal_id: null, comment: null, hash: null })
      .execute()
  }
  // The store's first start with the anchor signs the chain as it stands.
  await app.db.deleteFrom('audit_head').execute()
  await openAuditAnchor(app.db, await loadAuditKey({ file: auditKeyFile(t), dataDir: '' }), { reanchor: true })
  await putCertificate(app, 'a', cert)
  t.match(await verify(app), { valid: true, unchained: 2, records: 2, problem: null })
  const [first] = await ids(app)
  await app.db.updateTable('audit_log').set({ actor: 'edited' }).where('id', '=', first!).execute()
  t.match(await verify(app), { valid: true, unchained: 2 }, 'nothing protects those records: they predate the chain')
})

t.test('a store set back to an older copy: caught while running, and by a checkpoint after a restart', async (t) => {
  const { app, key } = await withRecords(t, 2)
  const older = await app.db.selectFrom('audit_head').selectAll().executeTakeFirstOrThrow()
  await putCertificate(app, 'b', cert)
  await putCertificate(app, 'c', cert)
  const recorded = await head(app) // what an outside monitor keeps
  await app.db.deleteFrom('audit_log').where('id', '>', older.last_id).execute()
  await app.db.updateTable('audit_head').set(older).execute()

  t.match(await verify(app), { valid: false, problem: 'rolled-back' }, 'this process wrote a newer head')
  assertProblem(t, await putCertificate(app, 'd', cert), 503, 'CMS_AUDIT_ANCHOR_BROKEN', 'no change on a set-back log')

  // A restart forgets: the older copy is consistent in itself. A monitor's checkpoint still catches it.
  t.match(await openAuditAnchor(app.db, key), { problem: null })
  t.match(await verify(app), { valid: true })
  t.match(await verify(app, `?lastId=${recorded.lastId}&hash=${recorded.hash}`), {
    valid: false,
    problem: 'checkpoint-missing',
  })
  t.match(
    await verify(app, `?lastId=${older.last_id}&hash=${older.hash}`),
    { valid: true },
    'an older checkpoint holds',
  )
  assertProblem(
    t,
    await asRoleOn(app)('monitor').get(`/audit/verify?lastId=${older.last_id}`),
    400,
    'CMS_VALIDATION_FAILED',
    'a checkpoint needs both',
  )
})

t.test('createApp opens the anchor: DATA_DIR/audit-key by default; another key stops the start', async (t) => {
  const dir = storeDir(t)
  const config = testConfig({ DATA_DIR: dir, DATABASE_URL: await freshDatabaseUrl(t) })
  const app = await createApp(config, { tokens: testTokens(), logger: false })
  try {
    await putCertificate(app, 'a', cert)
    t.match(await verify(app), { valid: true, head: { hash: HEX64, mac: HEX64 } }, 'the first record is signed')
    t.equal(statSync(join(dir, 'audit-key')).mode & 0o777, 0o600)
  } finally {
    await app.close() // before the next start on the same store
  }

  const other = auditKeyFile(t)
  await t.rejects(createApp({ ...config, AUDIT_KEY_FILE: other }, { tokens: testTokens(), logger: false }), {
    name: 'AuditKeyError',
    message: /replicas must share one AUDIT_KEY_FILE/,
  })
  const again = await createApp(config, { tokens: testTokens(), logger: false })
  t.teardown(() => again.close())
  t.match(await verify(again), { valid: true }, 'the store is untouched by the refused start')
})

t.test('a head removed by someone who can write the database is not re-signed at the next start', async (t) => {
  const { app, key } = await withRecords(t, 3)
  const [, second] = await ids(app)
  await app.db.deleteFrom('audit_log').where('id', '>', second!).execute()
  await app.db.deleteFrom('audit_head').execute()
  const opened = await openAuditAnchor(app.db, key)
  t.match(opened, { anchored: false, problem: 'head-missing', head: null }, 'the newest cut off and the head gone')
  t.match(await verify(app), { valid: false, problem: 'head-missing' })
  assertProblem(t, await putCertificate(app, 'b', cert), 503, 'CMS_AUDIT_ANCHOR_BROKEN', 'no change signed over it')

  await app.db.deleteFrom('audit_log').execute()
  t.match(
    await openAuditAnchor(app.db, key),
    { problem: 'head-missing' },
    'the whole log gone: the store still holds data',
  )
  t.match(await verify(app), { valid: false, problem: 'head-missing' })
})
