import { randomBytes } from 'node:crypto'
import t from 'tap'
import { SecretBox } from '../../src/webhooks/secret-box.js'
import { newSecret } from '../../src/webhooks/signature.js'

t.test('a sealed secret opens with its key and subscription only', async (t) => {
  const key = randomBytes(32)
  const box = new SecretBox(key)
  const secret = newSecret()
  const sealed = box.seal(secret, 'sub-1')
  t.match(sealed, /^v1:[A-Za-z0-9+/]+=*$/)
  t.notOk(sealed.includes(secret.slice(6)), 'the secret is not in the sealed text')
  t.not(box.seal(secret, 'sub-1'), sealed, 'a fresh IV each time')
  t.equal(box.open(sealed, 'sub-1'), secret)
  t.throws(() => box.open(sealed, 'sub-2'), 'not for another subscription')
  t.throws(() => new SecretBox(randomBytes(32)).open(sealed, 'sub-1'), 'not with another key')
  const flipped = sealed.slice(0, -4) + (sealed.at(-4) === 'A' ? 'B' : 'A') + sealed.slice(-3)
  t.throws(() => box.open(flipped, 'sub-1'), 'not when changed')
  t.throws(() => box.open(secret, 'sub-1'), 'plain text is not taken for sealed')
  t.ok(sealed.length <= 200, 'fits its column')
  t.throws(() => new SecretBox(randomBytes(16)))
})
