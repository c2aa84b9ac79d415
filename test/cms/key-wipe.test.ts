import * as nodeCrypto from 'node:crypto'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import t from 'tap'
import { CONTENT_ENCRYPTION, type ContentEncryptionName } from '../../src/cms/algorithms.js'
import { parseReceiverCertificate } from '../../src/cms/certificate.js'
import type { CipherReply, CipherRequest } from '../../src/cms/cipher-protocol.js'
import { cipherRequestHandler } from '../../src/cms/cipher-worker.js'
import { CipherWorkers } from '../../src/cms/cipher-workers.js'
import { EnvelopeEncryptStream } from '../../src/cms/encrypt-stream.js'
import { EnvelopeTemplate } from '../../src/cms/enveloped-data.js'
import { prepareRecipient, type PreparedRecipient } from '../../src/cms/recipient-info.js'
import type * as RecipientInfoModule from '../../src/cms/recipient-info.js'
import { opensslDecrypt } from '../helpers/openssl.js'
import { issueCertificate, type TestCertificate } from '../helpers/pki.js'

/**
 * Every secret of a message (content key, ECDH shared secret, KEK) sits in an allocation of its
 * own and is zeros once the message no longer needs it, on every path: buffered, streamed on the
 * main thread, streamed on a cipher worker, and when something fails. The tests hold on to the very
 * buffers the code handed to the recipients and to node:crypto, and look at them afterwards.
 */

const MB = 1024 * 1024
const isZeros = (bytes: Uint8Array) => bytes.every((b) => b === 0)
/** Zeros, or transferred to a worker (a detached view: its memory is no longer in this thread). */
const wipedOrMoved = (bytes: Uint8Array) => bytes.byteLength === 0 || isZeros(bytes)
/** Its own ArrayBuffer: not a slice of Node's shared 8 KiB pool, where a copy could outlive a wipe. */
const ownsItsMemory = (bytes: Uint8Array) => bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.byteLength

const rsa = await issueCertificate('wipe-rsa', { key: 'rsa-2048' })
const ec = await issueCertificate('wipe-ec', { key: 'ec-p256' })

/** A recipient that records the content key it was given (the message's own buffer, not a copy). */
function recording(receiver: TestCertificate, content: ContentEncryptionName, seen: Buffer[]): PreparedRecipient {
  const real = prepareRecipient(receiver.name, parseReceiverCertificate(receiver.der), {
    keyTransport: 'rsa-oaep-sha256',
    recipientIdentifier: 'issuer-serial',
    content: CONTENT_ENCRYPTION[content],
  })
  return {
    ...real,
    encode(contentKey) {
      seen.push(contentKey)
      return real.encode(contentKey)
    },
  }
}

function template(content: ContentEncryptionName, seen: Buffer[], receivers = [rsa, ec]) {
  return new EnvelopeTemplate(
    receivers.map((r) => recording(r, content, seen)),
    CONTENT_ENCRYPTION[content],
  )
}

const collect = () => {
  const parts: Buffer[] = []
  const sink = new Writable({
    write(c: Buffer, _e, cb) {
      parts.push(c)
      cb()
    },
  })
  return { sink, result: () => Buffer.concat(parts) }
}

t.test('buffered: the content key is zeros once the message is sealed, and it decrypts', async (t) => {
  for (const content of ['aes-256-cbc', 'aes-128-gcm', 'des-ede3-cbc'] as const) {
    const seen: Buffer[] = []
    const payload = Buffer.from(`buffered ${content}`)
    const sealed = template(content, seen).start().seal(payload)
    t.equal(seen.length, 2, `${content}: both recipients got the key`)
    t.equal(seen[0], seen[1], `${content}: the same buffer, no copy`)
    const key = seen[0]!
    t.equal(key.length, CONTENT_ENCRYPTION[content].keyLength)
    t.ok(ownsItsMemory(key), `${content}: the key has an allocation of its own`)
    t.ok(isZeros(key), `${content}: the key is wiped after seal`)
    for (const receiver of [rsa, ec])
      t.same(await opensslDecrypt(sealed, receiver), payload, `${content}: ${receiver.name} decrypts`)
  }
})

t.test('streamed on the main thread (CIPHER_THREADS=-1): the key is zeros once the cipher has it', async (t) => {
  const seen: Buffer[] = []
  const message = template('aes-256-gcm', seen).start()
  const payload = Buffer.alloc(3 * MB + 5, 0x5a)
  const stream = new EnvelopeEncryptStream(message, undefined, 64 * MB)
  t.ok(isZeros(seen[0]!), 'wiped as the stream starts, before any payload arrives')
  const { sink, result } = collect()
  await pipeline(Readable.from([payload.subarray(0, MB), payload.subarray(MB)]), stream, sink)
  t.ok(isZeros(seen[0]!), 'still zeros at the end')
  t.same(await opensslDecrypt(result(), rsa), payload, 'decrypts')
})

t.test('streamed on a cipher worker: no copy of the key is left on either side', async (t) => {
  const workers = new CipherWorkers(1)
  t.teardown(() => workers.close())
  const seen: Buffer[] = []
  const payload = Buffer.alloc(2 * MB + 7, 0xa5)
  const stream = new EnvelopeEncryptStream(template('aes-256-cbc', seen).start(), payload.length, 64 * MB, workers)
  // Transferred: the main thread's view of the key is detached (its memory moved to the worker).
  t.equal(seen[0]!.byteLength, 0, 'the key left this thread by transfer, not by copy')
  const { sink, result } = collect()
  await pipeline(Readable.from([payload]), stream, sink)
  t.same(await opensslDecrypt(result(), ec), payload, 'decrypts')

  // The worker's side, driven directly: the transferred key is zeros once the cipher is made.
  const replies: CipherReply[] = []
  const handle = cipherRequestHandler((reply) => replies.push(reply))
  const key = nodeCrypto.randomBytes(32)
  const start = (id: number, cipher: string): ArrayBuffer => {
    const transferred = new Uint8Array(key).buffer
    handle({ op: 'start', id, cipher, key: transferred, iv: new Uint8Array(16).buffer } satisfies CipherRequest)
    return transferred
  }
  t.ok(isZeros(new Uint8Array(start(1, 'aes-256-cbc'))), 'worker: the key is wiped once its cipher has it')
  const data = new Uint8Array(32).buffer
  handle({ op: 'update', id: 1, data, length: 32 })
  handle({ op: 'final', id: 1, authTag: false })
  const expected = nodeCrypto.createCipheriv('aes-256-cbc', key, Buffer.alloc(16))
  const ciphertext = Buffer.concat(replies.map((r) => Buffer.from((r as { data: ArrayBuffer }).data)))
  t.same(ciphertext, Buffer.concat([expected.update(Buffer.alloc(32)), expected.final()]), 'with the right key')
  t.ok(isZeros(new Uint8Array(start(2, 'no-such-cipher'))), 'worker: wiped when the cipher cannot be made')
  t.match(replies.at(-1), { id: 2, error: /./ }, 'and the failure is reported')
})

t.test('error paths: no key survives a failed or abandoned message', async (t) => {
  // A recipient that fails after the first one got the key (an RSA key that cannot encrypt, say).
  const seen: Buffer[] = []
  const [good] = template('aes-256-cbc', seen, [rsa]).recipients
  const failing: PreparedRecipient = {
    alias: 'failing',
    version: 0,
    encode: () => {
      throw new Error('cannot encrypt for this receiver')
    },
  }
  const broken = new EnvelopeTemplate([good!, failing], CONTENT_ENCRYPTION['aes-256-cbc'])
  t.throws(() => broken.start(), /cannot encrypt/)
  t.ok(isZeros(seen[0]!), 'a recipient that throws: the key is wiped before the error leaves')

  // Started, then abandoned before any cipher ran (the body never came).
  const abandoned: Buffer[] = []
  template('aes-128-cbc', abandoned).start().dispose()
  t.ok(isZeros(abandoned[0]!), 'dispose() wipes a key nothing used')

  // A stream that fails: more bytes than its Content-Length, on the main thread and on a worker.
  const workers = new CipherWorkers(1)
  t.teardown(() => workers.close())
  for (const offload of [undefined, workers]) {
    const keys: Buffer[] = []
    const stream = new EnvelopeEncryptStream(template('aes-256-cbc', keys).start(), 10, 64 * MB, offload)
    await t.rejects(
      pipeline(Readable.from([Buffer.alloc(11)]), stream, collect().sink),
      { code: 'CMS_PAYLOAD_LENGTH_MISMATCH' },
      'the stream fails',
    )
    t.ok(wipedOrMoved(keys[0]!), `${offload ? 'worker' : 'main thread'}: no key after the failure`)
  }
})

t.test('key agreement: the ECDH shared secret and the KEK are wiped once the key is wrapped', async (t) => {
  const secrets: Buffer[] = []
  const keys: Array<{ cipher: string; key: Buffer }> = []
  const { prepareRecipient: prepare, x963Kdf } = await t.mockImport<typeof RecipientInfoModule>(
    '../../src/cms/recipient-info.js',
    {
      'node:crypto': {
        ...nodeCrypto,
        createECDH(curve: string) {
          const ecdh = nodeCrypto.createECDH(curve)
          const computeSecret = ecdh.computeSecret.bind(ecdh) as (point: Buffer) => Buffer
          return Object.assign(ecdh, {
            computeSecret: (point: Buffer) => {
              const secret = computeSecret(point)
              secrets.push(secret)
              return secret
            },
          })
        },
        createCipheriv(cipher: string, key: Buffer, iv: Buffer, options?: object) {
          keys.push({ cipher, key })
          return nodeCrypto.createCipheriv(cipher, key, iv, options as never)
        },
      },
    },
  )
  const content = CONTENT_ENCRYPTION['aes-256-cbc']
  const recipient = prepare('ec', parseReceiverCertificate(ec.der), {
    keyTransport: 'rsa-oaep-sha256',
    recipientIdentifier: 'issuer-serial',
    content,
  })
  const sealed = new EnvelopeTemplate([recipient], content).start().seal(Buffer.from('agreed'))
  t.equal((await opensslDecrypt(sealed, ec)).toString(), 'agreed', 'OpenSSL decrypts')
  t.equal(secrets.length, 1)
  t.ok(secrets[0]!.length > 0 && isZeros(secrets[0]!), 'the shared secret is wiped')
  const kek = keys.find((k) => k.cipher.startsWith('id-aes'))
  t.ok(kek, 'the KEK went to AES key wrap')
  t.ok(ownsItsMemory(kek!.key), 'the KEK has an allocation of its own')
  t.ok(kek!.key.length === 32 && isZeros(kek!.key), 'the KEK is wiped')

  const derived = x963Kdf('sha256', Buffer.alloc(32, 1), Buffer.alloc(8), 48)
  t.ok(ownsItsMemory(derived) && derived.length === 48, 'x963Kdf output is its own allocation, cut to length')
})
