import * as asn1js from 'asn1js'
import { ContentInfo, EnvelopedData, IssuerAndSerialNumber, KeyTransRecipientInfo } from 'pkijs'
import { X509Certificate } from 'node:crypto'
import pg from 'pg'
import t from 'tap'
import type { Role } from '../../src/auth/tokens.js'
import { freshDatabaseUrl } from '../helpers/app.js'
import { opensslDecrypt } from '../helpers/openssl.js'
import { issueCertificate, type TestCertificate } from '../helpers/pki.js'
import { callReplica, encryptOnReplica, startReplica, waitReady, type Replica } from '../helpers/replica.js'

/**
 * Two service processes on one PostgreSQL database. A change acknowledged by replica A must reach
 * replica B's encrypts, every time, and once B uses it B never goes back to the old state; B must
 * recover when its notification connection is killed, without serving its stale cache; concurrent
 * writes through both replicas are serialised. How long propagation took (about 10 ms typically) is
 * reported, not asserted: a loaded machine must not turn a correct replica red. PROPAGATION_TIMEOUT_MS
 * is only the point where waiting longer is pointless.
 */
const PROPAGATION_TIMEOUT_MS = 20_000
const CHANGES = 105
const DAY = 86_400_000

const call = callReplica

async function encryptOn(replica: Replica) {
  const message = await encryptOnReplica(replica)
  return { ...message, serials: message.status === 200 ? recipientSerials(message.body) : [] }
}

/** The serial numbers the RecipientInfos name: which certificates a message was encrypted for. */
function recipientSerials(der: Buffer): string[] {
  const content = new EnvelopedData({ schema: ContentInfo.fromBER(der).content })
  return content.recipientInfos.map((ri) => {
    const rid = (ri.value as KeyTransRecipientInfo).rid as IssuerAndSerialNumber
    return normalSerial(Buffer.from((rid.serialNumber as asn1js.Integer).valueBlock.valueHexView).toString('hex'))
  })
}

/** Serial numbers as lowercase hex without leading zeros, however they were printed. */
const normalSerial = (hex: string) => hex.toLowerCase().replace(/^0+/, '')
const serialOf = (cert: TestCertificate) => normalSerial(new X509Certificate(cert.der).serialNumber)

type Message = Awaited<ReturnType<typeof encryptOn>>

/**
 * Polls B until `expected` holds for its output, then checks that B's next message still has it (no
 * going back); returns how long it took after `since`.
 */
async function propagation(b: Replica, since: number, expected: (m: Message) => boolean) {
  for (;;) {
    const message = await encryptOn(b)
    if (message.status === 200 && expected(message)) {
      const delay = performance.now() - since
      const next = await encryptOn(b)
      return { delay, message, kept: next.status === 200 && expected(next) }
    }
    if (performance.now() - since > PROPAGATION_TIMEOUT_MS)
      throw new Error(`replica B did not pick the change up: ${message.status} ${message.aliases}`)
  }
}

t.test('two replicas: every change on A reaches B, and B does not go back', async (t) => {
  const databaseUrl = await freshDatabaseUrl(t)
  // Started together: the migrations run once, under the migrator's lock.
  const [a, b] = await Promise.all([startReplica(t, 'a', databaseUrl), startReplica(t, 'b', databaseUrl)])
  const pool = await Promise.all([0, 1, 2, 3].map((i) => issueCertificate(`r1-${i}`)))
  const r2 = await issueCertificate('r2')
  t.equal((await call(a, 'PUT', '/keystore/entries/r1', 'tenant-admin', { certificate: pool[0]!.pem })).status, 201)
  t.equal((await call(a, 'PUT', '/keystore/entries/r2', 'tenant-admin', { certificate: r2.pem })).status, 201)
  t.equal((await call(a, 'PUT', '/encryptors/flow', 'integration-developer', { receiverAliases: ['r1'] })).status, 201)
  t.equal((await encryptOn(b)).status, 200, 'B serves the encryptor A created')

  const delays: number[] = []
  const failures: string[] = []
  let r1 = pool[0]!
  for (let i = 0; i < CHANGES; i++) {
    let res, expected: (m: Awaited<ReturnType<typeof encryptOn>>) => boolean, holders: TestCertificate[]
    if (i % 3 === 0) {
      r1 = pool[(Math.floor(i / 3) + 1) % pool.length]!
      res = await call(a, 'PUT', '/keystore/entries/r1', 'tenant-admin', { certificate: r1.pem })
      const serial = serialOf(r1)
      expected = (m) => m.serials.includes(serial)
      holders = [r1]
    } else if (i % 3 === 1) {
      res = await call(a, 'POST', '/encryptors/flow/aliases', 'integration-developer', { alias: 'r2' })
      expected = (m) => m.aliases.includes('r2')
      holders = [r1, r2]
    } else {
      res = await call(a, 'DELETE', '/encryptors/flow/aliases/r2', 'integration-developer')
      expected = (m) => !m.aliases.includes('r2')
      holders = [r1]
    }
    const acknowledged = performance.now()
    if (res.status !== 200 && res.status !== 201) {
      failures.push(`change ${i}: ${res.status}`)
      continue
    }
    const { delay, message, kept } = await propagation(b, acknowledged, expected)
    delays.push(delay)
    if (!kept) failures.push(`change ${i}: B went back to the state before the change`)
    for (const holder of holders) {
      if ((await opensslDecrypt(message.body, holder)).toString() !== message.payload)
        failures.push(`change ${i}: ${holder.name} cannot decrypt B's message`)
    }
  }
  delays.sort((x, y) => x - y)
  const median = delays[Math.floor(delays.length / 2)]!,
    max = delays[delays.length - 1]!
  t.comment(`propagation A→B over ${delays.length} changes: median ${median.toFixed(1)} ms, max ${max.toFixed(1)} ms`)
  t.same(failures, [], 'every change reached B, stayed, and decrypts')
  t.equal(delays.length, CHANGES, 'every change was acknowledged by A and used by B')

  // Every renewal step, taken on A, is seen by B.
  const next = await issueCertificate('r1-next', { notAfter: new Date(Date.now() + 730 * DAY) })
  const renewal = await call(a, 'POST', '/renewals', 'tenant-admin', {
    procedure: 'add-alias',
    encryptorId: 'flow',
    currentAlias: 'r1',
    newAlias: 'r1-next',
    certificate: next.pem,
  })
  t.equal(renewal.status, 201)
  const id = renewal.json().id
  const steps: Array<[string, Role, string[]]> = [
    ['add-certificate', 'tenant-admin', ['r1']],
    ['add-alias', 'integration-developer', ['r1', 'r1-next']],
    ['confirm-receiver-switched', 'tenant-admin', ['r1', 'r1-next']],
    ['remove-old-alias', 'integration-developer', ['r1-next']],
    ['remove-old-certificate', 'tenant-admin', ['r1-next']],
  ]
  for (const [step, role, aliases] of steps) {
    t.equal((await call(a, 'POST', `/renewals/${id}/steps/${step}`, role)).status, 200, step)
    const { delay, message, kept } = await propagation(
      b,
      performance.now(),
      (m) => [...m.aliases].sort().join() === [...aliases].sort().join(),
    )
    t.comment(`${step}: B used ${aliases} after ${delay.toFixed(0)} ms`)
    t.ok(kept, `${step}: B uses ${aliases}, and keeps to it`)
    const holder = aliases.includes('r1-next') ? next : r1
    t.equal(
      (await opensslDecrypt(message.body, holder)).toString(),
      message.payload,
      `${step}: ${holder.name} decrypts B's message`,
    )
  }

  // Downtime begun on A pauses B too; aborting it on A resumes B.
  const later = await issueCertificate('r1-later', { notAfter: new Date(Date.now() + 800 * DAY) })
  const downtime = await call(a, 'POST', '/renewals', 'tenant-admin', {
    procedure: 'downtime',
    encryptorId: 'flow',
    currentAlias: 'r1-next',
    certificate: later.pem,
  })
  t.equal(downtime.status, 201)
  t.equal((await call(a, 'POST', `/renewals/${downtime.json().id}/steps/begin-downtime`, 'tenant-admin')).status, 200)
  const since = performance.now()
  let paused
  while ((paused = await encryptOn(b)).status !== 503 && performance.now() - since < PROPAGATION_TIMEOUT_MS) {
    /* poll */
  }
  t.comment(`B paused ${(performance.now() - since).toFixed(0)} ms after begin-downtime on A`)
  t.equal(paused.status, 503, 'B pauses')
  t.equal((await encryptOn(b)).status, 503, 'and stays paused')
  t.equal((await call(a, 'POST', `/renewals/${downtime.json().id}/abort`, 'tenant-admin')).status, 200)
  const { delay, kept } = await propagation(b, performance.now(), () => true)
  t.comment(`B resumed ${delay.toFixed(0)} ms after the abort`)
  t.ok(kept, 'B resumes after the abort, and stays resumed')
  t.same(
    a.problems.concat(b.problems).filter((l) => /"level":(50|60)/.test(l)),
    [],
    'no error logged',
  )
})

t.test('concurrent writes through two replicas: exactly one wins, the other sees the new state', async (t) => {
  const databaseUrl = await freshDatabaseUrl(t)
  const [a, b] = await Promise.all([startReplica(t, 'a', databaseUrl), startReplica(t, 'b', databaseUrl)])
  const c1 = await issueCertificate('c1'),
    c2 = await issueCertificate('c2'),
    c3 = await issueCertificate('c3', { notAfter: new Date(Date.now() + 730 * DAY) })
  const both = await Promise.all(
    [a, b].map((r, i) =>
      call(
        r,
        'PUT',
        '/keystore/entries/x',
        'tenant-admin',
        { certificate: [c1, c2][i]!.pem },
        { 'if-none-match': '*' },
      ),
    ),
  )
  t.same(both.map((r) => r.status).sort(), [201, 412], 'two creates: one 201, one 412')
  await call(a, 'PUT', '/keystore/entries/y', 'tenant-admin', { certificate: c2.pem })
  await call(a, 'PUT', '/encryptors/flow', 'integration-developer', { receiverAliases: ['x'] })
  const adds = await Promise.all(
    [a, b].map((r) =>
      call(r, 'POST', '/encryptors/flow/aliases', 'integration-developer', { alias: 'y' }, { 'if-match': '"1"' }),
    ),
  )
  t.same(adds.map((r) => r.status).sort(), [200, 412], 'two alias changes on the same version: one 200, one 412')
  t.same((await call(b, 'GET', '/encryptors/flow', 'monitor')).json().receiverAliases, ['x', 'y'])

  const id = (
    await call(a, 'POST', '/renewals', 'tenant-admin', {
      procedure: 'exchange',
      encryptorId: 'flow',
      currentAlias: 'x',
      certificate: c3.pem,
    })
  ).json().id
  const steps = await Promise.all(
    [a, b].map((r) => call(r, 'POST', `/renewals/${id}/steps/exchange-certificate`, 'tenant-admin')),
  )
  t.same(
    steps.map((r) => r.status),
    [200, 200],
    'the same step on both: one applies it, the other sees it done',
  )
  t.same(steps[0]!.json(), steps[1]!.json())
  const audit = (await call(a, 'GET', `/audit?renewalId=${id}&action=keystore.replace`, 'tenant-admin')).json()
  t.equal(audit.records.length, 1, 'the certificate was exchanged once')
})

t.test('a replica whose notification connection is killed reconnects and reloads before it serves again', async (t) => {
  const databaseUrl = await freshDatabaseUrl(t)
  const [a, b] = await Promise.all([startReplica(t, 'a', databaseUrl), startReplica(t, 'b', databaseUrl)])
  const r1 = await issueCertificate('k1'),
    r2 = await issueCertificate('k2')
  await call(a, 'PUT', '/keystore/entries/r1', 'tenant-admin', { certificate: r1.pem })
  await call(a, 'PUT', '/keystore/entries/r2', 'tenant-admin', { certificate: r2.pem })
  await call(a, 'PUT', '/encryptors/flow', 'integration-developer', { receiverAliases: ['r1'] })
  t.same((await encryptOn(b)).aliases, ['r1'], 'B has the encryptor cached')

  const admin = new pg.Client({ connectionString: databaseUrl })
  await admin.connect()
  t.teardown(() => admin.end())
  const listener = async () =>
    (
      await admin.query('select pid from pg_stat_activity where application_name = $1', [
        `cms-encryptor-listener:${b.pid}`,
      ])
    ).rows[0]?.pid as number | undefined
  for (let round = 0; round < 3; round++) {
    const before = await listener()
    t.ok(before, `round ${round}: B listens`)
    await admin.query('select pg_terminate_backend($1)', [before])
    // Once B has noticed the loss (it refuses, or is already listening on a new connection), A
    // changes the encryptor: B must not serve its old cache, and must serve the new set soon.
    for (const start = performance.now(); ;) {
      if (!(await fetch(b.url('/health/ready'))).ok) break
      const now = await listener()
      if (now && now !== before) break
      if (performance.now() - start > PROPAGATION_TIMEOUT_MS) throw new Error('B did not notice the lost connection')
    }
    const change = await call(
      a,
      round % 2 ? 'DELETE' : 'POST',
      round % 2 ? '/encryptors/flow/aliases/r2' : '/encryptors/flow/aliases',
      'integration-developer',
      round % 2 ? undefined : { alias: 'r2' },
    )
    t.equal(change.status, 200)
    const expected = round % 2 ? ['r1'] : ['r1', 'r2']
    const since = performance.now()
    const seen: number[] = []
    const stale: string[] = []
    for (;;) {
      const m = await encryptOn(b)
      seen.push(m.status)
      if (m.status === 200 && [...m.aliases].sort().join() === expected.join()) break
      if (m.status === 200) stale.push(m.aliases.join())
      if (performance.now() - since > PROPAGATION_TIMEOUT_MS) throw new Error('B did not recover')
    }
    t.comment(
      `round ${round}: B served the new set ${(performance.now() - since).toFixed(0)} ms after the change ` +
        `(refused meanwhile: ${seen.filter((s) => s === 503).length})`,
    )
    t.same(stale, [], `round ${round}: B serves the new set, and never its stale one meanwhile`)
    await waitReady(b, PROPAGATION_TIMEOUT_MS)
    const after = await listener()
    t.ok(after && after !== before, `round ${round}: B listens again on a new connection`)
  }
})
