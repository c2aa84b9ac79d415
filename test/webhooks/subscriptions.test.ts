import { randomBytes } from 'node:crypto'
import t from 'tap'
import { Webhook } from 'standardwebhooks'
import { SecretBox } from '../../src/webhooks/secret-box.js'
import { newSecret } from '../../src/webhooks/signature.js'
import { buildTestApp } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { issueCertificate } from '../helpers/pki.js'
import { assertProblem, putCertificate } from '../helpers/requests.js'
import { assertEventsMatchContract } from '../helpers/webhook-contract.js'
import { LOCAL_RECEIVER, subscribe, WebhookReceiver } from '../helpers/webhook-receiver.js'

/**
 * The subscriptions API as a tenant administrator uses it: subscribe (the secret shown once), read, change,
 * disable, rotate the secret (old and new both sign for a while, each verifiable on its own), ping, delete;
 * and what it refuses, changing nothing.
 */
t.test('subscribe, read, change, disable, delete; the secret is shown once', async (t) => {
  const app = await buildTestApp(t, LOCAL_RECEIVER)
  const admin = asRoleOn(app)('tenant-admin')
  const receiver = await WebhookReceiver.start(t)
  const created = await admin.post('/webhooks', {
    url: receiver.url,
    events: ['renewal.started', 'keystore.changed', 'renewal.started'].slice(0, 2),
    description: 'tickets for the PKI team',
  })
  t.equal(created.statusCode, 201)
  const body = created.json() as { id: string; secret: string; events: string[]; enabled: boolean }
  t.equal(created.headers.location, `/webhooks/${body.id}`)
  t.match(body.secret, /^whsec_[A-Za-z0-9+/]{43}=$/, 'a Standard Webhooks secret of 32 bytes')
  t.strictSame(body.events, ['keystore.changed', 'renewal.started'])
  t.equal(body.enabled, true)
  const read = (await admin.get(`/webhooks/${body.id}`)).json() as Record<string, unknown>
  t.notOk('secret' in read, 'never shown again')
  t.notOk(JSON.stringify((await admin.get('/webhooks')).json()).includes(body.secret), 'not in the list either')
  const audit = JSON.stringify((await asRoleOn(app)('monitor').get('/audit?action=webhook.create')).json())
  t.ok(audit.includes(body.id), 'the subscription is audited')
  t.notOk(audit.includes(body.secret), 'without its secret')
  const stored = await app.db.selectFrom('webhook_subscriptions').select('secret').executeTakeFirstOrThrow()
  t.match(stored.secret, /^v1:/, 'stored sealed, under a key the database does not hold')
  t.notOk(stored.secret.includes(body.secret.slice(6)), 'not in the clear')

  receiver.secrets.push(body.secret)
  await putCertificate(app, 'a', await issueCertificate('sub-a'))
  await receiver.until(() => receiver.received.length === 1, 'the first event')
  const patched = await admin.patch(`/webhooks/${body.id}`, { enabled: false })
  t.equal(patched.statusCode, 200)
  t.equal((patched.json() as { enabled: boolean }).enabled, false)
  await putCertificate(app, 'b', await issueCertificate('sub-b'))
  const log = async () =>
    (
      (await admin.get(`/webhooks/${body.id}/deliveries`)).json() as {
        deliveries: Array<{ state: string; eventType: string }>
      }
    ).deliveries
  t.strictSame(
    (await log()).map((d) => d.state),
    ['delivered'],
    'disabled: no delivery is made for new events',
  )
  t.equal((await admin.patch(`/webhooks/${body.id}`, { events: ['*'], enabled: true })).statusCode, 200)
  await putCertificate(app, 'c', await issueCertificate('sub-c'))
  await receiver.until(() => receiver.received.length === 2, 'an event once enabled again')
  t.equal(receiver.received[1]!.data.alias, 'c')

  t.equal((await admin.delete(`/webhooks/${body.id}`)).statusCode, 204)
  assertProblem(t, await admin.get(`/webhooks/${body.id}`), 404, 'CMS_WEBHOOK_NOT_FOUND')
  assertProblem(t, await admin.get(`/webhooks/${body.id}/deliveries`), 404, 'CMS_WEBHOOK_NOT_FOUND')
  await putCertificate(app, 'd', await issueCertificate('sub-d'))
  t.equal(receiver.received.length, 2, 'nothing after the delete')
})

t.test('rotating the secret: both sign during the grace period, each verifies alone', async (t) => {
  const app = await buildTestApp(t, LOCAL_RECEIVER)
  const admin = asRoleOn(app)('tenant-admin')
  const receiver = await WebhookReceiver.start(t)
  const { id, secret: old } = await subscribe(app, receiver)
  const rotated = await admin.post(`/webhooks/${id}/rotate-secret`)
  t.equal(rotated.statusCode, 200)
  const { secret: fresh, previousSecretValidUntil } = rotated.json() as {
    secret: string
    previousSecretValidUntil: string
  }
  t.not(fresh, old)
  const graceHours = (Date.parse(previousSecretValidUntil) - Date.now()) / 3_600_000
  t.ok(graceHours > 23.9 && graceHours <= 24, 'the old secret signs for 24 more hours')
  const ping = await admin.post(`/webhooks/${id}/test`)
  t.equal(ping.statusCode, 202)
  await receiver.until(() => receiver.received.length === 1, 'the ping')
  const [event] = receiver.received
  t.equal(event!.type, 'webhook.test')
  await assertEventsMatchContract(t, receiver.received)
  t.equal(event!.id, (ping.json() as { eventId: string }).eventId)
  t.equal(String(event!.headers['webhook-signature']).split(' ').length, 2, 'two signatures')
  // Each secret on its own, as a receiver that has switched (or not yet) holds one.
  const body = JSON.stringify({ type: event!.type, timestamp: event!.timestamp, data: event!.data })
  const headers = {
    'webhook-id': event!.id,
    'webhook-timestamp': String(event!.headers['webhook-timestamp']),
    'webhook-signature': String(event!.headers['webhook-signature']),
  }
  t.doesNotThrow(() => new Webhook(old).verify(body, headers), 'the old secret verifies')
  t.doesNotThrow(() => new Webhook(fresh).verify(body, headers), 'the new secret verifies')
  t.throws(() => new Webhook(fresh).verify(body + ' ', headers), 'a changed body does not')
})

t.test('what is refused changes nothing', async (t) => {
  const app = await buildTestApp(t)
  const admin = asRoleOn(app)('tenant-admin')
  const refused = [
    [{ url: 'http://hooks.example.com/x', events: ['*'] }, 422, 'CMS_WEBHOOK_URL_REFUSED', 'http by default'],
    [{ url: 'https://127.0.0.1/x', events: ['*'] }, 422, 'CMS_WEBHOOK_URL_REFUSED', 'loopback'],
    [{ url: 'https://[::ffff:10.0.0.1]/x', events: ['*'] }, 422, 'CMS_WEBHOOK_URL_REFUSED', 'mapped private'],
    [{ url: 'https://169.254.169.254/latest', events: ['*'] }, 422, 'CMS_WEBHOOK_URL_REFUSED', 'cloud metadata'],
    [{ url: 'https://user:pw@hooks.example.com', events: ['*'] }, 422, 'CMS_WEBHOOK_URL_REFUSED', 'credentials'],
    [{ url: 'not a url', events: ['*'] }, 422, 'CMS_WEBHOOK_URL_REFUSED', 'not a URL'],
    [{ url: 'ftp://hooks.example.com', events: ['*'] }, 422, 'CMS_WEBHOOK_URL_REFUSED', 'ftp'],
    [{ url: 'https://hooks.example.com', events: ['renewal.finished'] }, 422, 'CMS_WEBHOOK_EVENT_UNKNOWN', 'event'],
    [{ url: 'https://hooks.example.com', events: [] }, 400, 'CMS_VALIDATION_FAILED', 'no events'],
    [{ url: 'https://hooks.example.com' }, 400, 'CMS_VALIDATION_FAILED', 'events missing'],
    [{ url: 'https://hooks.example.com', events: ['*'], secret: 'x' }, 400, 'CMS_VALIDATION_FAILED', 'extra field'],
  ] as const
  for (const [body, status, code, label] of refused)
    assertProblem(t, await admin.post('/webhooks', body), status, code, label)
  assertProblem(
    t,
    await admin.post('/webhooks', '{"url":', { 'content-type': 'application/json' }),
    400,
    'CMS_MALFORMED_JSON',
  )
  t.strictSame((await admin.get('/webhooks')).json(), { webhooks: [] }, 'no subscription was made')
  t.equal((await asRoleOn(app)('monitor').get('/audit?action=webhook.create')).json().records.length, 0, 'nor audited')
  const error = (await admin.post('/webhooks', { url: 'https://hooks.example.com', events: ['nope'] })).json() as {
    detail: string
  }
  t.match(error.detail, /renewal\.step-completed/, 'the refusal lists the event types there are')
  const hook = (
    await admin.post('/webhooks', {
      url: 'https://chat.example.com/services/T0/B0/SECRETPART?token=abc',
      events: ['*'],
      enabled: false,
    })
  ).json() as { id: string }
  assertProblem(
    t,
    await admin.get(`/webhooks/${hook.id}/deliveries?before=99999999999`),
    400,
    'CMS_VALIDATION_FAILED',
    'a cursor past any seq',
  )
  const audited = JSON.stringify((await asRoleOn(app)('monitor').get('/audit')).json())
  t.notOk(
    audited.includes('SECRETPART') || audited.includes('token=abc'),
    'the audit log, which monitors read, holds no URL path or query',
  )
  t.ok(audited.includes('https://chat.example.com'), 'but its origin')
  assertProblem(
    t,
    await asRoleOn(app)('integration-developer').post('/webhooks', { url: 'https://a.example', events: ['*'] }),
    403,
    'CMS_FORBIDDEN',
  )
})

t.test('a secret sealed under another audit key: attempts say so, a rotation mends it', async (t) => {
  const app = await buildTestApp(t, { ...LOCAL_RECEIVER, WEBHOOK_RETRY_BASE_MS: '20', WEBHOOK_RETRY_CAP_MS: '50' })
  const admin = asRoleOn(app)('tenant-admin')
  const receiver = await WebhookReceiver.start(t)
  const { id } = await subscribe(app, receiver)
  // As after restoring the database with another AUDIT_KEY_FILE: the stored secret no longer opens.
  const foreign = new SecretBox(randomBytes(32)).seal(newSecret(), id)
  await app.db.updateTable('webhook_subscriptions').set({ secret: foreign }).where('id', '=', id).execute()
  const ping = (await admin.post(`/webhooks/${id}/test`)).json() as { deliveryId: string }
  let attempts: Array<{ error: string | null }> = []
  for (let i = 0; i < 500 && attempts.length === 0; i++) {
    attempts = ((await admin.get(`/webhooks/${id}/deliveries/${ping.deliveryId}`)).json() as { attempts: [] }).attempts
    await new Promise((r) => setTimeout(r, 20))
  }
  t.match(attempts[0]!.error, /the signing secret cannot be opened .* rotate the secret/)
  t.equal(receiver.received.length, 0, 'nothing unsigned was sent')
  const { secret } = (await admin.post(`/webhooks/${id}/rotate-secret`)).json() as { secret: string }
  receiver.secrets.push(secret)
  await receiver.until(() => receiver.received.length === 1, 'the ping, signed with the new secret')
  t.ok(receiver.received[0]!.verified)
  t.equal(String(receiver.received[0]!.headers['webhook-signature']).split(' ').length, 1, 'the old one is not used')
})
