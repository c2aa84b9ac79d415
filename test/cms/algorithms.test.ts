import { randomBytes } from 'node:crypto'
import t from 'tap'
import { CONTENT_ENCRYPTIONS, KEY_TRANSPORTS, RECIPIENT_IDENTIFIERS } from '../../src/cms/algorithms.js'
import { OUTPUT_ENCODINGS } from '../../src/cms/output-encoding.js'
import { buildTestApp } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { opensslDecrypt } from '../helpers/openssl.js'
import { issueCertificate, type TestCertificate } from '../helpers/pki.js'
import { mapLimit } from '../helpers/pool.js'
import { encrypt } from '../helpers/requests.js'

/**
 * Every combination of contentEncryption × keyTransport × recipientIdentifier × encoding, each
 * message for RSA-2048, RSA-4096, EC P-256 and EC P-384 receivers at once, decrypted by
 * `openssl cms` with each receiver's own key. Payloads rotate through 1 byte, 1 KB and 1 MB
 * (the last one takes the streaming path).
 */
const SIZES = [1, 1024, 1024 * 1024]

t.test('every algorithm option decrypts in OpenSSL for every mixed recipient', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  const receivers: Record<string, TestCertificate> = {
    rsa2048: await issueCertificate('rsa2048', { key: 'rsa-2048' }),
    rsa4096: await issueCertificate('rsa4096', { key: 'rsa-4096' }),
    ecp256: await issueCertificate('ecp256', { key: 'ec-p256' }),
    ecp384: await issueCertificate('ecp384', { key: 'ec-p384' }),
  }
  for (const [alias, cert] of Object.entries(receivers)) {
    const res = await asRole('tenant-admin').put(`/keystore/entries/${alias}`, cert.pem, {
      'content-type': 'application/x-pem-file',
    })
    t.equal(res.statusCode, 201, `stored ${alias}`)
  }

  const cases = CONTENT_ENCRYPTIONS.flatMap((contentEncryption) =>
    KEY_TRANSPORTS.flatMap((keyTransport) =>
      RECIPIENT_IDENTIFIERS.flatMap((recipientIdentifier) =>
        OUTPUT_ENCODINGS.map((encoding) => ({ contentEncryption, keyTransport, recipientIdentifier, encoding })),
      ),
    ),
  )

  const failures: string[] = []
  let decrypted = 0
  await mapLimit(cases, 2, async (c, i) => {
    const id = `m-${c.contentEncryption}-${c.keyTransport}-${c.recipientIdentifier}`.replace(/_/g, '.')
    const put = await asRole('integration-developer').put(`/encryptors/${id}`, {
      receiverAliases: Object.keys(receivers),
      contentEncryption: c.contentEncryption,
      keyTransport: c.keyTransport,
      recipientIdentifier: c.recipientIdentifier,
    })
    if (put.statusCode !== 200 && put.statusCode !== 201)
      return failures.push(`${id}: PUT ${put.statusCode} ${put.body}`)
    const payload = randomBytes(SIZES[i % SIZES.length]!)
    const res = await encrypt(app, id, payload, `?encoding=${c.encoding}`)
    const label = `${JSON.stringify(c)} ${payload.length} B`
    if (res.statusCode !== 200) return failures.push(`${label}: ${res.statusCode} ${res.body}`)
    const gcm = c.contentEncryption.endsWith('gcm')
    const expectedType = {
      der: `application/pkcs7-mime; smime-type=${gcm ? 'authEnveloped-data' : 'enveloped-data'}`,
      base64: 'text/plain; charset=us-ascii',
      pem: 'application/x-pem-file',
    }[c.encoding]
    if (res.headers['content-type'] !== expectedType)
      failures.push(`${label}: content-type ${res.headers['content-type']}`)
    // DER SET OF order: the ktri (SEQUENCE) entries sort before the kari ([1]) ones.
    const order = String(res.headers['x-cms-recipients']).split(',')
    if (order.slice(2).some((a) => a.startsWith('rsa')) || order.length !== 4)
      failures.push(`${label}: recipient order ${order}`)
    for (const [alias, receiver] of Object.entries(receivers)) {
      try {
        const plain = await opensslDecrypt(res.rawPayload, receiver, c.encoding)
        if (plain.equals(payload)) decrypted++
        else failures.push(`${label}: ${alias} decrypted different bytes`)
      } catch (err) {
        failures.push(`${label}: ${alias}: ${(err as Error).message.slice(0, 400)}`)
      }
    }
  })
  t.same(failures, [], 'every receiver decrypts every combination')
  const receiverCount = Object.keys(receivers).length
  t.equal(
    decrypted,
    cases.length * receiverCount,
    `${cases.length} combinations × ${receiverCount} receivers decrypted`,
  )
})
