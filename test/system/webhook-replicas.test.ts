import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { hostname } from 'node:os'
import pg from 'pg'
import { Webhook } from 'standardwebhooks'
import t, { type Test } from 'tap'
import { freshDatabaseUrl, TEST_BACKEND } from '../helpers/app.js'
import { issueCertificate, type TestCertificate } from '../helpers/pki.js'
import { callReplica, startReplica, type Replica } from '../helpers/replica.js'
import { REPLICA_WEBHOOKS, subscribeOnReplica, untilDrained } from '../helpers/replica-webhooks.js'
import { WebhookReceiver } from '../helpers/webhook-receiver.js'

/**
 * Webhooks from two service processes on one PostgreSQL database (replicas: PostgreSQL only). Each
 * delivery is claimed by one replica (FOR UPDATE SKIP LOCKED, then a lease): with changes made through
 * both, every event arrives, signed, and none twice. A replica killed while it holds deliveries (its
 * requests open at a receiver that does not answer) leaves them claimed until its lease lapses; the other
 * replica then takes them over and delivers each. Nothing here asserts how long anything took.
 */
const CHANGES = 40
const HELD = 3

const call = callReplica
/** How a replica names itself in claims and attempts (src/plugins/webhooks.ts): host, pid, random suffix. */
const replicaPrefix = (replica: Replica) => `${hostname()}:${replica.pid}:`

/** Waits for `promise`; fails after `ms` (a bound against hanging, not a timing assertion). */
async function bounded<T>(promise: Promise<T>, what: string, ms = 60_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting for ${what}`)), ms)
  })
  try {
    return await Promise.race([promise, deadline])
  } finally {
    clearTimeout(timer)
  }
}

/** A connection of the test's own, to read what the API does not show (who claimed, who attempted). */
async function database(t: Test, url: string) {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(() => client.end())
  return client
}

function verified(secrets: string[], body: string, headers: IncomingHttpHeaders): boolean {
  const plain = {
    'webhook-id': String(headers['webhook-id']),
    'webhook-timestamp': String(headers['webhook-timestamp']),
    'webhook-signature': String(headers['webhook-signature']),
  }
  return secrets.some((secret) => {
    try {
      new Webhook(secret).verify(body, plain)
      return true
    } catch {
      return false
    }
  })
}

/**
 * A receiver on 127.0.0.1 that holds every request open without answering until `release()`; from then
 * on it answers 204 and keeps what it got (signature checked with standardwebhooks, as WebhookReceiver does).
 */
async function holdingReceiver(t: Test) {
  const state = {
    secrets: [] as string[],
    url: '',
    /** webhook-ids of every request that arrived while held. */
    held: [] as string[],
    /** Requests answered 204 after the release: webhook-id, signature verified. */
    answered: [] as Array<{ id: string; verified: boolean }>,
    released: false,
    onHeld: undefined as ((id: string) => void) | undefined,
    release() {
      this.released = true
    },
  }
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (c: Buffer) => chunks.push(c))
    request.on('end', () => {
      const id = String(request.headers['webhook-id'])
      if (!state.released) {
        state.held.push(id)
        state.onHeld?.(id)
        return // never answered: the sender's deadline, or its death, ends it
      }
      state.answered.push({ id, verified: verified(state.secrets, Buffer.concat(chunks).toString(), request.headers) })
      response.writeHead(204).end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    server.closeAllConnections()
    return new Promise<void>((r) => server.close(() => r()))
  })
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
  return state
}

t.test(
  'two replicas, one subscription: every change made through either is delivered once, signed',
  { skip: TEST_BACKEND !== 'postgres' && 'replicas share a PostgreSQL database' },
  async (t) => {
    const databaseUrl = await freshDatabaseUrl(t)
    // A generous deadline: a healthy receiver answers at once, and no attempt should time out (and be sent
    // again) because a loaded machine was slow to answer; that would be a duplicate for the wrong reason.
    const env = { ...REPLICA_WEBHOOKS, WEBHOOK_TIMEOUT_MS: '5000' }
    const [a, b] = await Promise.all([startReplica(t, 'a', databaseUrl, env), startReplica(t, 'b', databaseUrl, env)])
    const receiver = await WebhookReceiver.start(t)
    const { id: subscription } = await subscribeOnReplica(a, receiver)
    // EC keys: made in a millisecond each, so the receiver (this process) is never kept from answering.
    const certs: TestCertificate[] = []
    for (let i = 0; i < CHANGES; i++) certs.push(await issueCertificate(`wr-${i}`, { key: 'ec-p256' }))

    // Two at a time, one through each replica: both replicas' workers are woken and compete for the claims.
    const statuses: number[] = []
    for (let i = 0; i < CHANGES; i += 2) {
      const pair = await Promise.all(
        [a, b].map((replica, j) =>
          call(replica, 'PUT', `/keystore/entries/k${i + j}`, 'tenant-admin', { certificate: certs[i + j]!.pem }),
        ),
      )
      statuses.push(...pair.map((r) => r.status))
    }
    t.same(
      statuses.filter((s) => s !== 201),
      [],
      `${CHANGES} keystore entries created, half through each replica`,
    )
    await untilDrained(b, subscription)

    const events = receiver.unique().filter((e) => e.type === 'keystore.changed')
    t.equal(events.length, CHANGES, 'every change has its event')
    t.same(
      events.map((e) => e.data.alias).sort(),
      certs.map((_, i) => `k${i}`).sort(),
      'one event for each alias created',
    )
    t.equal(receiver.duplicates(), 0, 'no event arrived twice')
    t.equal(receiver.received.length, CHANGES, 'nothing else arrived')
    t.ok(
      receiver.received.every((e) => e.verified),
      'every signature verifies (standardwebhooks)',
    )

    const db = await database(t, databaseUrl)
    const attempts = (
      await db.query<{ delivery_id: string; by: string; status: number | null }>(
        'select delivery_id, "by", status from webhook_attempts',
      )
    ).rows
    const perDelivery = new Map<string, number>()
    for (const attempt of attempts)
      perDelivery.set(attempt.delivery_id, (perDelivery.get(attempt.delivery_id) ?? 0) + 1)
    t.equal(perDelivery.size, CHANGES, 'one delivery per event')
    t.same(
      [...perDelivery.values()].filter((n) => n !== 1),
      [],
      'each delivered in one attempt, by one replica',
    )
    t.same(
      attempts.filter((x) => x.status !== 204),
      [],
      'every attempt answered 204',
    )
    const byA = attempts.filter((x) => x.by.startsWith(replicaPrefix(a))).length
    const byB = attempts.filter((x) => x.by.startsWith(replicaPrefix(b))).length
    t.equal(byA + byB, attempts.length, 'every attempt made by one of the two replicas')
    t.comment(`delivered by A: ${byA}, by B: ${byB}`)
  },
)

t.test(
  'a replica killed while it holds deliveries: the other takes them over once its lease lapses, and delivers each',
  { skip: TEST_BACKEND !== 'postgres' && 'replicas share a PostgreSQL database' },
  async (t) => {
    const databaseUrl = await freshDatabaseUrl(t)
    // A alone while the events are made and held: every claim is A's.
    const a = await startReplica(t, 'a', databaseUrl, REPLICA_WEBHOOKS)
    const receiver = await holdingReceiver(t)
    const { id: subscription } = await subscribeOnReplica(a, receiver)
    const certs: TestCertificate[] = []
    for (let i = 0; i < HELD; i++) certs.push(await issueCertificate(`held-${i}`, { key: 'ec-p256' }))

    for (let i = 0; i < HELD; i++) {
      const res = await call(a, 'PUT', `/keystore/entries/h${i}`, 'tenant-admin', { certificate: certs[i]!.pem })
      t.equal(res.status, 201, `h${i} created`)
    }
    // Once each event has reached the receiver (and is held there), A is killed the moment a request
    // arrives: that delivery is claimed by A, its request open, its deadline (1 s) far from over. A keeps
    // trying (each attempt ends at its deadline, the next follows within 200 ms), so such a moment comes.
    const heldEvent = await bounded(
      new Promise<string>((resolve) => {
        receiver.onHeld = (id) => {
          if (new Set(receiver.held).size < HELD) return
          a.process.kill('SIGKILL')
          receiver.onHeld = undefined
          resolve(id)
        }
      }),
      'A to hold every event',
    )
    await new Promise((r) =>
      a.process.exitCode !== null || a.process.signalCode !== null ? r(null) : a.process.once('exit', r),
    )

    const db = await database(t, databaseUrl)
    const atKill = (
      await db.query<{ id: string; event_id: string; state: string; claimed_by: string | null; claimed_until: string }>(
        'select id, event_id, state, claimed_by, claimed_until from webhook_deliveries where subscription_id = $1',
        [subscription],
      )
    ).rows
    t.equal(atKill.length, HELD, `${HELD} deliveries written`)
    t.same(
      atKill.filter((d) => d.state !== 'pending'),
      [],
      'none delivered while the receiver held them',
    )
    const claim = atKill.find((d) => d.event_id === heldEvent)
    t.ok(claim?.claimed_by?.startsWith(replicaPrefix(a)), 'the delivery whose request was open is claimed by A')
    t.comment(`A held ${heldEvent}: its lease runs until ${claim?.claimed_until}`)

    // The receiver answers again; B starts on the same database and has only A's leftovers to deliver.
    receiver.release()
    // B's own deadline is generous: an attempt of B's cut short by a slow machine would be sent twice.
    const b = await startReplica(t, 'b', databaseUrl, { ...REPLICA_WEBHOOKS, WEBHOOK_TIMEOUT_MS: '5000' })
    await untilDrained(b, subscription, 60_000)

    const eventIds = atKill.map((d) => d.event_id).sort()
    t.same([...new Set(receiver.answered.map((r) => r.id))].sort(), eventIds, 'each event arrived after the take-over')
    t.equal(receiver.answered.length, HELD, 'each once')
    t.ok(
      receiver.answered.every((r) => r.verified),
      'signed as before (standardwebhooks verifies)',
    )

    const attempts = (
      await db.query<{ delivery_id: string; number: number; at: string; status: number | null; by: string }>(
        'select delivery_id, number, at, status, "by" from webhook_attempts order by delivery_id, number',
      )
    ).rows
    for (const d of atKill) {
      const api = await call(b, 'GET', `/webhooks/${subscription}/deliveries/${d.id}`, 'tenant-admin')
      const view = api.json() as { state: string; attempts: Array<{ number: number; status: number | null }> }
      t.equal(view.state, 'delivered', `${d.event_id}: delivered`)
      t.equal(view.attempts.at(-1)?.status, 204, `${d.event_id}: its last attempt in the log is the 204`)
      const mine = attempts.filter((x) => x.delivery_id === d.id)
      const delivering = mine.filter((x) => x.status === 204)
      t.equal(delivering.length, 1, `${d.event_id}: one successful attempt`)
      t.ok(delivering[0]?.by.startsWith(replicaPrefix(b)), `${d.event_id}: made by B`)
      t.same(
        mine.filter((x) => !x.by.startsWith(replicaPrefix(b)) && x.status !== null),
        [],
        `${d.event_id}: A's recorded attempts all ended without an answer`,
      )
    }
    // B took A's open claim only once the lease had lapsed (the service's own timestamps, compared).
    const taken = attempts.find((x) => x.delivery_id === claim?.id && x.by.startsWith(replicaPrefix(b)))
    t.ok(
      taken && claim && taken.at >= claim.claimed_until,
      `B's first attempt of the held delivery (${taken?.at}) is not before A's lease ended (${claim?.claimed_until})`,
    )
    t.same(
      b.problems.filter((l) => /"level":(50|60)/.test(l)),
      [],
      'B logged no error',
    )
  },
)
