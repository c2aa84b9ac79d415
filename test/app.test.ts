import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { request } from 'node:https'
import { join } from 'node:path'
import t from 'tap'
import { buildLoggedTestApp, buildTestApp, testConfig, TOKENS } from './helpers/app.js'
import { asRoleOn } from './helpers/as-role.js'
import { issueCertificate } from './helpers/pki.js'
import { startRenewal, takeStep } from './helpers/renewals.js'
import { encrypt, putCertificate, putEncryptor } from './helpers/requests.js'

t.test(
  'no payload, token, certificate or private key reaches the logs, at debug level, through a full scenario',
  async (t) => {
    const { app, log } = await buildLoggedTestApp(t, 'debug')
    const asRole = asRoleOn(app)

    const receiver = await issueCertificate('logged-receiver')
    const next = await issueCertificate('logged-next', { notAfter: new Date(Date.now() + 800 * 86_400_000) })
    const PAYLOAD = 'SECRET-PAYLOAD-7f3a9c'
    await putCertificate(app, 'r', receiver)
    await putEncryptor(app, 'flow', { receiverAliases: ['r'] })
    t.equal((await encrypt(app, 'flow', PAYLOAD.repeat(10))).statusCode, 200)
    t.equal((await encrypt(app, 'flow', Buffer.from(PAYLOAD.repeat(20_000)))).statusCode, 200, 'streamed')
    await encrypt(app, 'nope', PAYLOAD)
    await asRole('tenant-admin').put('/keystore/entries/bad', receiver.keyPem, {
      'content-type': 'application/x-pem-file',
    })
    await asRole('tenant-admin').put('/keystore/entries/bad', `{"certificate": "${PAYLOAD}`, {
      'content-type': 'application/json',
    })
    await app.inject({
      method: 'GET',
      url: '/keystore/entries',
      headers: { authorization: 'Bearer wrong-token-value-123' },
    })
    const renewal = (
      await startRenewal(app, { procedure: 'exchange', encryptorId: 'flow', currentAlias: 'r', certificate: next.pem })
    ).json()
    await takeStep(app, renewal.id, 'exchange-certificate', 'tenant-admin', 'receiver confirmed')

    t.ok(log().length > 1000, 'the scenario was logged')
    t.match(log(), /certificate stored/)
    const pemBody = (pem: string) => pem.split('\n').filter((l) => l && !l.startsWith('-----'))
    const forbidden = [
      PAYLOAD,
      'wrong-token-value-123',
      ...Object.values(TOKENS),
      'BEGIN CERTIFICATE',
      'PRIVATE KEY',
      ...pemBody(receiver.pem),
      ...pemBody(next.pem),
      ...pemBody(receiver.keyPem),
    ]
    t.same(
      forbidden.filter((secret) => log().includes(secret)),
      [],
      'nothing secret in the log',
    )
  },
)

t.test('TLS when TLS_CERT_FILE and TLS_KEY_FILE are set', async (t) => {
  const dir = t.testdir()
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, 'tls.key'),
      '-out',
      join(dir, 'tls.crt'),
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-days',
      '2',
    ],
    { stdio: 'ignore' },
  )
  const app = await buildTestApp(t, { TLS_CERT_FILE: join(dir, 'tls.crt'), TLS_KEY_FILE: join(dir, 'tls.key') })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as { port: number }).port
  const status = await new Promise<number>((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/health/ready', ca: readFileSync(join(dir, 'tls.crt')) }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
      .on('error', reject)
      .end()
  })
  t.equal(status, 200)
  t.throws(() => testConfig({ TLS_CERT_FILE: join(dir, 'tls.crt') }), { message: /go together/ })
})
