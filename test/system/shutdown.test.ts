import { createWriteStream, existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { Transform } from 'node:stream'
import t from 'tap'
import { freshDatabaseUrl, TOKENS } from '../helpers/app.js'
import { generatedPayload, httpRequest } from '../helpers/http.js'
import { opensslDecryptFileHash } from '../helpers/openssl.js'
import { issueCertificate } from '../helpers/pki.js'
import { callReplica, startReplica } from '../helpers/replica.js'

const MB = 1024 * 1024

/** Passes data on at about `mbPerSecond`, so a request lasts long enough to be interrupted. */
function throttle(mbPerSecond: number) {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      setTimeout(() => done(null, chunk), (chunk.length / (mbPerSecond * MB)) * 1000)
    },
  })
}

t.test(
  'SIGTERM during a large streamed encrypt: the stream completes, new requests are refused, the process exits cleanly',
  async (t) => {
    const dir = t.testdir()
    const service = await startReplica(t, 'sigterm', await freshDatabaseUrl(t), {
      LOG_LEVEL: 'info',
      SHUTDOWN_GRACE_MS: '30000',
    })
    const receiver = await issueCertificate('sigterm')
    t.equal(
      (await callReplica(service, 'PUT', '/keystore/entries/r', 'tenant-admin', { certificate: receiver.pem })).status,
      201,
    )
    t.equal(
      (await callReplica(service, 'PUT', '/encryptors/flow', 'integration-developer', { receiverAliases: ['r'] }))
        .status,
      201,
    )

    const size = 200 * MB
    const payload = generatedPayload(size)
    const out = join(dir, 'out.cms')
    const response = httpRequest({
      port: service.port,
      method: 'POST',
      path: '/encryptors/flow/encrypt',
      headers: { authorization: `Bearer ${TOKENS['integration-flow']}`, 'content-length': size },
      body: payload.stream.pipe(throttle(100)),
      sink: createWriteStream(out),
    })
    // SIGTERM once the response is streaming (its first bytes are in the file), however slow the machine.
    for (let i = 0; i < 600 && !(existsSync(out) && statSync(out).size > 0); i++)
      await new Promise((r) => setTimeout(r, 50))
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      service.process.once('exit', (code, signal) => resolve({ code, signal })),
    )
    service.process.kill('SIGTERM')

    // New requests are refused from the moment the process handles SIGTERM: poll until they are.
    let late: number | string = 200
    for (let i = 0; i < 200 && late === 200; i++) {
      await new Promise((r) => setTimeout(r, 50))
      late = await fetch(service.url('/health/live')).then(
        (r) => r.status,
        (err: Error) => (err.cause as NodeJS.ErrnoException)?.code ?? err.message,
      )
    }
    t.ok(late === 'ECONNREFUSED' || late === 503, `a new request after SIGTERM is refused (${late})`)

    const res = await response
    t.equal(res.status, 200)
    t.notOk(res.aborted, 'the in-flight stream was not cut')
    t.equal(statSync(out).size, Number(res.headers['content-length']), 'every byte announced arrived')
    t.equal(await opensslDecryptFileHash(out, receiver), payload.sha256(), 'and it decrypts to the payload')
    const { code, signal } = await exited
    t.same({ code, signal }, { code: 0, signal: null }, 'the process exits cleanly once the stream is done')
    t.ok(
      service.problems.some((l) => l.includes('shutting down')),
      'the shutdown is logged',
    )
    t.notOk(
      service.problems.some((l) => /"level":(50|60)/.test(l)),
      'no error logged',
    )
  },
)
