import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { encryptProperty, garbledExtensionProperty, uploadProperty } from '../helpers/fuzz.js'
import { issueCertificate } from '../helpers/pki.js'
import { putCertificate } from '../helpers/requests.js'

/** A seeded, bounded slice of `npm run fuzz` (which runs ≥ 10,000 cases). */
const SEED = 20261125

t.test('fuzzed certificate uploads: never a 5xx, always a catalogue code', async (t) => {
  const app = await buildTestApp(t)
  const valid = await issueCertificate('fuzz-valid')
  t.same(await uploadProperty(app, valid.der, 400, SEED), [])
})

t.test(
  'signed certificates with a garbled keyUsage or subjectKeyIdentifier: always 400 CMS_CERTIFICATE_MALFORMED',
  async (t) => {
    const app = await buildTestApp(t)
    t.same(await garbledExtensionProperty(app, 100, SEED), [])
  },
)

t.test('fuzzed encrypt options and payloads: every message decrypts in OpenSSL', async (t) => {
  const app = await buildTestApp(t)
  const receivers = {
    rsa: await issueCertificate('fuzz-rsa'),
    ec: await issueCertificate('fuzz-ec', { key: 'ec-p384' }),
  }
  for (const [alias, cert] of Object.entries(receivers))
    t.equal((await putCertificate(app, alias, cert)).statusCode, 201)
  t.same(await encryptProperty(app, receivers, 40, SEED), [])
})
