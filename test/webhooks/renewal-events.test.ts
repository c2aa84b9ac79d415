import t from 'tap'
import type { Role } from '../../src/auth/tokens.js'
import { buildTestApp, TOKENS } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { issueCertificate } from '../helpers/pki.js'
import { startRenewal, takeStep } from '../helpers/renewals.js'
import { putCertificate, putEncryptor } from '../helpers/requests.js'
import { signerPki, type TestSigner } from '../helpers/signer-pki.js'
import { assertEventsMatchContract } from '../helpers/webhook-contract.js'
import { LOCAL_RECEIVER, subscribe, WebhookReceiver, type ReceivedEvent } from '../helpers/webhook-receiver.js'

/**
 * Every renewal procedure, start to end (and an abort), against a subscriber on 127.0.0.1: the events of
 * each renewal arrive in exactly the expected order, each signature verifies with the standardwebhooks
 * package, each step names the next step and the role that must take it, and no token is in any body.
 */
const DAY = 86_400_000
/** What a renewal's events say, one line each: the type, and what changed or which step. */
const describe = (e: ReceivedEvent) => {
  const d = e.data as { change?: string; step?: { step: string } }
  if (e.type === 'renewal.step-completed') return `${e.type} ${d.step!.step}`
  if (d.change) return `${e.type} ${d.change}`
  return e.type
}

const procedures: Array<{ procedure: string; newAlias?: string; steps: Array<[string, string]>; expected: string[] }> =
  [
    {
      procedure: 'exchange',
      steps: [['exchange-certificate', 'tenant-admin']],
      expected: [
        'renewal.started',
        'keystore.changed replaced',
        'renewal.step-completed exchange-certificate',
        'renewal.completed',
      ],
    },
    {
      procedure: 'add-alias',
      newAlias: 'recv-2',
      steps: [
        ['add-certificate', 'tenant-admin'],
        ['add-alias', 'integration-developer'],
        ['confirm-receiver-switched', 'tenant-admin'],
        ['remove-old-alias', 'integration-developer'],
        ['remove-old-certificate', 'tenant-admin'],
      ],
      expected: [
        'renewal.started',
        'keystore.changed created',
        'renewal.step-completed add-certificate',
        'encryptor.changed changed',
        'renewal.step-completed add-alias',
        'renewal.step-completed confirm-receiver-switched',
        'encryptor.changed changed',
        'renewal.step-completed remove-old-alias',
        'keystore.changed deleted',
        'renewal.step-completed remove-old-certificate',
        'renewal.completed',
      ],
    },
    {
      procedure: 'prepared-alias',
      newAlias: 'recv-2',
      steps: [
        ['add-certificate', 'tenant-admin'],
        ['confirm-receiver-switched', 'tenant-admin'],
        ['remove-old-certificate', 'tenant-admin'],
      ],
      expected: [
        'renewal.started',
        'keystore.changed created',
        'renewal.step-completed add-certificate',
        'renewal.step-completed confirm-receiver-switched',
        'keystore.changed deleted',
        'renewal.step-completed remove-old-certificate',
        'renewal.completed',
      ],
    },
    {
      procedure: 'downtime',
      steps: [
        ['begin-downtime', 'tenant-admin'],
        ['exchange-certificate', 'tenant-admin'],
        ['end-downtime', 'tenant-admin'],
      ],
      expected: [
        'renewal.started',
        'encryptor.paused',
        'renewal.step-completed begin-downtime',
        'keystore.changed replaced',
        'renewal.step-completed exchange-certificate',
        'encryptor.resumed',
        'renewal.step-completed end-downtime',
        'renewal.completed',
      ],
    },
  ]

for (const { procedure, newAlias, steps, expected } of procedures) {
  t.test(`${procedure}: the renewal's events, in order, signed`, async (t) => {
    const app = await buildTestApp(t, LOCAL_RECEIVER)
    const receiver = await WebhookReceiver.start(t)
    const old = await issueCertificate(`${procedure}-old`, { notAfter: new Date(Date.now() + 200 * DAY) })
    const renewed = await issueCertificate(`${procedure}-new`, { notAfter: new Date(Date.now() + 400 * DAY) })
    t.equal((await putCertificate(app, 'recv-1', old)).statusCode, 201)
    const aliases = procedure === 'prepared-alias' ? ['recv-1', 'recv-2'] : ['recv-1']
    const missingAlias = procedure === 'prepared-alias' ? 'skip' : 'fail'
    t.equal((await putEncryptor(app, 'flow', { receiverAliases: aliases, missingAlias })).statusCode, 201)
    await subscribe(app, receiver)

    const started = await startRenewal(app, {
      procedure,
      encryptorId: 'flow',
      currentAlias: 'recv-1',
      ...(newAlias ? { newAlias } : {}),
      certificate: renewed.pem,
    })
    t.equal(started.statusCode, 201, 'started')
    const id = (started.json() as { id: string }).id
    for (const [step, role] of steps) {
      const res = await takeStep(app, id, step, role as 'tenant-admin', `took ${step}`)
      t.equal(res.statusCode, 200, `${step} taken`)
    }
    const ofRenewal = () => receiver.received.filter((e) => e.data.renewalId === id)
    await receiver.until(() => ofRenewal().length >= expected.length, `${expected.length} events`)
    t.strictSame(ofRenewal().map(describe), expected, 'exactly these events, in this order')
    await assertEventsMatchContract(t, receiver.received)
    t.equal(receiver.duplicates(), 0, 'each event once')
    t.ok(
      receiver.received.every((e) => e.verified),
      'every signature verifies with the standardwebhooks package',
    )

    const stepEvents = ofRenewal().filter((e) => e.type === 'renewal.step-completed')
    steps.forEach(([step, role], i) => {
      const data = stepEvents[i]!.data as { step: unknown; nextStep: unknown; done: number; total: number }
      t.strictSame(data.step, { step, role, by: `test-${role}`, comment: `took ${step}` }, `${step}: who took it`)
      const next = steps[i + 1]
      t.strictSame(data.nextStep, next ? { step: next[0], role: next[1] } : null, `${step}: whose turn is next`)
      t.same([data.done, data.total], [i + 1, steps.length])
    })
    const first = ofRenewal()[0]!.data as { nextStep: unknown; steps: unknown[] }
    t.strictSame(first.nextStep, { step: steps[0]![0], role: steps[0]![1] }, 'started: names the first step')
    t.equal(first.steps.length, steps.length, 'started: lists the procedure')

    // Each change's event names its audit record: the same record the audit log holds for it.
    const audit = (await asRoleOn(app)('monitor').get(`/audit?renewalId=${id}&limit=100`)).json() as {
      records: Array<{ id: number; action: string }>
    }
    const named = new Set(ofRenewal().map((e) => e.data.auditRecordId))
    t.same(
      audit.records.filter((r) => !named.has(r.id)).map((r) => r.action),
      [],
      'every audit record of the renewal has its event',
    )
    const everything = JSON.stringify(receiver.received.map((e) => e.data))
    for (const token of Object.values(TOKENS)) t.notOk(everything.includes(token), 'no token in any event')
    t.notOk(everything.includes('PRIVATE KEY'), 'no private key in any event')
  })
}

t.test('an abort: the undone changes and renewal.aborted, in order', async (t) => {
  const app = await buildTestApp(t, LOCAL_RECEIVER)
  const receiver = await WebhookReceiver.start(t)
  const old = await issueCertificate('abort-old', { notAfter: new Date(Date.now() + 200 * DAY) })
  const renewed = await issueCertificate('abort-new', { notAfter: new Date(Date.now() + 400 * DAY) })
  await putCertificate(app, 'recv-1', old)
  await putEncryptor(app, 'flow', { receiverAliases: ['recv-1'] })
  await subscribe(app, receiver, ['renewal.started', 'renewal.step-completed', 'renewal.aborted', 'keystore.changed'])
  const started = await startRenewal(app, {
    procedure: 'add-alias',
    encryptorId: 'flow',
    currentAlias: 'recv-1',
    newAlias: 'recv-2',
    certificate: renewed.pem,
  })
  const id = (started.json() as { id: string }).id
  await takeStep(app, id, 'add-certificate', 'tenant-admin')
  await takeStep(app, id, 'add-alias', 'integration-developer')
  const aborted = await asRoleOn(app)('tenant-admin').post(`/renewals/${id}/abort`, { comment: 'receiver not ready' })
  t.equal(aborted.statusCode, 200, 'aborted')
  const expected = [
    'renewal.started',
    'keystore.changed created',
    'renewal.step-completed add-certificate',
    // encryptor.changed is not subscribed to: the add-alias step sends only its step event here.
    'renewal.step-completed add-alias',
    'keystore.changed deleted',
    'renewal.aborted',
  ]
  const ofRenewal = () => receiver.received.filter((e) => e.data.renewalId === id)
  await receiver.until(() => ofRenewal().length >= expected.length, 'the abort')
  t.strictSame(ofRenewal().map(describe), expected)
  await assertEventsMatchContract(t, receiver.received)
  const last = ofRenewal().at(-1)!.data as { undone: string[]; comment: string }
  t.strictSame(last.undone, ['remove-alias', 'delete-certificate'], 'what the abort undid')
  t.equal(last.comment, 'receiver not ready')
  t.ok(
    receiver.received.every((e) => e.verified),
    'signatures verify',
  )
})

t.test("signer-key: the renewal's events, in order; the key pairs' changes named, the keys never sent", async (t) => {
  const app = await buildTestApp(t, LOCAL_RECEIVER)
  const receiver = await WebhookReceiver.start(t)
  const pki = await signerPki()
  const [old, next] = [
    await pki.issue('events-sig-old', { days: 200 }),
    await pki.issue('events-sig-new', { days: 400 }),
  ]
  const keyPairOf = (s: TestSigner) => ({ privateKey: s.keyPem, certificateChain: s.certPem + s.chainPem })
  const admin = asRoleOn(app)('tenant-admin')
  const receiverCertificate = await issueCertificate('signer-events-recv', {
    notAfter: new Date(Date.now() + 400 * DAY),
  })
  t.equal((await putCertificate(app, 'recv-1', receiverCertificate)).statusCode, 201)
  t.equal((await admin.put('/keystore/key-pairs/sig-1', keyPairOf(old!))).statusCode, 201)
  const saved = await putEncryptor(app, 'flow', { receiverAliases: ['recv-1'], signer: { alias: 'sig-1' } })
  t.equal(saved.statusCode, 201)
  await subscribe(app, receiver)

  const started = await startRenewal(app, {
    procedure: 'signer-key',
    encryptorId: 'flow',
    currentAlias: 'sig-1',
    newAlias: 'sig-2',
    certificate: next!.certPem,
  })
  t.equal(started.statusCode, 201, started.statusCode === 201 ? 'status 201' : started.body)
  const id = (started.json() as { id: string }).id
  const steps: Array<[string, Role, Record<string, unknown>?]> = [
    ['add-key-pair', 'tenant-admin', { keyPair: keyPairOf(next!) }],
    ['hand-over-certificate', 'tenant-admin'],
    ['confirm-receivers-trust', 'tenant-admin'],
    ['switch-signer', 'integration-developer'],
    ['remove-old-key-pair', 'tenant-admin'],
  ]
  for (const [step, role, body] of steps) {
    const res = await asRoleOn(app)(role).post(`/renewals/${id}/steps/${step}`, { comment: `took ${step}`, ...body })
    t.equal(res.statusCode, 200, `${step} taken${res.statusCode === 200 ? '' : `: ${res.body}`}`)
  }
  const expected = [
    'renewal.started',
    'key-pair.changed created',
    'renewal.step-completed add-key-pair',
    'renewal.step-completed hand-over-certificate',
    'renewal.step-completed confirm-receivers-trust',
    'encryptor.changed changed',
    'renewal.step-completed switch-signer',
    'key-pair.changed deleted',
    'renewal.step-completed remove-old-key-pair',
    'renewal.completed',
  ]
  const ofRenewal = () => receiver.received.filter((e) => e.data.renewalId === id)
  await receiver.until(() => ofRenewal().length >= expected.length, `${expected.length} events`)
  t.strictSame(ofRenewal().map(describe), expected, 'exactly these events, in this order')
  const [created, deleted] = ofRenewal().filter((e) => e.type === 'key-pair.changed')
  t.match(
    created!.data,
    { alias: 'sig-2', usedBy: [] },
    'the new key pair, before the switch: no encryptor signs with it',
  )
  t.match(deleted!.data, { alias: 'sig-1', certificate: null, usedBy: [] }, 'the old one, after the switch')
  await assertEventsMatchContract(t, receiver.received)
  const everything = JSON.stringify(receiver.received.map((e) => e.data))
  t.notOk(everything.includes('PRIVATE KEY'), 'no private key in any event')
  const keyLine = next!.keyPem.split('\n')[1]!
  t.ok(keyLine.length >= 40 && !everything.includes(keyLine), "not even a line of the new key's base64")
})
