import { createHash } from 'node:crypto'
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import t from 'tap'
import { auth, buildTestApp } from '../helpers/app.js'
import { generatedPayload, httpRequest } from '../helpers/http.js'
import { opensslDecrypt, opensslDecryptFileHash } from '../helpers/openssl.js'
import { issueCertificate } from '../helpers/pki.js'
import { assertProblem, encrypt, putCertificate, putEncryptor } from '../helpers/requests.js'

const MB = 1024 * 1024

async function listeningApp(t: Parameters<typeof buildTestApp>[0], config: Parameters<typeof buildTestApp>[1] = {}) {
  const app = await buildTestApp(t, config)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  const rsa = await issueCertificate('stream-rsa')
  const ec = await issueCertificate('stream-ec', { key: 'ec-p256' })
  await putCertificate(app, 'rsa', rsa)
  await putCertificate(app, 'ec', ec)
  await putEncryptor(app, 'big', { receiverAliases: ['rsa', 'ec'] })
  return { app, port, rsa, ec }
}

// Cipher threads by default (CIPHER_THREADS 0); -1 keeps the cipher on the main thread.
for (const [threads, size] of [
  ['0', 256 * MB],
  ['-1', 32 * MB],
] as const)
  t.test(
    `a ${size / MB} MB payload streams through, chunked (BER) and with Content-Length (DER), CIPHER_THREADS ${threads}`,
    async (t) => {
      const { port, rsa, ec } = await listeningApp(t, { CIPHER_THREADS: threads })
      const dir = mkdtempSync(join(tmpdir(), 'cms-stream-'))
      t.teardown(() => rmSync(dir, { recursive: true, force: true }))

      for (const mode of ['chunked', 'content-length'] as const) {
        const payload = generatedPayload(size, mode === 'chunked' ? 1 : 2)
        const out = join(dir, `${mode}.cms`)
        const rssBefore = process.memoryUsage().rss
        let rssPeak = rssBefore
        const sampler = setInterval(() => {
          rssPeak = Math.max(rssPeak, process.memoryUsage().rss)
        }, 50)
        const res = await httpRequest({
          port,
          method: 'POST',
          path: '/encryptors/big/encrypt',
          headers: {
            ...auth('integration-flow'),
            'content-type': 'application/octet-stream',
            ...(mode === 'content-length' ? { 'content-length': size } : {}),
          },
          body: payload.stream,
          sink: createWriteStream(out),
        })
        clearInterval(sampler)
        t.equal(res.status, 200, `${mode}: 200`)
        t.notOk(res.aborted, `${mode}: complete`)
        if (mode === 'content-length')
          t.equal(Number(res.headers['content-length']), statSync(out).size, 'DER length announced up front')
        else t.equal(res.headers['transfer-encoding'], 'chunked')
        t.comment(
          `${mode}: service+client RSS grew ${((rssPeak - rssBefore) / MB).toFixed(0)} MB while streaming ${size / MB} MB`,
        )
        const expected = payload.sha256()
        const receivers = mode === 'chunked' ? [rsa, ec] : [ec]
        for (const receiver of receivers)
          t.equal(
            await opensslDecryptFileHash(out, receiver),
            expected,
            `${mode}: ${receiver.name} decrypts the same bytes`,
          )
        rmSync(out)
      }
    },
  )

t.test('base64 and PEM stream too, with exact Content-Length', async (t) => {
  const { port, rsa } = await listeningApp(t)
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

t.test('every message has a fresh content key and IV', async (t) => {
  const app = await buildTestApp(t)
  const rsa = await issueCertificate('fresh')
  await putCertificate(app, 'fresh', rsa)
  await putEncryptor(app, 'fresh', { receiverAliases: ['fresh'], contentEncryption: 'aes-128-gcm' })
  const one = await encrypt(app, 'fresh', 'same payload')
  const two = await encrypt(app, 'fresh', 'same payload')
  t.not(one.rawPayload.toString('hex'), two.rawPayload.toString('hex'))
  // The last 16+12 bytes differ: GCM tag over a different key/nonce (and the nonce itself sits in the header).
  t.not(one.rawPayload.subarray(-16).toString('hex'), two.rawPayload.subarray(-16).toString('hex'))
  t.equal((await opensslDecrypt(one.rawPayload, rsa)).toString(), 'same payload')
  t.equal((await opensslDecrypt(two.rawPayload, rsa)).toString(), 'same payload')
})

t.test('encrypt refuses what it cannot do, with a problem, before any 200', async (t) => {
  const { app, port } = await listeningApp(t, { MAX_PAYLOAD_BYTES: String(4 * MB) })
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
  const tooBig = await app.inject({
    method: 'POST',
    url: '/encryptors/big/encrypt',
    headers: { ...auth('integration-flow'), 'content-length': String(4 * MB + 1) },
    payload: Buffer.alloc(4 * MB + 1),
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
  const { app, port, rsa } = await listeningApp(t)
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
