import { constants, createDecipheriv, createHash, privateDecrypt } from 'node:crypto'
import { Readable } from 'node:stream'
import t from 'tap'
import { auth, buildTestApp } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { envelopeParts } from '../helpers/cms.js'
import { generatedPayload, httpRequest } from '../helpers/http.js'
import { listeningEncryptApp } from '../helpers/listening.js'
import { opensslDecrypt } from '../helpers/openssl.js'
import { issueCertificate } from '../helpers/pki.js'
import { assertProblem, encrypt, putCertificate, putEncryptor } from '../helpers/requests.js'

const MB = 1024 * 1024

t.test('base64 and PEM stream too, with exact Content-Length', async (t) => {
  const { port, rsa } = await listeningEncryptApp(t)
  for (const encoding of ['base64', 'pem', 'der'] as const) {
    for (const chunked of [false, true]) {
      const payload = generatedPayload(3 * MB + 7)
      const res = await httpRequest({
        port,
        method: 'POST',
        path: `/encryptors/big/encrypt?encoding=${encoding}`,
        headers: { ...auth('integration-flow'), ...(chunked ? {} : { 'content-length': 3 * MB + 7 }) },
        body: payload.stream,
      })
      const label = `${encoding} ${chunked ? 'chunked' : 'content-length'}`
      t.equal(res.status, 200, label)
      if (!chunked) t.equal(Number(res.headers['content-length']), res.body.length, `${label}: length`)
      if (encoding === 'base64') t.notOk(res.body.includes(0x0a), 'base64 is one line')
      if (encoding === 'pem')
        t.match(
          res.body.toString('latin1'),
          /^-----BEGIN CMS-----\n([A-Za-z0-9+/=]{64}\n)+[A-Za-z0-9+/=]{1,64}\n-----END CMS-----\n$/,
        )
      const plain = await opensslDecrypt(res.body, rsa, encoding)
      t.equal(createHash('sha256').update(plain).digest('hex'), payload.sha256(), `${label}: decrypts`)
    }
  }
})

/** Content-encryption key and IV (or GCM nonce) sizes in bytes, per algorithm the API offers. */
const CONTENT_KEY_AND_IV = {
  'aes-128-cbc': [16, 16],
  'aes-192-cbc': [24, 16],
  'aes-256-cbc': [32, 16],
  'aes-128-gcm': [16, 12],
  'aes-256-gcm': [32, 12],
  'des-ede3-cbc': [24, 8],
} as const
const MESSAGES = 12

t.test('every message has a fresh content key, IV and ephemeral key', async (t) => {
  const app = await buildTestApp(t)
  const rsa = await issueCertificate('fresh-rsa')
  const ec = await issueCertificate('fresh-ec', { key: 'ec-p256' })
  await putCertificate(app, 'rsa', rsa)
  await putCertificate(app, 'ec', ec)
  for (const [algorithm, [keyBytes, ivBytes]] of Object.entries(CONTENT_KEY_AND_IV)) {
    await putEncryptor(app, algorithm, {
      receiverAliases: ['rsa', 'ec'],
      contentEncryption: algorithm,
      keyTransport: 'rsa-oaep-sha256',
    })
    const messages = []
    for (let i = 0; i < MESSAGES; i++) {
      const res = await encrypt(app, algorithm, 'same payload')
      t.equal(res.statusCode, 200, `${algorithm}: encrypted`)
      messages.push(res.rawPayload)
    }
    const parts = messages.map(envelopeParts)
    // The content key itself, unwrapped with the RSA receiver's private key (node:crypto, not our code).
    const contentKeys = parts.map((p) =>
      privateDecrypt(
        { key: rsa.keyPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
        p.keyTransport[0]!,
      ),
    )
    const ivs = parts.map((p) => p.iv)
    const hex = (buffers: Buffer[]) => new Set(buffers.map((b) => b.toString('hex'))).size
    t.same([...new Set(contentKeys.map((k) => k.length))], [keyBytes], `${algorithm}: ${keyBytes}-byte content keys`)
    t.same([...new Set(ivs.map((iv) => iv.length))], [ivBytes], `${algorithm}: ${ivBytes}-byte IVs`)
    t.equal(hex(contentKeys), MESSAGES, `${algorithm}: no content key repeats across ${MESSAGES} messages`)
    t.equal(hex(ivs), MESSAGES, `${algorithm}: no IV repeats`)
    t.equal(
      hex(parts.map((p) => p.keyAgreement[0]!.ephemeralKey)),
      MESSAGES,
      `${algorithm}: no ephemeral EC key repeats`,
    )
    // The key and IV read above are those the content was encrypted with (GCM also needs its tag: left to OpenSSL).
    if (algorithm.endsWith('cbc')) {
      const decipher = createDecipheriv(algorithm, contentKeys[0]!, ivs[0]!)
      const plain = Buffer.concat([decipher.update(parts[0]!.encryptedContent!), decipher.final()])
      t.equal(plain.toString(), 'same payload', `${algorithm}: the key and IV read decrypt the content`)
    }
    // And they belong to messages the receivers decrypt.
    for (const message of [messages[0]!, messages[MESSAGES - 1]!])
      for (const receiver of [rsa, ec])
        t.equal((await opensslDecrypt(message, receiver)).toString(), 'same payload', `${algorithm}: decrypts`)
  }
})

t.test('encrypt refuses what it cannot do, with a problem, before any 200', async (t) => {
  const { app, port } = await listeningEncryptApp(t, { MAX_PAYLOAD_BYTES: String(4 * MB) })
  const asRole = asRoleOn(app)
  assertProblem(t, await encrypt(app, 'nope', 'x'), 404, 'CMS_ENCRYPTOR_NOT_FOUND', 'unknown encryptor')
  assertProblem(t, await encrypt(app, 'big', ''), 400, 'CMS_EMPTY_BODY', 'empty body')
  for (const role of ['tenant-admin', 'integration-developer', 'monitor'] as const) {
    assertProblem(t, await encrypt(app, 'big', 'x', '', role), 403, 'CMS_FORBIDDEN', role)
  }
  assertProblem(
    t,
    await app.inject({ method: 'POST', url: '/encryptors/big/encrypt', payload: 'x' }),
    401,
    'CMS_UNAUTHENTICATED',
    'no token',
  )
  assertProblem(t, await encrypt(app, 'big', 'x', '?encoding=hex'), 400, 'CMS_VALIDATION_FAILED', 'unknown encoding')
  const tooBig = await asRole('integration-flow').post('/encryptors/big/encrypt', Buffer.alloc(4 * MB + 1), {
    'content-length': String(4 * MB + 1),
  })
  assertProblem(t, tooBig, 413, 'CMS_PAYLOAD_TOO_LARGE', 'declared too large')

  const emptyChunked = await httpRequest({
    port,
    method: 'POST',
    path: '/encryptors/big/encrypt',
    headers: { ...auth('integration-flow'), 'transfer-encoding': 'chunked' },
    body: Readable.from([]),
  })
  t.equal(emptyChunked.status, 400, 'empty chunked body')
  t.equal(JSON.parse(emptyChunked.body.toString()).code, 'CMS_EMPTY_BODY')

  // Chunked and over the limit: the 200 is out before the limit is reached, so the response is cut.
  const over = await httpRequest({
    port,
    method: 'POST',
    path: '/encryptors/big/encrypt',
    headers: auth('integration-flow'),
    body: generatedPayload(6 * MB).stream,
  }).catch((err: NodeJS.ErrnoException) => ({ status: 0, aborted: true, code: err.code }))
  t.ok(over.aborted, 'a chunked payload over the limit cuts the connection: never a complete success')

  // No recipient at encrypt time (a certificate removed behind the service's back).
  await app.db.deleteFrom('keystore_entries').execute()
  app.recipients.invalidate()
  assertProblem(t, await encrypt(app, 'big', 'x'), 409, 'CMS_NO_RECIPIENT', 'no recipient')
  t.equal((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode, 200, 'still ready')
})

t.test('a client that aborts mid-stream leaves the service healthy', async (t) => {
  const { app, port, rsa } = await listeningEncryptApp(t)
  const body = new Readable({ read() {} })
  const aborted = httpRequest({
    port,
    method: 'POST',
    path: '/encryptors/big/encrypt',
    headers: { ...auth('integration-flow'), 'content-length': 100 * MB },
    body,
  })
  body.push(Buffer.alloc(2 * MB))
  await new Promise((r) => setTimeout(r, 200))
  body.destroy(new Error('client gave up'))
  await aborted.catch(() => undefined)
  const after = await encrypt(app, 'big', 'still works')
  t.equal(after.statusCode, 200)
  t.equal((await opensslDecrypt(after.rawPayload, rsa)).toString(), 'still works')
})
