import t from 'tap'
import { Webhook } from 'standardwebhooks'
import { newSecret, signatureHeaders } from '../../src/webhooks/signature.js'

// standardwebhooks checks the timestamp against the real clock (5 minutes either way): sign with "now".
const message = () => ({
  id: 'evt_01HZX3K9Q2',
  timestamp: new Date(),
  body: '{"type":"renewal.started","data":{"alias":"billing-2026","päyload":"ünïcode"}}',
})
const verifies = (secret: string, body: string, headers: Record<string, string>) => {
  try {
    new Webhook(secret).verify(body, headers)
    return true
  } catch {
    return false
  }
}

t.test('a new secret is whsec_ and 32 random bytes, different each time', async (t) => {
  const secrets = Array.from({ length: 50 }, newSecret)
  for (const secret of secrets) {
    t.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/)
    t.equal(Buffer.from(secret.slice('whsec_'.length), 'base64').length, 32)
  }
  t.equal(new Set(secrets).size, secrets.length, 'no two alike')
})

t.test('the headers carry the id, the unix seconds and one v1 signature', async (t) => {
  const msg = { ...message(), timestamp: new Date('2026-03-01T12:00:00.999Z') }
  const headers = signatureHeaders(newSecret(), msg)
  t.equal(headers['webhook-id'], msg.id)
  t.equal(headers['webhook-timestamp'], '1772366400')
  t.match(headers['webhook-signature'], /^v1,[A-Za-z0-9+/]{43}=$/)
})

t.test('the standardwebhooks package verifies what we sign, and our signature equals its own', async (t) => {
  for (let i = 0; i < 20; i++) {
    const secret = newSecret()
    const msg = message()
    const headers = signatureHeaders(secret, msg)
    t.ok(verifies(secret, msg.body, { ...headers }), `secret ${i}`)
    t.equal(headers['webhook-signature'], new Webhook(secret).sign(msg.id, msg.timestamp, msg.body))
  }
})

t.test('verification fails there for anything changed', async (t) => {
  const secret = newSecret()
  const msg = message()
  const headers = { ...signatureHeaders(secret, msg) }
  const oneByteChanged = msg.body.replace('billing-2026', 'billing-2027')
  const stale = new Date(Date.now() - 6 * 60_000)
  const cases: Array<[string, string, string, Record<string, string>]> = [
    ['fails: one byte of the body changed', secret, oneByteChanged, headers],
    ['fails: body with a trailing space', secret, msg.body + ' ', headers],
    ['fails: another id', secret, msg.body, { ...headers, 'webhook-id': 'evt_01HZX3K9Q3' }],
    [
      'fails: another timestamp header',
      secret,
      msg.body,
      { ...headers, 'webhook-timestamp': String(+headers['webhook-timestamp'] - 1) },
    ],
    [
      'fails: signed 6 minutes ago (tolerance 5)',
      secret,
      msg.body,
      { ...signatureHeaders(secret, { ...msg, timestamp: stale }) },
    ],
    ['fails: verified with another secret', newSecret(), msg.body, headers],
  ]
  t.ok(verifies(secret, msg.body, headers), 'the unchanged message verifies')
  for (const [name, key, body, hdrs] of cases) t.notOk(verifies(key, body, hdrs), name)
})

t.test('during a rotation both secrets sign, and each verifies on its own', async (t) => {
  const [oldSecret, newer, unrelated] = [newSecret(), newSecret(), newSecret()]
  const msg = message()
  const headers = signatureHeaders([oldSecret, newer], msg)
  const signatures = headers['webhook-signature'].split(' ')
  t.equal(signatures.length, 2)
  t.not(signatures[0], signatures[1])
  t.ok(verifies(oldSecret, msg.body, { ...headers }), 'a receiver still on the old secret')
  t.ok(verifies(newer, msg.body, { ...headers }), 'a receiver already on the new secret')
  t.notOk(verifies(unrelated, msg.body, { ...headers }), 'neither is a third secret')
})

t.test('refuses what would sign ambiguously or with a bad key', async (t) => {
  const msg = message()
  const cases: Array<[string, string | string[], typeof msg]> = [
    ['throws: no secret', [], msg],
    ['throws: secret without the whsec_ prefix', newSecret().slice('whsec_'.length), msg],
    ['throws: secret that is not base64', 'whsec_not*base64!', msg],
    ['throws: secret of 16 bytes', 'whsec_' + Buffer.alloc(16, 7).toString('base64'), msg],
    ['throws: id with a "."', newSecret(), { ...msg, id: 'evt.1' }],
    ['throws: empty id', newSecret(), { ...msg, id: '' }],
    ['throws: invalid date', newSecret(), { ...msg, timestamp: new Date(NaN) }],
  ]
  for (const [name, secrets, m] of cases) t.throws(() => signatureHeaders(secrets, m), TypeError, name)
})
