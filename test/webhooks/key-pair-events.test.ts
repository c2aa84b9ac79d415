import type { FastifyInstance } from 'fastify'
import { X509Certificate } from 'node:crypto'
import t, { type Test } from 'tap'
import { createApp } from '../../src/app.js'
import { freshDatabaseUrl, storeDir, testConfig, testTokens } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { issueCertificate } from '../helpers/pki.js'
import { putCertificate, putEncryptor } from '../helpers/requests.js'
import { signerPki, type TestSigner } from '../helpers/signer-pki.js'
import { assertEventsMatchContract } from '../helpers/webhook-contract.js'
import { drained, LOCAL_RECEIVER, subscribe, WebhookReceiver, type ReceivedEvent } from '../helpers/webhook-receiver.js'

/**
 * The tenant's key pairs in webhooks: key-pair.changed when one is added, replaced or removed (the signer
 * certificate named, the key never sent), key-pair.expiring at each expiry threshold of its certificate and
 * key-pair.expired-in-use once, with the service's clock moved instead of waited for. Receiver-certificate
 * events (keystore.changed, certificate.*) stay about receivers.
 */
const DAY = 86_400_000
/** A scheduler round only when the test asks for one (the first, at start, aside). */
const SETTINGS = { ...LOCAL_RECEIVER, WEBHOOK_SCHEDULER_INTERVAL_MS: '3600000' }

async function open(t: Test, skip: () => number): Promise<FastifyInstance> {
  const store = { DATA_DIR: storeDir(t), DATABASE_URL: await freshDatabaseUrl(t) }
  const app = await createApp(testConfig({ ...store, ...SETTINGS }), {
    tokens: testTokens(),
    logger: false,
    clock: () => new Date(Date.now() + skip()),
  })
  await app.ready()
  t.teardown(() => app.close())
  return app
}

const keyPairOf = (s: TestSigner) => ({ privateKey: s.keyPem, certificateChain: s.certPem + s.chainPem })
const fingerprintOf = (s: TestSigner) => new X509Certificate(s.certPem).fingerprint256.replaceAll(':', '').toLowerCase()

/** No event carries the key: neither its PEM nor any line of its base64 body. */
function assertNoKeyMaterial(t: Test, events: readonly ReceivedEvent[], signers: TestSigner[]) {
  const bodies = events.map((e) => JSON.stringify(e))
  const lines = signers.flatMap((s) => s.keyPem.split('\n').filter((l) => l.length >= 40 && !l.startsWith('-----')))
  t.ok(lines.length > 0, 'the keys have base64 lines to look for')
  t.notOk(
    bodies.some((b) => b.includes('PRIVATE KEY') || lines.some((l) => b.includes(l))),
    'no event carries key material',
  )
}

t.test('key-pair.changed: created, replaced, deleted; the signer certificate named, never the key', async (t) => {
  const app = await open(t, () => 0)
  const receiver = await WebhookReceiver.start(t)
  const pki = await signerPki()
  const [first, second] = [await pki.issue('sig-a', { days: 400 }), await pki.issue('sig-b', { days: 500 })]
  const { id: subscription } = await subscribe(app, receiver, ['key-pair.changed', 'keystore.changed'])
  const admin = asRoleOn(app)('tenant-admin')

  await putCertificate(
    app,
    'partner',
    await issueCertificate('kp-partner', { notAfter: new Date(Date.now() + 400 * DAY) }),
  )
  t.equal((await admin.put('/keystore/key-pairs/sig', keyPairOf(first!))).statusCode, 201)
  t.equal((await putEncryptor(app, 'flow', { receiverAliases: ['partner'], signer: { alias: 'sig' } })).statusCode, 201)
  t.equal((await admin.put('/keystore/key-pairs/sig', keyPairOf(second!))).statusCode, 200, 'replaced')
  t.equal((await admin.put('/keystore/key-pairs/sig', keyPairOf(second!))).statusCode, 200, 'the same again')
  t.equal((await putEncryptor(app, 'flow', { receiverAliases: ['partner'] })).statusCode, 200, 'flow stops signing')
  t.equal((await admin.delete('/keystore/key-pairs/sig')).statusCode, 204)
  await drained(app, subscription)

  const events = receiver.unique()
  const changes = events.filter((e) => e.type === 'key-pair.changed')
  t.strictSame(
    changes.map((e) => [e.data.change, e.data.usedBy]),
    [
      ['created', []],
      ['replaced', ['flow']],
      ['deleted', []],
    ],
    'one event per change (storing the same key pair again changes nothing); usedBy: the encryptors that sign',
  )
  const [created, replaced, deleted] = changes.map((e) => e.data) as Array<Record<string, unknown>>
  t.match(created, {
    alias: 'sig',
    certificate: { sha256Fingerprint: fingerprintOf(first!) },
    previousSha256Fingerprint: null,
  })
  t.match(replaced, {
    certificate: { sha256Fingerprint: fingerprintOf(second!) },
    previousSha256Fingerprint: fingerprintOf(first!),
  })
  t.match(deleted, { certificate: null, previousSha256Fingerprint: fingerprintOf(second!) })
  for (const data of [created, replaced, deleted]) {
    const audit = await admin.get(`/audit?target=${encodeURIComponent('keystore/key-pairs/sig')}`)
    t.equal(audit.statusCode, 200)
    const ids = (audit.json() as { records: Array<{ id: number }> }).records.map((r) => r.id)
    t.ok(
      ids.includes(data!.auditRecordId as number),
      `auditRecordId ${String(data!.auditRecordId)} is the change's record`,
    )
  }
  t.strictSame(
    events.filter((e) => e.type === 'keystore.changed').map((e) => e.data.alias),
    ['partner'],
    'keystore.changed stays about receiver certificates',
  )
  assertNoKeyMaterial(t, receiver.received, [first!, second!])
  await assertEventsMatchContract(t, receiver.received)
})

t.test('key-pair.expiring at each threshold, once; stored inside one fires at once; expired-in-use once', async (t) => {
  let skip = 0
  const app = await open(t, () => skip)
  const receiver = await WebhookReceiver.start(t)
  const pki = await signerPki()
  const soon = await pki.issue('sig-soon', { days: 40 })
  const late = await pki.issue('sig-late', { days: 11 })
  const subscribed = ['key-pair.expiring', 'key-pair.expired-in-use', 'certificate.expiring']
  const { id: subscription } = await subscribe(app, receiver, subscribed)
  const admin = asRoleOn(app)('tenant-admin')
  await putCertificate(
    app,
    'partner',
    await issueCertificate('kp-partner-2', { notAfter: new Date(Date.now() + 400 * DAY) }),
  )
  t.equal((await admin.put('/keystore/key-pairs/soon', keyPairOf(soon))).statusCode, 201)
  t.equal(
    (await putEncryptor(app, 'flow', { receiverAliases: ['partner'], signer: { alias: 'soon' } })).statusCode,
    201,
  )
  t.equal((await admin.put('/keystore/key-pairs/late', keyPairOf(late))).statusCode, 201)
  await drained(app, subscription)

  const notAfter = Date.parse(new X509Certificate(soon.certPem).validTo)
  const fired = (alias: string) =>
    receiver
      .unique()
      .filter((e) => e.data.alias === alias)
      .map((e) => (e.type === 'key-pair.expiring' ? `expiring ${String(e.data.thresholdDays)}` : e.type))
  t.strictSame(fired('late'), ['expiring 14'], 'stored 11 days before its end: told at once, not at the next round')
  /** Moves the clock to `daysLeft` before the end of "soon", and runs a round. */
  const at = async (daysLeft: number) => {
    skip = notAfter - daysLeft * DAY - Date.now()
    await app.webhookScheduler.round()
    await drained(app, subscription)
  }
  await at(31)
  t.strictSame(fired('soon'), [], '31 days left: outside every threshold')
  await at(29.5)
  await at(29)
  t.strictSame(fired('soon'), ['expiring 30'], '30 fires, once')
  await at(13.9)
  await at(6.5)
  await at(0.5)
  t.strictSame(fired('soon'), ['expiring 30', 'expiring 14', 'expiring 7', 'expiring 1'])
  await at(-1)
  await at(-2)
  t.strictSame(
    fired('soon'),
    ['expiring 30', 'expiring 14', 'expiring 7', 'expiring 1', 'key-pair.expired-in-use'],
    'expired while flow still signs with it: told once',
  )
  // "late" ends 29 days before "soon" (and the seconds between their issuing): 2 days left at the round
  // at 31, half a day at 29.5, never on a threshold's edge.
  t.strictSame(
    fired('late'),
    ['expiring 14', 'expiring 7', 'expiring 1'],
    'then no expired-in-use for "late": no encryptor signs with it',
  )
  const expired = receiver.unique().find((e) => e.type === 'key-pair.expired-in-use')!.data
  t.match(expired, { alias: 'soon', usedBy: ['flow'], sha256Fingerprint: fingerprintOf(soon) })
  t.notOk(
    receiver.unique().some((e) => e.type === 'certificate.expiring'),
    'certificate.expiring stays about receiver certificates',
  )
  t.equal(receiver.duplicates(), 0, 'no event arrived twice')
  assertNoKeyMaterial(t, receiver.received, [soon, late])
  await assertEventsMatchContract(t, receiver.received)
})
