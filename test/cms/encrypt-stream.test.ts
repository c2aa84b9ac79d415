import { Writable } from 'node:stream'
import { finished } from 'node:stream/promises'
import t from 'tap'
import { CONTENT_ENCRYPTION } from '../../src/cms/algorithms.js'
import { parseReceiverCertificate } from '../../src/cms/certificate.js'
import { CipherWorkers } from '../../src/cms/cipher-workers.js'
import { EnvelopeEncryptStream } from '../../src/cms/encrypt-stream.js'
import { EnvelopeTemplate } from '../../src/cms/enveloped-data.js'
import { prepareRecipient } from '../../src/cms/recipient-info.js'
import { opensslDecrypt } from '../helpers/openssl.js'
import { issueCertificate } from '../helpers/pki.js'

const MB = 1024 * 1024

t.test('a stream that sends a few bytes holds no 1 MiB batch for the cipher worker', async (t) => {
  const workers = new CipherWorkers(1)
  t.teardown(() => workers.close())
  const receiver = await issueCertificate('small-streams')
  const content = CONTENT_ENCRYPTION['aes-256-cbc']
  const template = new EnvelopeTemplate(
    [
      prepareRecipient('r', parseReceiverCertificate(receiver.der), {
        keyTransport: 'rsa-oaep-sha256',
        recipientIdentifier: 'issuer-serial',
        content,
      }),
    ],
    content,
  )

  // 64 streams, 5 bytes each, all still open: whatever their batches hold is still referenced, so
  // the growth of ArrayBuffer memory is what they allocated (1 MiB each would be 64 MiB).
  const STREAMS = 64
  const before = process.memoryUsage().arrayBuffers
  const open: Array<{ stream: EnvelopeEncryptStream; out: Buffer[]; sink: Writable }> = []
  for (let i = 0; i < STREAMS; i++) {
    const stream = new EnvelopeEncryptStream(template.start(), undefined, 64 * MB, workers)
    const out: Buffer[] = []
    const sink = new Writable({
      write(c: Buffer, _e, cb) {
        out.push(c)
        cb()
      },
    })
    stream.pipe(sink)
    await new Promise<void>((resolve) => stream.write(Buffer.from(`hi ${i % 10}!`), () => resolve()))
    open.push({ stream, out, sink })
  }
  const grown = process.memoryUsage().arrayBuffers - before
  t.ok(grown < 8 * MB, `${STREAMS} open streams of 5 bytes grew ArrayBuffer memory by ${(grown / MB).toFixed(2)} MiB`)

  // They still encrypt correctly once they end.
  for (const { stream } of open) stream.end()
  await Promise.all(open.map(({ sink }) => finished(sink)))
  const first = Buffer.concat(open[3]!.out)
  t.equal((await opensslDecrypt(first, receiver)).toString(), 'hi 3!', 'a small stream decrypts')
  t.equal(workers.activeMessages, 0, 'every stream released its cipher')
})
