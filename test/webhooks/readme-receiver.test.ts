import { spawn } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { LOCAL_RECEIVER } from '../helpers/webhook-receiver.js'

/**
 * The README's receiver, run as it is written: extracted from the README, started with the secret of a real
 * subscription, it accepts what the service sends and refuses a forged request.
 */
t.test("the README's receiver verifies a real delivery and refuses a forged one", async (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  const code = /```js\n(\/\/ receiver\.mjs[\s\S]*?)```/.exec(readme)?.[1]
  t.ok(code, 'the README has the receiver')
  // Beside the project, so `standardwebhooks` resolves from its node_modules, as after `npm install` there.
  const file = join(process.cwd(), `.readme-receiver-${process.pid}.mjs`)
  writeFileSync(file, code!)
  t.teardown(() => rmSync(file, { force: true }))

  const app = await buildTestApp(t, LOCAL_RECEIVER)
  const admin = asRoleOn(app)('tenant-admin')
  const port = await freePort()
  const res = await admin.post('/webhooks', { url: `http://127.0.0.1:${port}/`, events: ['*'] })
  const { id, secret } = res.json() as { id: string; secret: string }
  const receiver = spawn(process.execPath, [file], {
    env: { ...process.env, WEBHOOK_SECRET: secret, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exited = new Promise((r) => receiver.once('exit', r))
  t.teardown(async () => {
    receiver.kill()
    await exited
  })
  let printed = ''
  receiver.stdout!.on('data', (d: Buffer) => (printed += d.toString()))
  // Listening once a request gets an answer (a forged one: 400).
  let forged = 0
  for (let i = 0; i < 500 && forged === 0; i++) {
    forged = await fetch(`http://127.0.0.1:${port}/`, {
      method: 'POST',
      headers: {
        'webhook-id': 'evt_x',
        'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
        'webhook-signature': 'v1,AAAA',
      },
      body: '{"type":"renewal.completed"}',
    })
      .then((r) => r.status)
      .catch(() => 0)
    if (forged === 0) await new Promise((r) => setTimeout(r, 20))
  }
  t.equal(forged, 400, 'a request without the right signature is refused')

  const ping = (await admin.post(`/webhooks/${id}/test`)).json() as { eventId: string; deliveryId: string }
  let state = 'pending'
  for (let i = 0; i < 500 && state === 'pending'; i++) {
    const delivery = await admin.get(`/webhooks/${id}/deliveries/${ping.deliveryId}`)
    state = (delivery.json() as { state: string }).state
    if (state === 'pending') await new Promise((r) => setTimeout(r, 20))
  }
  t.equal(state, 'delivered', 'the service saw the 204')
  t.match(
    printed,
    new RegExp(`^${ping.eventId} webhook.test \\{"subscriptionId":"${id}"`),
    'and the receiver printed it',
  )
  t.notOk(printed.includes('renewal.completed'), 'the forged one was not printed')
})

/** A port nothing listens on now (the kernel's choice), for the receiver process to take. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}
