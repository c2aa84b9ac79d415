import type { FastifyInstance } from 'fastify'
import { createHash } from 'node:crypto'
import t from 'tap'
import { createApp } from '../../src/app.js'
import { timedEventSources } from '../../src/plugins/webhooks.js'
import { TimedEventScheduler } from '../../src/webhooks/scheduler.js'
import { freshDatabaseUrl, storeDir, testConfig, testTokens } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { issueCertificate } from '../helpers/pki.js'
import { startRenewal } from '../helpers/renewals.js'
import { putCertificate, putEncryptor } from '../helpers/requests.js'
import { assertEventsMatchContract } from '../helpers/webhook-contract.js'
import { drained, LOCAL_RECEIVER, subscribe, WebhookReceiver } from '../helpers/webhook-receiver.js'

/**
 * The timed events, with the service's clock moved instead of waited for: a certificate crossing each
 * expiry threshold fires each once, across restarts of the service on the same store; one stored inside
 * a threshold fires at once; an expired one still in use fires certificate.expired-in-use once; a renewal
 * that waits too long on a step fires renewal.waiting once per step.
 */
const DAY = 86_400_000
const HOUR = 3_600_000
/** A scheduler round only when the test asks for one (the first, at start, aside). */
const SETTINGS = { ...LOCAL_RECEIVER, WEBHOOK_SCHEDULER_INTERVAL_MS: '3600000' }

interface Store {
  dataDir: string
  databaseUrl: string
}

/** The service on `store`, its clock `skip` ms ahead of the real one. */
async function open(store: Store, skip: () => number): Promise<FastifyInstance> {
  const config = testConfig({ DATA_DIR: store.dataDir, DATABASE_URL: store.databaseUrl, ...SETTINGS })
  const app = await createApp(config, {
    tokens: testTokens(),
    logger: false,
    clock: () => new Date(Date.now() + skip()),
  })
  await app.ready()
  return app
}

/** An encryptor `flow` for alias `partner`, and an add-alias renewal of it, waiting on its first step. */
async function startAddAliasRenewal(app: FastifyInstance, name: string): Promise<string> {
  const old = await issueCertificate(`${name}-old`, { notAfter: new Date(Date.now() + 90 * DAY) })
  await putCertificate(app, 'partner', old)
  await putEncryptor(app, 'flow', { receiverAliases: ['partner'] })
  const renewal = await startRenewal(app, {
    procedure: 'add-alias',
    encryptorId: 'flow',
    currentAlias: 'partner',
    newAlias: 'partner-2',
    certificate: (await issueCertificate(`${name}-new`, { notAfter: new Date(Date.now() + 400 * DAY) })).pem,
  })
  return (renewal.json() as { id: string }).id
}

t.test('each expiry threshold fires once per certificate, across restarts; then expired-in-use once', async (t) => {
  const store = { dataDir: storeDir(t), databaseUrl: await freshDatabaseUrl(t) }
  const receiver = await WebhookReceiver.start(t)
  let skip = 0
  let app = await open(store, () => skip)
  t.teardown(() => app.close())
  const notAfter = new Date(Math.floor((Date.now() + 40 * DAY) / 1000) * 1000)
  const expiring = await issueCertificate('expiring', { notAfter })
  const { id: subscription } = await subscribe(app, receiver, ['certificate.expiring', 'certificate.expired-in-use'])
  t.equal((await putCertificate(app, 'soon', expiring)).statusCode, 201)
  await putEncryptor(app, 'flow', { receiverAliases: ['soon'] })

  const fired = () =>
    receiver
      .unique()
      .filter((e) => e.data.alias === 'soon')
      .map((e) => (e.type === 'certificate.expiring' ? `expiring ${e.data.thresholdDays}` : e.type))
  /** Moves the clock to `daysLeft` before notAfter, runs a round (and, with `restart`, restarts first). */
  const at = async (daysLeft: number, restart = false) => {
    skip = 40 * DAY - daysLeft * DAY
    if (restart) {
      await app.close()
      app = await open(store, () => skip)
    }
    await app.webhookScheduler.round()
    await drained(app, subscription)
  }

  await at(31)
  t.strictSame(fired(), [], '31 days left: outside every threshold')
  await at(29.5)
  t.strictSame(fired(), ['expiring 30'], '30 fires')
  await at(29)
  await at(28, true)
  t.strictSame(fired(), ['expiring 30'], 'not again: another round, a restart, a round')
  await at(13.9)
  t.strictSame(fired(), ['expiring 30', 'expiring 14'])
  await at(6.5, true)
  t.strictSame(fired(), ['expiring 30', 'expiring 14', 'expiring 7'], 'the next threshold after a restart')
  await at(0.5)
  await at(0.25, true)
  t.strictSame(fired(), ['expiring 30', 'expiring 14', 'expiring 7', 'expiring 1'])
  await at(-1)
  await at(-2, true)
  t.strictSame(
    fired(),
    ['expiring 30', 'expiring 14', 'expiring 7', 'expiring 1', 'certificate.expired-in-use'],
    'expired while flow still lists it: told once',
  )
  t.equal(receiver.duplicates(), 0, 'no event arrived twice')
  await assertEventsMatchContract(t, receiver.received)
  const last = receiver.unique().find((e) => e.type === 'certificate.expired-in-use')!.data
  t.strictSame(last.usedBy, ['flow'])
  t.equal(last.sha256Fingerprint, createHash('sha256').update(expiring.der).digest('hex'))
  const one = receiver.unique().find((e) => e.data.thresholdDays === 1)!.data
  t.equal(one.daysLeft, 0, 'days left, counted down')
  t.equal(one.notAfter, notAfter.toISOString())
  // Signatures are not checked here: they carry the service's clock, weeks ahead, which receivers
  // rightly refuse as a replay guard. delivery.test.ts and renewal-events.test.ts check them.
})

t.test('a certificate stored inside a threshold fires it at once, the innermost only', async (t) => {
  const store = { dataDir: storeDir(t), databaseUrl: await freshDatabaseUrl(t) }
  const receiver = await WebhookReceiver.start(t)
  const app = await open(store, () => 0)
  t.teardown(() => app.close())
  const { id: subscription } = await subscribe(app, receiver, ['certificate.expiring', 'keystore.changed'])
  const cert = await issueCertificate('short', { notAfter: new Date(Date.now() + 5 * DAY) })
  t.equal((await putCertificate(app, 'short', cert)).statusCode, 201)
  // No scheduler round: the keystore write itself fired it.
  await drained(app, subscription)
  t.strictSame(
    receiver.unique().map((e) => [e.type, e.data.thresholdDays ?? e.data.change]),
    [
      ['keystore.changed', 'created'],
      ['certificate.expiring', 7],
    ],
    'keystore.changed, then the 7-day threshold (not 30 and 14 as well)',
  )
  await app.webhookScheduler.round()
  await drained(app, subscription)
  t.equal(receiver.unique().length, 2, 'the next round fires nothing more')
  await assertEventsMatchContract(t, receiver.received)
})

t.test('a renewal waiting on a step too long: renewal.waiting once per step', async (t) => {
  const store = { dataDir: storeDir(t), databaseUrl: await freshDatabaseUrl(t) }
  const receiver = await WebhookReceiver.start(t)
  let skip = 0
  let app = await open(store, () => skip)
  t.teardown(() => app.close())
  const { id: subscription } = await subscribe(app, receiver, ['renewal.waiting'])
  const id = await startAddAliasRenewal(app, 'wait')
  const round = async (hours: number, restart = false) => {
    skip = hours * HOUR
    if (restart) {
      await app.close()
      app = await open(store, () => skip)
    }
    await app.webhookScheduler.round()
    await drained(app, subscription)
  }
  await round(47)
  t.equal(receiver.received.length, 0, '47 hours: not yet (the default is 48)')
  await round(49)
  await round(50, true)
  t.equal(receiver.unique().length, 1, 'once, across a restart')
  t.strictSame(receiver.unique()[0]!.data, {
    renewalId: id,
    procedure: 'add-alias',
    encryptorId: 'flow',
    waitingFor: { step: 'add-certificate', role: 'tenant-admin' },
    waitingSince: receiver.unique()[0]!.data.waitingSince,
    hoursWaiting: 49,
  })
  // The step is taken: the next one waits anew (by the real clock, then 49 hours on).
  skip = 0
  const stepped = await asRoleOn(app)('tenant-admin').post(`/renewals/${id}/steps/add-certificate`)
  t.equal(stepped.statusCode, 200)
  await round(49)
  t.strictSame(
    receiver.unique().map((e) => (e.data.waitingFor as { step: string }).step),
    ['add-certificate', 'add-alias'],
    'then the next step, whose turn is the developer’s',
  )
  t.equal((receiver.unique()[1]!.data.waitingFor as { role: string }).role, 'integration-developer')
  t.equal(receiver.duplicates(), 0)
  await assertEventsMatchContract(t, receiver.received)
})

t.test(
  'what the scheduler read is read again under the write lock: no waiting event for a step just taken',
  async (t) => {
    const store = { dataDir: storeDir(t), databaseUrl: await freshDatabaseUrl(t) }
    const receiver = await WebhookReceiver.start(t)
    const app = await open(store, () => 0)
    t.teardown(() => app.close())
    const { id: subscription } = await subscribe(app, receiver, ['renewal.waiting', 'renewal.step-completed'])
    const id = await startAddAliasRenewal(app, 'race')
    // The step is taken right after the scheduler's first read, which therefore still sees it waiting.
    let reads = 0
    const sources = {
      certificates: timedEventSources.certificates,
      async waitingRenewals(db: Parameters<typeof timedEventSources.waitingRenewals>[0]) {
        const seen = await timedEventSources.waitingRenewals(db)
        if (reads++ === 0) await asRoleOn(app)('tenant-admin').post(`/renewals/${id}/steps/add-certificate`)
        return seen
      },
    }
    const scheduler = new TimedEventScheduler(app.db, sources, {
      replicaId: 'race-test',
      intervalMs: 3_600_000,
      retentionMs: DAY,
      now: () => new Date(Date.now() + 49 * HOUR),
    })
    await app.webhookScheduler.stop() // the app's own scheduler lets go of the lease
    t.equal(await scheduler.round(), 0, 'nothing fired')
    t.equal(reads, 2, 'read again inside the transaction')
    await drained(app, subscription)
    t.strictSame(
      receiver.unique().map((e) => e.type),
      ['renewal.step-completed'],
      'the step, and no renewal.waiting for it',
    )
  },
)
