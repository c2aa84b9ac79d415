import type { FastifyInstance } from 'fastify'
import { createHash } from 'node:crypto'
import { request, type IncomingMessage } from 'node:http'
import t, { type Test } from 'tap'
import { auth } from '../helpers/app.js'
import { generatedPayload, httpRequest } from '../helpers/http.js'
import { listeningEncryptApp } from '../helpers/listening.js'
import { opensslDecrypt } from '../helpers/openssl.js'
import type { TestCertificate } from '../helpers/pki.js'
import { encrypt } from '../helpers/requests.js'

/**
 * MAX_CONCURRENT_STREAMS: streamed encrypts past the limit are refused with a 503, Retry-After and
 * a problem, before their body is read; each stream gives its slot back however it ends.
 */

const MB = 1024 * 1024
const ENCRYPT = '/encryptors/big/encrypt'

/**
 * A request on its own socket whose body the test writes piece by piece: headers go out at once
 * (chunked unless a Content-Length is given), the response is collected as it comes.
 */
function openUpload(port: number, path = ENCRYPT, headers: Record<string, string | number> = {}) {
  const req = request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path,
    headers: { ...auth('integration-flow'), 'content-type': 'application/octet-stream', ...headers },
  })
  req.on('error', () => undefined) // aborts are the point here
  const chunks: Buffer[] = []
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.once('response', (res: IncomingMessage) => {
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', () => undefined)
      resolve(res)
    })
    req.once('close', () => reject(new Error('closed before a response')))
  })
  response.catch(() => undefined)
  req.flushHeaders()
  /** The whole response body, once the server has ended it. */
  const body = async () => {
    const res = await response
    if (!res.complete) await new Promise((resolve) => res.once('end', resolve))
    return Buffer.concat(chunks)
  }
  /** Resolves when the connection is gone, whoever closed it. */
  const closed = new Promise<void>((resolve) => req.once('socket', (socket) => socket.once('close', () => resolve())))
  return { req, response, body, closed }
}

/** An upload the server accepted: 200 out, body still open. */
async function heldStream(port: number, first = 'first bytes, ') {
  const upload = openUpload(port, ENCRYPT, { 'transfer-encoding': 'chunked' })
  upload.req.write(first)
  const res = await upload.response
  if (res.statusCode !== 200) throw new Error(`expected a 200 for a held stream, got ${res.statusCode}`)
  return upload
}

async function streamsInProgress(app: FastifyInstance): Promise<number> {
  const res = await app.inject({ method: 'GET', url: '/metrics', headers: auth('monitor') })
  return Number(/^cms_encrypt_streams_in_progress (\d+)$/m.exec(res.body)?.[1])
}

/** Waits (bounded) until the service counts `n` streams in progress; returns what it counted last. */
async function settledStreams(app: FastifyInstance, n: number): Promise<number> {
  let count = await streamsInProgress(app)
  for (let i = 0; i < 500 && count !== n; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10))
    count = await streamsInProgress(app)
  }
  return count
}

/** A whole 1.5 MB chunked stream is accepted, and OpenSSL decrypts it to the same bytes. */
async function assertAcceptsAndDecrypts(t: Test, port: number, receiver: TestCertificate) {
  const payload = generatedPayload(1.5 * MB)
  const res = await httpRequest({
    port,
    method: 'POST',
    path: ENCRYPT,
    headers: { ...auth('integration-flow'), 'transfer-encoding': 'chunked' },
    body: payload.stream,
  })
  t.equal(res.status, 200, 'a new stream is accepted')
  const plain = await opensslDecrypt(res.body, receiver)
  t.equal(createHash('sha256').update(plain).digest('hex'), payload.sha256(), 'and OpenSSL decrypts it')
}

/** Asserts the 503 of a full replica: problem+json, CMS_TOO_MANY_STREAMS, Retry-After. */
async function assertRefused(t: Test, upload: ReturnType<typeof openUpload>, label: string) {
  const res = await upload.response
  t.equal(res.statusCode, 503, `${label}: 503`)
  t.equal(res.headers['retry-after'], '1', `${label}: Retry-After`)
  t.match(res.headers['content-type'], /^application\/problem\+json/, `${label}: problem+json`)
  const problem = JSON.parse((await upload.body()).toString())
  t.equal(problem.code, 'CMS_TOO_MANY_STREAMS', `${label}: code`)
  t.equal(problem.status, 503, `${label}: status in the problem`)
  upload.req.destroy()
}

t.test('past the limit a stream gets 503 + Retry-After before its body; the slots come back', async (t) => {
  const { app, port, rsa, ec } = await listeningEncryptApp(t, { MAX_CONCURRENT_STREAMS: '2' })
  const one = await heldStream(port, 'one: ')
  const two = await heldStream(port, 'two: ')
  t.equal(await streamsInProgress(app), 2, 'two streams in progress')

  // The third sends its headers only: the 503 comes without the service waiting for any body.
  await assertRefused(t, openUpload(port, ENCRYPT, { 'transfer-encoding': 'chunked' }), 'chunked')
  await assertRefused(t, openUpload(port, ENCRYPT, { 'content-length': 10 * MB }), 'large Content-Length')
  const small = await encrypt(app, 'big', 'a small payload is read whole, not streamed')
  t.equal(small.statusCode, 200, 'buffered encrypts are not limited')

  // One ends normally and decrypts; the other is aborted by its client.
  one.req.end('the end')
  t.equal((await opensslDecrypt(await one.body(), rsa)).toString(), 'one: the end', 'a held stream completes')
  two.req.destroy()
  t.equal(await settledStreams(app, 0), 0, 'both slots released')

  await assertAcceptsAndDecrypts(t, port, ec)
})

t.test('after many streams that ended badly, the limit is whole again', async (t) => {
  const { app, port, rsa } = await listeningEncryptApp(t, {
    MAX_CONCURRENT_STREAMS: '2',
    MAX_PAYLOAD_BYTES: String(2 * MB),
  })
  const ends: Record<string, () => Promise<unknown>> = {
    'client aborts mid-body (chunked)': async () => {
      const s = await heldStream(port)
      s.req.destroy()
      await s.closed
    },
    'client aborts mid-body (Content-Length, DER)': async () => {
      const s = openUpload(port, ENCRYPT, { 'content-length': MB })
      s.req.write(Buffer.alloc(64 * 1024))
      await s.response
      s.req.destroy()
      await s.closed
    },
    'client aborts before any body': async () => {
      const s = openUpload(port, ENCRYPT, { 'transfer-encoding': 'chunked' })
      await new Promise((resolve) => setTimeout(resolve, 20))
      s.req.destroy()
      await s.closed
    },
    'payload over MAX_PAYLOAD_BYTES (the service cuts the stream)': async () => {
      const res = await httpRequest({
        port,
        method: 'POST',
        path: ENCRYPT,
        headers: { ...auth('integration-flow'), 'transfer-encoding': 'chunked' },
        body: generatedPayload(3 * MB).stream,
      }).catch(() => ({ aborted: true }))
      t.ok(res.aborted, 'the oversized stream is cut')
    },
    'unknown encryptor (an error before the body)': async () => {
      const s = openUpload(port, '/encryptors/nope/encrypt', { 'transfer-encoding': 'chunked' })
      t.equal((await s.response).statusCode, 404, 'unknown encryptor: 404')
      s.req.destroy()
    },
  }
  // Three rounds of every kind of end: 15 streams through 2 slots.
  for (let round = 0; round < 3; round++) {
    for (const [label, end] of Object.entries(ends)) {
      await end()
      t.equal(await settledStreams(app, 0), 0, `round ${round}, ${label}: slot released`)
    }
  }

  const one = await heldStream(port)
  const two = await heldStream(port)
  t.pass('two streams accepted again: no slot leaked')
  await assertRefused(t, openUpload(port, ENCRYPT, { 'transfer-encoding': 'chunked' }), 'third')
  two.req.end()
  one.req.end('the end')
  t.equal((await opensslDecrypt(await one.body(), rsa)).toString(), 'first bytes, the end', 'held stream decrypts')
  await two.body()
  t.equal(await settledStreams(app, 0), 0)
  await assertAcceptsAndDecrypts(t, port, rsa)
})

t.test('a stream closed by the idle timeout gives its slot back', async (t) => {
  const { app, port, rsa } = await listeningEncryptApp(t, { MAX_CONCURRENT_STREAMS: '1', IDLE_TIMEOUT_MS: '300' })
  const idle = await heldStream(port)
  await idle.closed // the client sends nothing more: the service closes the connection
  t.equal(await settledStreams(app, 0), 0, 'released')
  await assertAcceptsAndDecrypts(t, port, rsa)
})
