import t from 'tap'
import { auth, buildLoggedTestApp, TOKENS } from '../helpers/app.js'
import { issueCertificate } from '../helpers/pki.js'
import { startRenewal, takeStep } from '../helpers/renewals.js'
import { encrypt, putCertificate, putEncryptor } from '../helpers/requests.js'

t.test(
  'no payload, token, certificate or private key reaches the logs, at debug level, through a full scenario',
  async (t) => {
    const { app, log } = await buildLoggedTestApp(t, 'debug')

    const receiver = await issueCertificate('logged-receiver')
    const next = await issueCertificate('logged-next', { notAfter: new Date(Date.now() + 800 * 86_400_000) })
    const PAYLOAD = 'SECRET-PAYLOAD-7f3a9c'
    await putCertificate(app, 'r', receiver)
    await putEncryptor(app, 'flow', { receiverAliases: ['r'] })
    t.equal((await encrypt(app, 'flow', PAYLOAD.repeat(10))).statusCode, 200)
    t.equal((await encrypt(app, 'flow', Buffer.from(PAYLOAD.repeat(20_000)))).statusCode, 200, 'streamed')
    await encrypt(app, 'nope', PAYLOAD)
    await app.inject({
      method: 'PUT',
      url: '/keystore/entries/bad',
      headers: { ...auth('tenant-admin'), 'content-type': 'application/x-pem-file' },
      payload: receiver.keyPem,
    })
    await app.inject({
      method: 'PUT',
      url: '/keystore/entries/bad',
      headers: { ...auth('tenant-admin'), 'content-type': 'application/json' },
      payload: `{"certificate": "${PAYLOAD}`,
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
