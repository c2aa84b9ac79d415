import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import { buildLoggedTestApp, TOKENS } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { opensslDecrypt } from '../helpers/openssl.js'
import { issueCertificate } from '../helpers/pki.js'
import { encrypt, putCertificate, putEncryptor } from '../helpers/requests.js'

const MB = 1024 * 1024
const ROUNDS = 6
const UPLOADS_PER_ROUND = Number(process.env.STORM ?? 100)
const LEAK_BOUND_MB = (UPLOADS_PER_ROUND * 40) / 1024
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** The least-squares slope of `ys` over 0, 1, 2, …: growth per step, robust to one noisy sample. */
function leastSquaresSlope(ys: number[]): number {
  const n = ys.length
  const meanX = (n - 1) / 2
  const meanY = ys.reduce((a, b) => a + b, 0) / n
  const cov = ys.reduce((sum, y, x) => sum + (x - meanX) * (y - meanY), 0)
  const varX = ys.reduce((sum, _y, x) => sum + (x - meanX) ** 2, 0)
  return cov / varX
}

/** A raw socket, so the request can lie about its length or stop anywhere, which http.request won't do. */
function rawRequest(port: number, head: string, body: Buffer, then: 'destroy' | 'end' | 'read'): Promise<string> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1')
    let received = ''
    socket.on('data', (d: Buffer) => {
      if (received.length < 4096) received += d.toString('latin1')
    })
    socket.on('error', () => resolve(received))
    socket.on('close', () => resolve(received))
    socket.write(head + '\r\n\r\n')
    socket.write(body, () => {
      if (then === 'destroy') socket.destroy()
      else if (then === 'end') socket.end()
      // 'read': leave the socket open until the server answers and closes it.
    })
    if (then === 'read') socket.setTimeout(5000, () => socket.destroy())
  })
}

const head = (lines: string[]) =>
  [
    'POST /encryptors/storm/encrypt HTTP/1.1',
    'Host: 127.0.0.1',
    `Authorization: Bearer ${TOKENS['integration-flow']}`,
    ...lines,
  ].join('\r\n')

t.test(
  'lying Content-Lengths and a storm of clients that disconnect mid-upload: ' +
    'no 5xx, nothing logged as an error, no memory kept round after round',
  async (t) => {
    const { app, log } = await buildLoggedTestApp(t, 'info', { MAX_PAYLOAD_BYTES: String(64 * MB) })
    const asRole = asRoleOn(app)
    await app.listen({ host: '127.0.0.1', port: 0 })
    const port = (app.server.address() as { port: number }).port
    const receiver = await issueCertificate('storm-receiver')
    await putCertificate(app, 'r', receiver)
    await putEncryptor(app, 'storm', { receiverAliases: ['r'] })

    // Declares more than it sends, then half-closes: the body never completes, so nothing may be answered as a success.
    const short = await rawRequest(port, head(['Content-Length: 1000']), Buffer.from('only ten!!'), 'end')
    t.notMatch(short, /^HTTP\/1\.1 200/, 'a body shorter than its Content-Length is never a 200')
    t.notMatch(short, /^HTTP\/1\.1 5/, 'nor a 5xx')

    // Declares less than it sends: the bytes after the body are not a request. Node's parser fails on
    // them and closes the connection, so the client gets a 400 problem, never a 5xx or half an answer.
    const long = await rawRequest(
      port,
      head(['Content-Length: 10']),
      Buffer.from('0123456789' + 'GARBAGE'.repeat(100)),
      'read',
    )
    t.match(long, /^HTTP\/1\.1 (200|400)/, 'bytes beyond the Content-Length: a 200 for the declared bytes, or a 400')
    t.notMatch(long, /HTTP\/1\.1 5\d\d/, 'the trailing bytes get no 5xx')
    t.match(
      long,
      /HTTP\/1\.1 400 Bad Request\r\n[^]*content-type: application\/problem\+json[^]*"code":"CMS_MALFORMED_HTTP"/i,
      'the garbage is answered with a problem',
    )

    // A Content-Length and chunked at once is request smuggling: refused by the parser.
    const both = await rawRequest(
      port,
      head(['Content-Length: 5', 'Transfer-Encoding: chunked']),
      Buffer.from('5\r\nhello\r\n0\r\n\r\n'),
      'read',
    )
    t.match(
      both,
      /^HTTP\/1\.1 400[^]*"code":"CMS_MALFORMED_HTTP"/,
      'Content-Length with Transfer-Encoding is a 400 problem',
    )

    // Headers past Node's 16 KiB limit: 431 from the catalogue, not Fastify's own JSON.
    const flood = await rawRequest(
      port,
      head(['Content-Length: 1', `X-Padding: ${'p'.repeat(20_000)}`]),
      Buffer.from('x'),
      'read',
    )
    t.match(
      flood,
      /^HTTP\/1\.1 431[^]*content-type: application\/problem\+json[^]*"code":"CMS_HEADERS_TOO_LARGE"/i,
      'a header flood is a 431 problem',
    )

    // The storm: clients that send part of a buffered or streamed body and disconnect.
    const storm = async (rounds: number) => {
      const junk = randomBytes(2 * MB)
      for (let i = 0; i < rounds; i += 20) {
        await Promise.all(
          Array.from({ length: 20 }, (_, j) => {
            const n = i + j
            const sent = junk.subarray(0, (n * 104_729) % (2 * MB))
            const lines = n % 2 === 0 ? [`Content-Length: ${4 * MB}`] : ['Transfer-Encoding: chunked']
            const body =
              n % 2 === 0
                ? sent
                : Buffer.concat([Buffer.from(sent.length.toString(16) + '\r\n'), sent, Buffer.from('\r\n')])
            return rawRequest(port, head(lines), body, n % 3 === 0 ? 'end' : 'destroy')
          }),
        )
      }
    }
    // Measured once every socket is closed and after two full collections, so only what is kept counts.
    const settled = async () => {
      for (let open = 1; open > 0;) {
        await new Promise((r) => setTimeout(r, 50))
        open = await new Promise<number>((r) => app.server.getConnections((_, n) => r(n)))
      }
      gc()
      await new Promise((r) => setImmediate(r))
      gc()
      return process.memoryUsage()
    }
    // A leak is a trend: memory that grows round after round. One sample against a tight bound is not
    // (heap and pooled buffers settle at a level that varies from run to run by more than a leak in
    // one round would add), and neither is the difference of two samples. The first round after the
    // warm-up still settles; from the second on, a leak is a least-squares slope over LEAK_BOUND_MB
    // (40 KB kept per aborted upload) that most rounds follow: one noisy sample can't make both true.
    await storm(60) // warm-up: buffers, pools and JIT reach their steady state
    const samples: Array<{ used: number; rss: number }> = []
    for (let round = 0; round < ROUNDS; round++) {
      await storm(UPLOADS_PER_ROUND)
      const after = await settled()
      samples.push({ used: (after.heapUsed + after.external) / MB, rss: after.rss / MB })
    }
    const used = samples.slice(1).map((s) => s.used)
    const slope = leastSquaresSlope(used)
    const rising = used.slice(1).filter((u, i) => u > used[i]!).length
    t.comment(
      `${ROUNDS} rounds of ${UPLOADS_PER_ROUND} aborted uploads; heap+external after each: ` +
        samples.map((s) => `${s.used.toFixed(1)}`).join(', ') +
        ` MB; RSS ${samples.map((s) => s.rss.toFixed(0)).join(', ')} MB`,
    )
    t.notOk(
      slope > LEAK_BOUND_MB && rising >= Math.ceil((used.length - 1) * 0.75),
      `no leak: ${slope.toFixed(2)} MB per round of ${UPLOADS_PER_ROUND} aborted uploads, rising in ` +
        `${rising} of ${used.length - 1} rounds (rounds 2 to ${ROUNDS}, bound ${LEAK_BOUND_MB.toFixed(1)} MB)`,
    )

    const lines = log()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { level: number; msg?: string; res?: { statusCode?: number } })
    t.same(
      lines.filter((l) => l.level >= 50),
      [],
      'nothing was logged at error level',
    )
    t.same(
      lines.filter((l) => (l.res?.statusCode ?? 0) >= 500),
      [],
      'no request was logged with a 5xx',
    )
    const metrics = (await asRole('monitor').get('/metrics')).body
    t.notMatch(metrics, /http_requests_total\{[^}]*status="5\d\d"/, 'no 5xx counted in the metrics')

    const fine = await encrypt(app, 'storm', 'after the storm')
    t.equal(fine.statusCode, 200)
    t.equal(
      (await opensslDecrypt(fine.rawPayload, receiver)).toString(),
      'after the storm',
      'the service still encrypts, and the receiver decrypts',
    )
  },
)
