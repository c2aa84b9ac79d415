import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import type { Role } from '../../src/auth/tokens.js'
import { buildTestApp } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { opensslDecrypt } from '../helpers/openssl.js'
import { issueCertificate, type TestCertificate } from '../helpers/pki.js'
import { mapLimit } from '../helpers/pool.js'
import { startRenewal, takeStep } from '../helpers/renewals.js'
import { encrypt, putCertificate, putEncryptor } from '../helpers/requests.js'

/**
 * For every procedure: clients keep encrypting while the steps are taken; a simulated receiver
 * changes the keys it holds only where the procedure lets it (after the step that allows it, once
 * every message in flight at that moment has arrived). Every message is decrypted by OpenSSL with
 * the keys the receiver held when the message arrived: not one may fail, and while the downtime
 * pause is on, every request gets 503 with Retry-After.
 */
const CLIENTS = 4
const MIN_MESSAGES = 200
const DAY = 86_400_000

interface Message {
  seq: number
  payload: string
  status: number
  body: Buffer
  retryAfter?: string
  held: TestCertificate[]
  sentAt: number
  arrivedAt: number
}

/** Concurrent encrypt clients, and the receiver's key set as the test moves it. */
class Traffic {
  readonly messages: Message[] = []
  private seq = 0
  private readonly inFlight = new Set<number>()
  private running = true
  private readonly loops: Promise<void>[]

  constructor(
    private readonly app: FastifyInstance,
    public held: TestCertificate[],
  ) {
    this.loops = Array.from({ length: CLIENTS }, () => this.loop())
  }

  private async loop() {
    while (this.running) {
      const seq = this.seq++
      const payload = `order ${seq} ${'x'.repeat(seq % 97)}`
      this.inFlight.add(seq)
      const sentAt = performance.now()
      const res = await encrypt(this.app, 'flow', payload)
      this.inFlight.delete(seq)
      this.messages.push({
        seq,
        payload,
        status: res.statusCode,
        body: res.rawPayload,
        retryAfter: res.headers['retry-after'] as string | undefined,
        held: [...this.held],
        sentAt,
        arrivedAt: performance.now(),
      })
      // inject answers a 503 without touching a socket; yield so the steps and timers get their turn.
      await new Promise((resolve) => setImmediate(resolve))
    }
  }

  /** Waits until `count` more messages have arrived. */
  async flow(count: number) {
    const target = this.messages.length + count
    while (this.messages.length < target) await new Promise((r) => setTimeout(r, 2))
  }

  /** Waits until every request sent before now has arrived: the receiver may only then drop a key. */
  async drain() {
    const boundary = this.seq
    while ([...this.inFlight].some((s) => s < boundary)) await new Promise((r) => setTimeout(r, 1))
  }

  async stop() {
    this.running = false
    await Promise.all(this.loops)
  }
}

type Plan = Array<{ step: string; role: Role } | { receiver: 'holds'; keys: ('old' | 'new')[] }>

const PLANS: Record<string, { plan: Plan; newAlias?: string; encryptor?: Record<string, unknown> }> = {
  exchange: {
    plan: [
      { receiver: 'holds', keys: ['old', 'new'] },
      { step: 'exchange-certificate', role: 'tenant-admin' },
      { receiver: 'holds', keys: ['new'] },
    ],
  },
  'add-alias': {
    newAlias: 'partner-next',
    plan: [
      { receiver: 'holds', keys: ['old'] },
      { step: 'add-certificate', role: 'tenant-admin' },
      { step: 'add-alias', role: 'integration-developer' },
      { receiver: 'holds', keys: ['new'] },
      { step: 'confirm-receiver-switched', role: 'tenant-admin' },
      { step: 'remove-old-alias', role: 'integration-developer' },
      { step: 'remove-old-certificate', role: 'tenant-admin' },
    ],
  },
  'prepared-alias': {
    newAlias: 'partner-next',
    encryptor: { receiverAliases: ['partner', 'partner-next'], missingAlias: 'skip' },
    plan: [
      { receiver: 'holds', keys: ['old'] },
      { step: 'add-certificate', role: 'tenant-admin' },
      { receiver: 'holds', keys: ['new'] },
      { step: 'confirm-receiver-switched', role: 'tenant-admin' },
      { step: 'remove-old-certificate', role: 'tenant-admin' },
    ],
  },
  downtime: {
    plan: [
      { receiver: 'holds', keys: ['old'] },
      { step: 'begin-downtime', role: 'tenant-admin' },
      { receiver: 'holds', keys: ['new'] },
      { step: 'exchange-certificate', role: 'tenant-admin' },
      { step: 'end-downtime', role: 'tenant-admin' },
    ],
  },
}

async function runProcedure(t: Test, procedure: string) {
  const { plan, newAlias, encryptor } = PLANS[procedure]!
  const app = await buildTestApp(t)
  const keys = {
    old: await issueCertificate('receiver-old'),
    new: await issueCertificate('receiver-new', {
      key: procedure === 'add-alias' ? 'ec-p256' : 'rsa-2048',
      notAfter: new Date(Date.now() + 730 * DAY),
    }),
  }
  await putCertificate(app, 'partner', keys.old)
  await putEncryptor(app, 'flow', encryptor ?? { receiverAliases: ['partner'] })
  const renewal = await startRenewal(app, {
    procedure,
    encryptorId: 'flow',
    currentAlias: 'partner',
    certificate: keys.new.pem,
    ...(newAlias ? { newAlias } : {}),
  })
  t.equal(renewal.statusCode, 201)
  const id = renewal.json().id

  const [initial, ...rest] = plan
  if (!initial || !('receiver' in initial)) throw new Error('a plan starts with the keys the receiver holds')
  const traffic = new Traffic(
    app,
    initial.keys.map((k) => keys[k]),
  )
  const steps = rest.filter((p) => 'step' in p).length
  const perPhase = Math.ceil(MIN_MESSAGES / (steps + 1)) + 5
  /** When each step's request went out and when its answer (after the commit) came back. */
  const stepTimes: Record<string, { sent: number; returned: number }> = {}
  for (const action of rest) {
    if ('receiver' in action) {
      await traffic.drain()
      traffic.held = action.keys.map((k) => keys[k])
    } else {
      await traffic.flow(perPhase)
      const sent = performance.now()
      const res = await takeStep(app, id, action.step, action.role)
      stepTimes[action.step] = { sent, returned: performance.now() }
      t.equal(res.statusCode, 200, `${action.step}`)
    }
  }
  await traffic.flow(perPhase)
  await traffic.stop()

  // The pause is on from begin-downtime's commit to end-downtime's: a request wholly inside must be
  // refused, one wholly outside must be served; one straddling a boundary may be either.
  const begin = stepTimes['begin-downtime'],
    end = stepTimes['end-downtime']
  const surelyPaused = (m: Message) => !!begin && !!end && m.sentAt > begin.returned && m.arrivedAt < end.sent
  const surelyServed = (m: Message) => !begin || !end || m.arrivedAt < begin.sent || m.sentAt > end.returned
  const failures: string[] = []
  let decrypted = 0,
    refused = 0
  await mapLimit(traffic.messages, 2, async (m) => {
    if (m.status === 503) {
      refused++
      if (surelyServed(m)) failures.push(`#${m.seq}: 503 outside the downtime`)
      if (!m.retryAfter) failures.push(`#${m.seq}: 503 without Retry-After`)
      return
    }
    if (m.status !== 200) return failures.push(`#${m.seq}: status ${m.status} ${m.body.toString().slice(0, 200)}`)
    if (surelyPaused(m)) return failures.push(`#${m.seq}: encrypted while paused`)
    for (const key of m.held) {
      try {
        if ((await opensslDecrypt(m.body, key)).toString() === m.payload) {
          decrypted++
          return
        }
      } catch {
        // this key cannot: try the next one the receiver holds
      }
    }
    failures.push(`#${m.seq}: the receiver holding ${m.held.map((k) => k.name).join('+')} cannot decrypt it`)
  })
  t.equal(
    decrypted + refused,
    traffic.messages.length,
    `each of the ${traffic.messages.length} messages was decrypted by the receiver or refused with 503`,
  )
  t.same(failures, [], `${procedure}: no message the receiver cannot decrypt`)
  if (procedure === 'downtime') {
    const inside = traffic.messages.filter(surelyPaused)
    // Counted, not timed: after begin-downtime returned, the test waited for 2 × perPhase more
    // messages before sending end-downtime, and at most CLIENTS of them were sent before it returned.
    t.ok(
      inside.length >= 2 * perPhase - CLIENTS,
      `${inside.length} requests wholly inside the pause (at least ${2 * perPhase - CLIENTS})`,
    )
    t.ok(
      inside.every((m) => m.status === 503 && m.retryAfter),
      'every one of them got 503 with Retry-After',
    )
  } else {
    t.equal(refused, 0)
  }
  t.comment(
    `${procedure}: ${traffic.messages.length} messages, ${decrypted} decrypted, ${refused} paused, ` +
      `${failures.length} failures`,
  )
  t.equal((await asRoleOn(app)('monitor').get(`/renewals/${id}`)).json().state, 'completed')
}

for (const procedure of Object.keys(PLANS))
  t.test(`zero loss under load: ${procedure}`, (t) => runProcedure(t, procedure))
