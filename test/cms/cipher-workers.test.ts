import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import t from 'tap'
import { CONTENT_ENCRYPTION, type ContentEncryptionName } from '../../src/cms/algorithms.js'
import { parseReceiverCertificate } from '../../src/cms/certificate.js'
import { CipherWorkers } from '../../src/cms/cipher-workers.js'
import { EnvelopeEncryptStream } from '../../src/cms/encrypt-stream.js'
import { EnvelopeTemplate } from '../../src/cms/enveloped-data.js'
import { prepareRecipient } from '../../src/cms/recipient-info.js'
import { opensslDecrypt } from '../helpers/openssl.js'
import { issueCertificate, type TestCertificate } from '../helpers/pki.js'

const MB = 1024 * 1024

/** Chunks of awkward sizes (never a multiple of the cipher block or of the 1 MiB batch). */
function payload(size: number): { stream: Readable; bytes: Buffer } {
  const bytes = Buffer.alloc(size)
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 11)) & 0xff
  const chunks: Buffer[] = []
  for (let at = 0, n = 1; at < size; at += n, n = ((n * 7 + 4093) % 700_001) + 1)
    chunks.push(bytes.subarray(at, Math.min(size, at + n)))
  return { stream: Readable.from(chunks), bytes }
}

/** One RSA-OAEP recipient, AES-256-CBC. */
const cbcTemplate = (receiver: TestCertificate) =>
  new EnvelopeTemplate(
    [
      prepareRecipient('r', parseReceiverCertificate(receiver.der), {
        keyTransport: 'rsa-oaep-sha256',
        recipientIdentifier: 'issuer-serial',
        content: CONTENT_ENCRYPTION['aes-256-cbc'],
      }),
    ],
    CONTENT_ENCRYPTION['aes-256-cbc'],
  )

const collect = () => {
  const parts: Buffer[] = []
  return {
    sink: new Writable({
      write(c: Buffer, _e, cb) {
        parts.push(c)
        cb()
      },
    }),
    result: () => Buffer.concat(parts),
  }
}

t.test(
  'the cipher on a worker thread: every algorithm, DER and BER, odd chunk sizes, decrypted by OpenSSL',
  async (t) => {
    const workers = new CipherWorkers(2)
    t.teardown(() => workers.close())
    const receiver = await issueCertificate('worker-receiver')
    const recipient = (content: ContentEncryptionName) =>
      prepareRecipient('r', parseReceiverCertificate(receiver.der), {
        keyTransport: 'rsa-oaep-sha256',
        recipientIdentifier: 'issuer-serial',
        content: CONTENT_ENCRYPTION[content],
      })
    const sizes = [1, 5 * MB + 13]
    for (const content of ['aes-256-cbc', 'aes-128-gcm', 'des-ede3-cbc'] as const) {
      for (const size of sizes) {
        for (const definite of [true, false]) {
          const template = new EnvelopeTemplate([recipient(content)], CONTENT_ENCRYPTION[content])
          const { stream, bytes } = payload(size)
          const { sink, result } = collect()
          await pipeline(
            stream,
            new EnvelopeEncryptStream(template.start(), definite ? size : undefined, 64 * MB, workers),
            sink,
          )
          const label = `${content}, ${size} bytes, ${definite ? 'DER' : 'BER'}`
          t.ok((await opensslDecrypt(result(), receiver)).equals(bytes), `${label}: decrypts to the payload`)
        }
      }
    }
    t.equal(workers.activeMessages, 0, 'every finished message released its cipher')
  },
)

t.test('an aborted stream releases its cipher; a dead worker fails its streams and is replaced', async (t) => {
  const workers = new CipherWorkers(1)
  t.teardown(() => workers.close())
  const receiver = await issueCertificate('worker-abort')
  const template = cbcTemplate(receiver)

  const endless = () =>
    new Readable({
      read() {
        this.push(Buffer.alloc(256 * 1024, 1))
      },
    })
  const aborted = new EnvelopeEncryptStream(template.start(), undefined, 1024 * MB, workers)
  const running = pipeline(endless(), aborted, collect().sink)
  await new Promise((r) => setTimeout(r, 50))
  aborted.destroy(new Error('client went away'))
  await t.rejects(running, /client went away/)
  t.equal(workers.activeMessages, 0, 'the aborted message left no cipher behind')

  const orphaned = new EnvelopeEncryptStream(template.start(), undefined, 1024 * MB, workers)
  const failing = pipeline(endless(), orphaned, collect().sink)
  await new Promise((r) => setTimeout(r, 50))
  await workers.terminateForTest()
  await t.rejects(failing, /cipher worker exited/, 'a stream whose worker died fails; it does not hang')

  const { stream, bytes } = payload(3 * MB)
  const { sink, result } = collect()
  await pipeline(stream, new EnvelopeEncryptStream(template.start(), 3 * MB, 64 * MB, workers), sink)
  t.ok((await opensslDecrypt(result(), receiver)).equals(bytes), 'the next message runs on a new worker and decrypts')
})

t.test(
  'a long stream refills the batches the worker hands back: at most five buffers of 1 MiB for 40 MiB',
  async (t) => {
    const workers = new CipherWorkers(1)
    t.teardown(() => workers.close())
    const receiver = await issueCertificate('worker-reuse')
    const template = cbcTemplate(receiver)
    // Batches of 1 MiB allocated (a batch transferred back is a new ArrayBuffer object over the same
    // memory, so allocations are what to count). Alive at once: four in flight and the one being filled
    // (this payload's chunks are under 1 MiB, so one chunk never sends two), hence five.
    let allocated = 0
    const allocUnsafeSlow = Buffer.allocUnsafeSlow
    Buffer.allocUnsafeSlow = (size: number) => {
      if (size === MB) allocated++
      return allocUnsafeSlow(size)
    }
    t.teardown(() => {
      Buffer.allocUnsafeSlow = allocUnsafeSlow
    })
    const size = 40 * MB + 5
    const { stream, bytes } = payload(size)
    const { sink, result } = collect()
    await pipeline(stream, new EnvelopeEncryptStream(template.start(), size, 64 * MB, workers), sink)
    t.ok(allocated <= 5, `${allocated} buffers of 1 MiB carried 40 MiB to the worker (at most 5)`)
    t.ok((await opensslDecrypt(result(), receiver)).equals(bytes), 'and it decrypts to the payload')
  },
)
