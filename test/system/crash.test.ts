import { createHash } from 'node:crypto'
import t from 'tap'
import { freshDatabaseUrl, storeDir, TOKENS } from '../helpers/app.js'
import { opensslDecrypt } from '../helpers/openssl.js'
import { issueCertificate, type TestCertificate } from '../helpers/pki.js'
import { callReplica, startReplica, type Replica } from '../helpers/replica.js'
import { deliveriesIn, REPLICA_WEBHOOKS, subscribeOnReplica, untilDrained } from '../helpers/replica-webhooks.js'
import { WebhookReceiver, type ReceivedEvent } from '../helpers/webhook-receiver.js'

/**
 * Crash safety: a real service process takes a stream of changes and is killed with SIGKILL at a
 * seeded random moment, KILLS times, restarted each time on the same store. After every restart:
 * the store opens, every renewal is at a step boundary, the audit chain verifies and its latest
 * record for each entry and encryptor matches what is stored (change and record committed
 * together), every acknowledged change is there, and encrypts decrypt in OpenSSL. Each round makes
 * progress (at least one acknowledged change) before its kill, so the test cannot pass by doing nothing.
 *
 * Webhooks across the same kills (the outbox): a receiver subscribed to every event from the start stays up
 * throughout. Once the last process has delivered everything, the events received and the audit log tell of
 * the same changes: every audited change has its event, no event tells of a change that did not commit, every
 * signature verifies, and deduplicated by webhook-id each change's event is there once. Events sent twice (a
 * process killed after posting, before recording) are allowed: delivery is at least once. They are counted.
 */
const KILLS = Number(process.env.CRASH_KILLS ?? 25)
const DAY = 86_400_000
const sha256 = (der: Buffer) => createHash('sha256').update(der).digest('hex')

/** Deterministic pseudo-random numbers (mulberry32), so a failing run can be replayed. */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const call = callReplica

interface AuditRecord {
  id: number
  action: string
  target: string
  after: { state?: string } | null
}

/** The event types an audit action's change publishes, in the same transaction. Other actions publish none. */
function eventsOf(record: AuditRecord): string[] {
  switch (record.action) {
    case 'keystore.create':
    case 'keystore.replace':
    case 'keystore.delete':
      return ['keystore.changed']
    case 'encryptor.create':
    case 'encryptor.update':
    case 'encryptor.delete':
    case 'encryptor.alias.add':
    case 'encryptor.alias.remove':
      return ['encryptor.changed']
    case 'encryptor.pause':
      return ['encryptor.paused']
    case 'encryptor.resume':
      return ['encryptor.resumed']
    case 'renewal.start':
      return ['renewal.started']
    case 'renewal.step':
      return record.after?.state === 'completed'
        ? ['renewal.step-completed', 'renewal.completed']
        : ['renewal.step-completed']
    case 'renewal.abort':
      return ['renewal.aborted']
    default:
      return []
  }
}

/** The audit target an event's data names: its record must be about the same thing. */
function targetOf(event: ReceivedEvent): string {
  const data = event.data as { alias?: string; encryptorId?: string; renewalId?: string }
  if (event.type === 'keystore.changed') return `keystore/${data.alias}`
  if (event.type.startsWith('encryptor.')) return `encryptors/${data.encryptorId}`
  return `renewals/${data.renewalId}`
}

/** The whole audit log, a page (the route's largest) at a time, following the `before` cursor. */
async function auditLog(service: Replica): Promise<AuditRecord[]> {
  const records: AuditRecord[] = []
  for (let before: number | null | undefined; before !== null;) {
    const res = await call(service, 'GET', `/audit?limit=500${before ? `&before=${before}` : ''}`, 'monitor')
    if (res.status !== 200) throw new Error(`audit: ${res.status} ${res.body}`)
    const page = res.json() as { records: AuditRecord[]; next: number | null }
    records.push(...page.records)
    before = page.next
  }
  return records
}

/**
 * Compares what the receiver got with the audit log: the problems found (empty: they tell of the same
 * changes), and counts for the comments.
 */
function compareWithAudit(audit: AuditRecord[], received: ReceivedEvent[], unique: ReceivedEvent[]) {
  const problems: string[] = []
  const byId = new Map(audit.map((r) => [r.id, r]))
  const key = (id: unknown, type: string) => `${String(id)} ${type}`
  const receivedKeys = new Set(received.map((e) => key(e.data.auditRecordId, e.type)))
  let expected = 0
  // (a) Every audited change that publishes an event was told of, with the event its action publishes.
  for (const record of audit)
    for (const type of eventsOf(record)) {
      expected++
      if (!receivedKeys.has(key(record.id, type)))
        problems.push(`audit record ${record.id} (${record.action} ${record.target}): no ${type} event received`)
    }
  // (b) No event tells of a change the audit log does not have (one that rolled back, or never was).
  for (const event of unique) {
    const id = event.data.auditRecordId
    const record = typeof id === 'number' ? byId.get(id) : undefined
    if (!record) problems.push(`${event.type} ${event.id}: auditRecordId ${String(id)} is not in the audit log`)
    else if (!eventsOf(record).includes(event.type))
      problems.push(`${event.type} ${event.id}: its audit record ${id} is a ${record.action}`)
    else if (record.target !== targetOf(event))
      problems.push(`${event.type} ${event.id}: names ${targetOf(event)}, its audit record ${id} ${record.target}`)
  }
  // (c) Every request's signature verified (standardwebhooks, with the subscription's secret).
  const unverified = received.filter((e) => !e.verified)
  if (unverified.length) problems.push(`${unverified.length} events failed verification, e.g. ${unverified[0]!.id}`)
  // (d) Deduplicated by webhook-id, each change's event is there once (not twice under two ids).
  const ids = new Map<string, string[]>()
  for (const event of unique) {
    const k = key(event.data.auditRecordId, event.type)
    ids.set(k, [...(ids.get(k) ?? []), event.id])
  }
  for (const [k, list] of ids) if (list.length > 1) problems.push(`${k}: ${list.length} events (${list.join(', ')})`)
  // The same webhook-id always carries the same event (the body is fixed when the event is written).
  const first = new Map(unique.map((e) => [e.id, key(e.data.auditRecordId, e.type)]))
  for (const event of received)
    if (first.get(event.id) !== key(event.data.auditRecordId, event.type))
      problems.push(`${event.id} arrived once as ${first.get(event.id)}, once as ${event.type}`)
  return { problems, expected }
}

t.test(`${KILLS} kill -9s during changes: the store is always at a consistent boundary`, async (t) => {
  const rand = random(20261125)
  const dir = storeDir(t, 'cms-crash-')
  const databaseUrl = await freshDatabaseUrl(t)
  // Its encrypts are small and buffered: no cipher thread to boot (and register tsx in) on each of the restarts.
  const env = { DATA_DIR: dir, CIPHER_THREADS: '-1', ...REPLICA_WEBHOOKS }
  const certs: TestCertificate[] = []
  for (let i = 0; i < 4; i++)
    certs.push(await issueCertificate(`crash-${i}`, { notAfter: new Date(Date.now() + (400 + i * 100) * DAY) }))
  /** Every certificate the test issued, to find a receiver's key by fingerprint. */
  const issued: TestCertificate[] = [...certs]
  // Each renewal's certificate outlives the last (a renewal may not shorten the receiver's validity).
  const fresh = async () => {
    const cert = await issueCertificate('crash-renewal', {
      notAfter: new Date(Date.now() + (1000 + issued.length * 10) * DAY),
    })
    issued.push(cert)
    return cert
  }

  let service = await startReplica(t, 'crash-0', databaseUrl, env)
  // Subscribed before the first change, up across every kill: each change committed must reach it.
  const receiver = await WebhookReceiver.start(t)
  const subscription = (await subscribeOnReplica(service, receiver)).id
  t.equal(
    (await call(service, 'PUT', '/keystore/entries/a', 'tenant-admin', { certificate: certs[0]!.pem })).status,
    201,
  )
  t.equal(
    (await call(service, 'PUT', '/keystore/entries/b', 'tenant-admin', { certificate: certs[1]!.pem })).status,
    201,
  )
  t.equal(
    (await call(service, 'PUT', '/encryptors/flow', 'integration-developer', { receiverAliases: ['a'] })).status,
    201,
  )

  // Requests go one at a time: after a kill, each acknowledged change is there, and the one whose
  // request was in flight (committed, but the answer never arrived) may be there too.
  let acknowledgedB = sha256(certs[1]!.der)
  let inFlightB: string | undefined
  let acknowledgedBListed = false
  let inFlightBListed: boolean | undefined
  /** Steps done per renewal, as acknowledged by the service's answers. */
  const acknowledgedSteps = new Map<string, number>()
  const doneSteps = (renewal: { steps: Array<{ status: string }> }) =>
    renewal.steps.filter((s) => s.status === 'done').length
  let acknowledgedChanges = 0
  const idleRounds: number[] = []
  const problems: string[] = []
  for (let kill = 0; kill < KILLS; kill++) {
    // A stream of changes, cut short by SIGKILL at a random moment once this round made progress.
    let running = true
    let roundChanges = 0
    const acknowledge = () => {
      acknowledgedChanges++
      roundChanges++
    }
    const changes = (async () => {
      for (let i = 0; running; i++) {
        const choice = rand()
        try {
          if (choice < 0.4) {
            const cert = certs[Math.floor(rand() * certs.length)]!
            inFlightB = sha256(cert.der)
            const res = await call(service, 'PUT', '/keystore/entries/b', 'tenant-admin', { certificate: cert.pem })
            if (res.status < 300) {
              acknowledgedB = inFlightB
              acknowledge()
            }
            inFlightB = undefined
          } else if (choice < 0.7) {
            const listed = JSON.parse((await call(service, 'GET', '/encryptors/flow', 'monitor')).body)
              .receiverAliases as string[]
            inFlightBListed = !listed.includes('b')
            const res = listed.includes('b')
              ? await call(service, 'DELETE', '/encryptors/flow/aliases/b', 'integration-developer')
              : await call(service, 'POST', '/encryptors/flow/aliases', 'integration-developer', { alias: 'b' })
            if (res.status < 300) {
              acknowledgedBListed = inFlightBListed
              acknowledge()
            }
            inFlightBListed = undefined
          } else {
            const active = JSON.parse((await call(service, 'GET', '/renewals?state=active', 'monitor')).body)
              .renewals as Array<{ id: string; next: { step: string; role: keyof typeof TOKENS } }>
            const res = active[0]
              ? await call(
                  service,
                  'POST',
                  `/renewals/${active[0].id}/steps/${active[0].next.step}`,
                  active[0].next.role,
                )
              : await call(service, 'POST', '/renewals', 'tenant-admin', {
                  procedure: 'exchange',
                  encryptorId: 'flow',
                  currentAlias: 'a',
                  certificate: (await fresh()).pem,
                })
            if (res.status < 300) {
              const renewal = res.json() as { id: string; steps: Array<{ status: string }> }
              acknowledgedSteps.set(renewal.id, doneSteps(renewal))
              acknowledge()
            } else if (!active[0] && res.status !== 409)
              problems.push(`kill ${kill}: start ${res.status} ${res.body.slice(0, 160)}`)
          }
        } catch {
          return // the process died under us
        }
      }
    })()
    // Progress first (counted, not timed: a slow machine only takes longer), then a random moment.
    for (let waited = 0; roundChanges === 0 && waited < 30_000; waited += 10)
      await new Promise((r) => setTimeout(r, 10))
    if (roundChanges === 0) idleRounds.push(kill)
    await new Promise((r) => setTimeout(r, Math.floor(rand() * 300)))
    service.process.kill('SIGKILL')
    running = false
    await changes
    await new Promise((r) =>
      service.process.exitCode !== null || service.process.signalCode !== null
        ? r(null)
        : service.process.once('exit', r),
    )

    service = await startReplica(t, `crash-${kill + 1}`, databaseUrl, env)
    const verify = JSON.parse((await call(service, 'GET', '/audit/verify', 'monitor')).body)
    if (!verify.valid) problems.push(`kill ${kill}: audit chain broken at ${verify.firstInvalidId}`)
    for (const r of JSON.parse((await call(service, 'GET', '/renewals', 'monitor')).body).renewals as Array<{
      id: string
      state: string
      steps: Array<{ status: string; at?: string }>
    }>) {
      const done = r.steps.filter((s) => s.status === 'done')
      if (done.length < (acknowledgedSteps.get(r.id) ?? 0))
        problems.push(`kill ${kill}: renewal ${r.id} lost an acknowledged step (${done.length} done)`)
      acknowledgedSteps.set(r.id, done.length)
      if (done.some((s) => !s.at)) problems.push(`kill ${kill}: renewal ${r.id} has a step without its log`)
      if (r.state === 'completed' && done.length !== r.steps.length)
        problems.push(`kill ${kill}: renewal ${r.id} completed mid-way`)
    }
    const audit = JSON.parse((await call(service, 'GET', '/audit?limit=500', 'monitor')).body).records as Array<{
      action: string
      target: string
      after: { sha256Fingerprint?: string; receiverAliases?: string[] } | null
    }>
    const latest = (target: string) => audit.find((r) => r.target === target && r.after)
    for (const alias of ['a', 'b']) {
      const entry = JSON.parse((await call(service, 'GET', `/keystore/entries/${alias}`, 'monitor')).body)
      if (latest(`keystore/${alias}`)?.after?.sha256Fingerprint !== entry.sha256Fingerprint)
        problems.push(`kill ${kill}: keystore/${alias} differs from its last audit record`)
    }
    const encryptor = JSON.parse((await call(service, 'GET', '/encryptors/flow', 'monitor')).body)
    if (JSON.stringify(latest('encryptors/flow')?.after?.receiverAliases) !== JSON.stringify(encryptor.receiverAliases))
      problems.push(`kill ${kill}: encryptors/flow differs from its last audit record`)
    const currentB = JSON.parse((await call(service, 'GET', '/keystore/entries/b', 'monitor')).body).sha256Fingerprint
    if (currentB !== acknowledgedB && currentB !== inFlightB)
      problems.push(`kill ${kill}: the acknowledged certificate under b was lost`)
    acknowledgedB = currentB
    inFlightB = undefined
    const bListed = (encryptor.receiverAliases as string[]).includes('b')
    if (bListed !== acknowledgedBListed && bListed !== inFlightBListed)
      problems.push(
        `kill ${kill}: the acknowledged ${acknowledgedBListed ? 'addition' : 'removal'} of alias b was lost`,
      )
    acknowledgedBListed = bListed
    inFlightBListed = undefined

    // Each alias's current certificate decrypts a fresh message: the store and the cache agree.
    const payload = `after kill ${kill}`
    const res = await fetch(service.url('/encryptors/flow/encrypt'), {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS['integration-flow']}` },
      body: payload,
    })
    const body = Buffer.from(await res.arrayBuffer())
    if (res.status !== 200) problems.push(`kill ${kill}: encrypt ${res.status}`)
    else {
      for (const alias of (res.headers.get('x-cms-recipients') ?? '').split(',')) {
        const fingerprint = JSON.parse(
          (await call(service, 'GET', `/keystore/entries/${alias}`, 'monitor')).body,
        ).sha256Fingerprint
        const holder = issued.find((c) => sha256(c.der) === fingerprint)
        if (!holder) problems.push(`kill ${kill}: the certificate under ${alias} is not one the test issued`)
        else if ((await opensslDecrypt(body, holder)).toString() !== payload)
          problems.push(`kill ${kill}: ${alias} cannot decrypt`)
      }
    }
  }
  t.same(idleRounds, [], 'every round acknowledged at least one change before its kill')
  t.ok(acknowledgedChanges >= KILLS, `${acknowledgedChanges} changes acknowledged across ${KILLS} kills`)
  t.ok(acknowledgedSteps.size > 0, `${acknowledgedSteps.size} renewals started, their steps survived every kill`)
  t.same(problems, [], `${KILLS} kills: every acknowledged change survived, consistent every time`)

  // Webhooks: the last process delivers what is left (its predecessor's claims once their lease lapses).
  const draining = performance.now()
  await untilDrained(service, subscription)
  t.same(await deliveriesIn(service, subscription, 'failed'), [], 'no delivery failed')
  const audit = await auditLog(service)
  const unique = receiver.unique()
  const compared = compareWithAudit(audit, receiver.received, unique)
  t.comment(
    `webhooks: ${receiver.received.length} requests received, ${unique.length} events after deduplication, ` +
      `${receiver.duplicates()} duplicates (at least once across the kills); ${audit.length} audit records; ` +
      `drained ${(performance.now() - draining).toFixed(0)} ms after the last restart's checks`,
  )
  t.ok(compared.expected > 0, `${compared.expected} events published by the audited changes`)
  t.equal(unique.length, compared.expected, 'one event per audited change and event type, after deduplication')
  t.same(
    compared.problems,
    [],
    'every audited change was told of, no event tells of a change that did not commit, every signature verified',
  )
})
