import type { FastifyInstance } from 'fastify'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { issueCertificate } from '../helpers/pki.js'
import { startRenewal, takeStep } from '../helpers/renewals.js'
import { putCertificate, putEncryptor } from '../helpers/requests.js'
import { assertEventsMatchContract } from '../helpers/webhook-contract.js'
import { LOCAL_RECEIVER, subscribe, WebhookReceiver } from '../helpers/webhook-receiver.js'

/**
 * Delivery you can trust, against a real receiver on 127.0.0.1: retried through an outage until everything
 * arrives in order; failed after the retry period (clock injected) and re-sent on request; and the guards:
 * addresses judged after DNS at delivery, no redirect followed, a deadline, a short response prefix kept.
 */
const DAY = 86_400_000
const ADD_ALIAS_STEPS: Array<[string, 'tenant-admin' | 'integration-developer']> = [
  ['add-certificate', 'tenant-admin'],
  ['add-alias', 'integration-developer'],
  ['confirm-receiver-switched', 'tenant-admin'],
  ['remove-old-alias', 'integration-developer'],
  ['remove-old-certificate', 'tenant-admin'],
]
const STEP_NAMES = ADD_ALIAS_STEPS.map(([step]) => step)
const FAST_RETRIES = { ...LOCAL_RECEIVER, WEBHOOK_RETRY_BASE_MS: '20', WEBHOOK_RETRY_CAP_MS: '200' }

interface DeliveryView {
  id: string
  eventType: string
  state: string
  attempts: Array<{ status: number | null; error: string | null; responsePrefix: string | null }>
}

async function deliveries(app: FastifyInstance, subscription: string, query = ''): Promise<DeliveryView[]> {
  const res = await asRoleOn(app)('tenant-admin').get(`/webhooks/${subscription}/deliveries?limit=500${query}`)
  return (res.json() as { deliveries: DeliveryView[] }).deliveries
}

async function settled(app: FastifyInstance, subscription: string) {
  for (let i = 0; i < 3000; i++) {
    if ((await deliveries(app, subscription, '&state=pending')).length === 0) return
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error('deliveries still pending')
}

t.test('receiver down, then failing, then up: everything arrives, in order per renewal, each once', async (t) => {
  const app = await buildTestApp(t, FAST_RETRIES)
  const receiver = await WebhookReceiver.start(t)
  const certs = await Promise.all(
    [1, 2, 3].map((i) => issueCertificate(`outage-${i}`, { notAfter: new Date(Date.now() + (100 + i * 100) * DAY) })),
  )
  await putCertificate(app, 'a', certs[0]!)
  await putCertificate(app, 'b', certs[0]!)
  await putEncryptor(app, 'flow-a', { receiverAliases: ['a'] })
  await putEncryptor(app, 'flow-b', { receiverAliases: ['b'] })
  const { id: subscription } = await subscribe(app, receiver)
  await receiver.down()

  // Two renewals interleaved while nobody listens.
  const start = async (flow: string, alias: string) =>
    (
      (
        await startRenewal(app, {
          procedure: 'add-alias',
          encryptorId: flow,
          currentAlias: alias,
          newAlias: `${alias}-2`,
          certificate: certs[alias === 'a' ? 1 : 2]!.pem,
        })
      ).json() as { id: string }
    ).id
  const ra = await start('flow-a', 'a')
  const rb = await start('flow-b', 'b')
  for (const [step, role] of ADD_ALIAS_STEPS) {
    t.equal((await takeStep(app, ra, step, role)).statusCode, 200, `a: ${step}`)
    t.equal((await takeStep(app, rb, step, role)).statusCode, 200, `b: ${step}`)
  }
  const refused = async () =>
    (await deliveries(app, subscription)).filter((d) => d.attempts.some((a) => a.error === 'ECONNREFUSED')).length
  for (let i = 0; i < 500 && (await refused()) === 0; i++) await new Promise((r) => setTimeout(r, 20))
  t.ok((await refused()) > 0, 'attempts met a refused connection while the receiver was down')
  t.equal(receiver.received.length, 0, 'nothing arrived while down')

  receiver.mode = 'failing'
  await receiver.up()
  receiver.mode = 'failing'
  await receiver.until(() => receiver.refused >= 3, 'attempts answered 503')
  receiver.mode = 'up'
  await settled(app, subscription)

  const all = await deliveries(app, subscription)
  t.ok(
    all.every((d) => d.state === 'delivered'),
    'every delivery delivered in the end',
  )
  const unique = receiver.unique()
  t.equal(unique.length, all.length, 'every event arrived')
  t.equal(receiver.duplicates(), 0, 'each once (no attempt was answered 2xx and then retried)')
  await assertEventsMatchContract(t, receiver.received)
  t.ok(
    unique.every((e) => e.verified),
    'signatures verify',
  )
  for (const id of [ra, rb]) {
    const steps = unique
      .filter((e) => e.data.renewalId === id && e.type.startsWith('renewal.'))
      .map((e) => (e.type === 'renewal.step-completed' ? (e.data.step as { step: string }).step : e.type))
    t.strictSame(
      steps,
      ['renewal.started', ...STEP_NAMES, 'renewal.completed'],
      `renewal ${id === ra ? 'a' : 'b'}: in order`,
    )
  }
  const failedAttempt = all.flatMap((d) => d.attempts).find((a) => a.status === 503)
  t.equal(failedAttempt?.responsePrefix, 'receiver down for maintenance', 'the response is logged (a prefix)')

  const metrics = (await asRoleOn(app)('monitor').get('/metrics')).body
  t.match(metrics, /cms_webhook_deliveries_total\{event_type="renewal.step-completed",outcome="delivered"\} 10/)
  t.match(metrics, /cms_webhook_deliveries_total\{event_type="[a-z.-]+",outcome="retrying"\} \d+/, 'retries counted')
  t.match(metrics, /cms_webhook_oldest_pending_seconds 0/, 'nothing pending')
})

t.test('retries end after the retry period: failed, then re-sent on request', async (t) => {
  // The service's clock runs with the real one, plus whatever the test skips ahead.
  let skipped = 0
  const app = await buildTestApp(t, FAST_RETRIES, false, () => new Date(Date.now() + skipped))
  const receiver = await WebhookReceiver.start(t)
  receiver.mode = 'failing'
  const { id: subscription } = await subscribe(app, receiver, ['keystore.changed'])
  await putCertificate(app, 'late', await issueCertificate('late'))
  await receiver.until(() => receiver.refused >= 1, 'a first attempt')
  skipped += 24 * 3_600_000 + 1000 // a day later, by the service's clock
  for (let i = 0; i < 500; i++) {
    if ((await deliveries(app, subscription, '&state=failed')).length === 1) break
    await new Promise((r) => setTimeout(r, 20))
  }
  const [failed] = await deliveries(app, subscription)
  t.equal(failed?.state, 'failed', 'marked failed once a day of retries is over')
  t.ok(failed!.attempts.length >= 2, 'after more than one attempt')
  t.equal(receiver.received.length, 0)

  const admin = asRoleOn(app)('tenant-admin')
  receiver.mode = 'up'
  // Back to the real time: receivers refuse a webhook-timestamp a day ahead (replay protection).
  skipped = 0
  const retried = await admin.post(`/webhooks/${subscription}/deliveries/${failed!.id}/retry`)
  t.equal(retried.statusCode, 202)
  t.equal((retried.json() as DeliveryView).state, 'pending')
  await receiver.until(() => receiver.received.length === 1, 'the re-sent delivery')
  t.equal(receiver.received[0]!.type, 'keystore.changed')
  t.ok(receiver.received[0]!.verified)
  await settled(app, subscription)
  const [delivered] = await deliveries(app, subscription)
  t.equal(delivered!.state, 'delivered')
  t.equal(delivered!.attempts.at(-1)!.status, 204, 'the last attempt is the 204')

  const again = await admin.post(`/webhooks/${subscription}/deliveries/${failed!.id}/retry`)
  t.equal(again.statusCode, 202, 'a delivered one can be re-sent too')
  const pending = await admin.post(`/webhooks/${subscription}/deliveries/${failed!.id}/retry`)
  if (pending.statusCode === 409) t.equal(pending.json().code, 'CMS_WEBHOOK_DELIVERY_PENDING')
  else t.equal(pending.statusCode, 202, 'or it was delivered already')
  await receiver.until(() => receiver.received.length >= 2, 'the second re-send')
  t.equal(receiver.unique().length, 1, 'the same event id each time: the receiver deduplicates')
})

t.test('guards at delivery time: DNS answer judged, no redirect, a deadline, a prefix of the body', async (t) => {
  // Private addresses refused (the default), http allowed so the local servers can be named.
  const app = await buildTestApp(t, { ...FAST_RETRIES, WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'false' })
  const admin = asRoleOn(app)('tenant-admin')
  const receiver = await WebhookReceiver.start(t)
  const port = new URL(receiver.url).port
  // A host name is accepted when subscribing; what it resolves to is judged at each delivery.
  const res = await admin.post('/webhooks', { url: `http://localhost:${port}/hook`, events: ['*'] })
  t.equal(res.statusCode, 201)
  const viaName = (res.json() as { id: string }).id
  const literal = await admin.post('/webhooks', { url: `http://127.0.0.1:${port}/hook`, events: ['*'] })
  t.equal(literal.statusCode, 422, 'a loopback literal is refused at once')
  t.equal(literal.json().code, 'CMS_WEBHOOK_URL_REFUSED')
  await admin.post(`/webhooks/${viaName}/test`)
  for (let i = 0; i < 500 && (await deliveries(app, viaName))[0]?.attempts.length === 0; i++)
    await new Promise((r) => setTimeout(r, 20))
  const [blocked] = await deliveries(app, viaName)
  t.match(
    blocked!.attempts[0]!.error,
    /^address refused: localhost resolves to (127\.0\.0\.1|::1), a loopback address$/,
  )
  t.equal(receiver.received.length, 0, 'nothing reached the loopback receiver')
})

t.test('a redirect is not followed; a silent receiver meets the deadline; only a prefix is kept', async (t) => {
  const app = await buildTestApp(t, { ...FAST_RETRIES, WEBHOOK_TIMEOUT_MS: '300' })
  const receiver = await WebhookReceiver.start(t)
  let hits = 0
  const odd = createServer((request, response) => {
    hits++
    if (request.url === '/redirect') response.writeHead(302, { location: receiver.url }).end()
    else if (request.url === '/long') response.writeHead(500).end('x'.repeat(100_000))
    else if (request.url === '/nul')
      response.writeHead(200).end('ok\u0000') // PostgreSQL text refuses NUL
    else if (request.url === '/slow-body') {
      // The status at once, the body long after the deadline: a 2xx is a 2xx.
      response.writeHead(200)
      response.write('a')
      setTimeout(() => response.end('b'), 2000).unref()
    }
    // '/silent': never answers
  })
  await new Promise<void>((r) => odd.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    odd.closeAllConnections()
    odd.close()
  })
  const base = `http://127.0.0.1:${(odd.address() as AddressInfo).port}`
  const admin = asRoleOn(app)('tenant-admin')
  const outcome = async (path: string) => {
    const { id } = (await admin.post('/webhooks', { url: base + path, events: ['*'] })).json() as { id: string }
    await admin.post(`/webhooks/${id}/test`)
    for (let i = 0; i < 500 && (await deliveries(app, id))[0]?.attempts.length === 0; i++)
      await new Promise((r) => setTimeout(r, 20))
    await admin.patch(`/webhooks/${id}`, { enabled: false })
    return (await deliveries(app, id))[0]!.attempts[0]!
  }
  const redirect = await outcome('/redirect')
  t.equal(redirect.status, 302)
  t.equal(redirect.error, 'redirect (302) not followed')
  t.equal(receiver.received.length, 0, 'the redirect target got nothing')
  const silent = await outcome('/silent')
  t.equal(silent.status, null)
  t.equal(silent.error, 'no response within 300 ms')
  const long = await outcome('/long')
  t.equal(long.status, 500)
  t.equal(long.responsePrefix, 'x'.repeat(200), 'the first 200 characters, no more')
  const nul = await outcome('/nul')
  t.strictSame(
    [nul.status, nul.error, nul.responsePrefix],
    [200, null, 'ok\ufffd'],
    'delivered, the NUL made printable',
  )
  const slow = await outcome('/slow-body')
  t.strictSame([slow.status, slow.error], [200, null], 'a slow body after a 2xx status: delivered')
  t.ok(hits >= 5)
})
