import { createWriteStream, statSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { auth } from '../helpers/app.js'
import { generatedPayload, httpRequest } from '../helpers/http.js'
import { listeningEncryptApp } from '../helpers/listening.js'
import { opensslDecryptFileHash } from '../helpers/openssl.js'

const MB = 1024 * 1024

/**
 * Large payloads stream through in bounded memory: 256 MB on the cipher threads, and 32 MB with the
 * cipher on the main thread. Slow (hundreds of MB through OpenSSL), hence a system test.
 */
// Cipher threads by default (CIPHER_THREADS 0); -1 keeps the cipher on the main thread.
for (const [threads, size] of [
  ['0', 256 * MB],
  ['-1', 32 * MB],
] as const)
  t.test(
    `a ${size / MB} MB payload streams through, chunked (BER) and with Content-Length (DER), CIPHER_THREADS ${threads}`,
    async (t) => {
      const { port, rsa, ec } = await listeningEncryptApp(t, { CIPHER_THREADS: threads })
      const dir = t.testdir()

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
          `${mode}: service+client RSS grew ${((rssPeak - rssBefore) / MB).toFixed(0)} MB ` +
            `while streaming ${size / MB} MB`,
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
