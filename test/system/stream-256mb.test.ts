import * as asn1js from 'asn1js'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  closeSync,
  createReadStream,
  createWriteStream,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import { asRoleOn } from '../helpers/as-role.js'
import { auth } from '../helpers/app.js'
import { generatedPayload, httpRequest } from '../helpers/http.js'
import { listeningEncryptApp } from '../helpers/listening.js'
import { opensslDecryptFileHash } from '../helpers/openssl.js'
import { putEncryptor } from '../helpers/requests.js'
import { signerPki } from '../helpers/signer-pki.js'

const MB = 1024 * 1024
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/**
 * Large payloads stream through in bounded memory: 256 MB on the cipher threads, 32 MB with the
 * cipher on the main thread, and 256 MB signed (SignedData inside the envelope) with an RSA key.
 * Slow (hundreds of MB through OpenSSL), hence a system test.
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

/** openssl with these arguments, `stdin` piped in; resolves with the SHA-256 of its stdout. */
function opensslHash(args: string[], stdin?: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', args, { stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] })
    const hash = createHash('sha256')
    let stderr = ''
    child.stdout!.on('data', (d: Buffer) => hash.update(d))
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d
    })
    if (stdin) {
      stdin.on('error', (e) => {
        child.kill()
        reject(e)
      })
      stdin.pipe(child.stdin!)
    }
    child.on('error', reject)
    child.on('close', (code) =>
      code === 0 ? resolve(hash.digest('hex')) : reject(new Error(`openssl ${args[1]} exited ${code}: ${stderr}`)),
    )
  })
}

/** A definite-length DER header (tag, length). */
function derHeader(tag: number, length: number): Buffer {
  if (length < 0x80) return Buffer.from([tag, length])
  const octets: number[] = []
  for (let n = length; n > 0; n = Math.floor(n / 256)) octets.unshift(n % 256)
  return Buffer.from([tag, 0x80 | octets.length, ...octets])
}

/**
 * The bytes that make a SignedData of `length` bytes a ContentInfo (what openssl cms -verify reads),
 * as test/helpers/signed.ts asContentInfo wraps one held in memory: SEQUENCE { id-signedData,
 * [0] EXPLICIT SignedData }. Written in front of the file as it streams, so it is never held whole.
 */
function contentInfoPrefix(length: number): Buffer {
  const oid = Buffer.from(new asn1js.ObjectIdentifier({ value: '1.2.840.113549.1.7.2' }).toBER())
  const explicit = derHeader(0xa0, length)
  return Buffer.concat([derHeader(0x30, oid.length + explicit.length + length), oid, explicit])
}

t.test(
  'a 256 MB payload signed with an RSA key, then enveloped, streams through in bounded memory: ' +
    'DER with a Content-Length; it decrypts, then verifies to the same bytes',
  async (t) => {
    const size = 256 * MB
    const { app, port, rsa } = await listeningEncryptApp(t)
    const pki = await signerPki()
    const signer = await pki.issue('stream-signer')
    const imported = await asRoleOn(app)('tenant-admin').put('/keystore/key-pairs/stream-signer', {
      privateKey: signer.keyPem,
      certificateChain: signer.certPem + signer.chainPem,
    })
    const body = (res: { statusCode: number; body: string }) => (res.statusCode === 201 ? '' : `: ${res.body}`)
    t.equal(imported.statusCode, 201, `key pair imported${body(imported)}`)
    const saved = await putEncryptor(app, 'signed', { receiverAliases: ['rsa'], signer: { alias: 'stream-signer' } })
    t.equal(saved.statusCode, 201, `encryptor with the signer saved${body(saved)}`)

    const dir = t.testdir()
    const out = join(dir, 'signed.cms')
    const payload = generatedPayload(size, 3)
    // What the process retains, sampled after a full collection of this isolate, so the main thread's
    // GC timing drops out (a peak of raw samples reached 133 MB in one CI run). Retained: 5-8 MB in
    // most samples, 37 MB at most in the runs so far; before the cipher thread handed its batches back
    // for refilling, they piled up there as garbage until its own collector ran, a sawtooth up to 70 MB.
    gc()
    const before = process.memoryUsage()
    const peak = { rss: before.rss, heapUsed: before.heapUsed, arrayBuffers: before.arrayBuffers }
    const sampler = setInterval(() => {
      gc()
      const m = process.memoryUsage()
      peak.rss = Math.max(peak.rss, m.rss)
      peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed)
      peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers)
    }, 200)
    const started = performance.now()
    const res = await httpRequest({
      port,
      method: 'POST',
      path: '/encryptors/signed/encrypt',
      headers: { ...auth('integration-flow'), 'content-type': 'application/octet-stream', 'content-length': size },
      body: payload.stream,
      sink: createWriteStream(out),
    })
    clearInterval(sampler)
    const seconds = (performance.now() - started) / 1000
    t.equal(res.status, 200, '200')
    t.notOk(res.aborted, 'complete')
    t.equal(res.headers['x-cms-signer'], 'stream-signer', 'X-Cms-Signer names the key pair')
    t.equal(Number(res.headers['content-length']), statSync(out).size, 'DER length announced up front')
    const head = Buffer.alloc(2)
    const fd = openSync(out, 'r')
    readSync(fd, head, 0, 2, 0)
    closeSync(fd)
    t.same([...head], [0x30, 0x84], 'DER: a definite four-octet length, not BER indefinite (0x80)')

    const grew = (k: keyof typeof peak) => (peak[k] - before[k]) / MB
    t.comment(
      `signed: ${(size / MB / seconds).toFixed(0)} MB/s; retained after collection: ` +
        `heap +${grew('heapUsed').toFixed(0)} MB, array buffers +${grew('arrayBuffers').toFixed(0)} MB; ` +
        `RSS grew ${grew('rss').toFixed(0)} MB while streaming ${size / MB} MB`,
    )
    // Bounded by the streams' buffers, not by the payload: the payload (or the signed content) held once
    // would keep 256 MB alive. RSS is reported, not asserted: the allocator keeps freed pages.
    t.ok(grew('heapUsed') < 32, `V8 heap retained +${grew('heapUsed').toFixed(0)} MB (< 32 MB)`)
    t.ok(grew('arrayBuffers') < 96, `array buffers retained +${grew('arrayBuffers').toFixed(0)} MB (< 96 MB)`)

    // What the receiver does, in files: decrypt to the SignedData, wrap it as a ContentInfo on the way
    // into openssl cms -verify, and hash what the signature covers.
    const signedData = join(dir, 'signed-data.der')
    await opensslHash([
      ...['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', out],
      ...['-inkey', rsa.keyPath, '-recip', rsa.certPath, '-out', signedData],
    ])
    rmSync(out)
    const caFile = join(dir, 'ca.pem')
    writeFileSync(caFile, readFileSync(pki.rootPath, 'utf8') + readFileSync(pki.intermediatePath, 'utf8'))
    const wrapped = Readable.from(
      (async function* () {
        yield contentInfoPrefix(statSync(signedData).size)
        yield* createReadStream(signedData, { highWaterMark: MB })
      })(),
    )
    const verified = await opensslHash(['cms', '-verify', '-binary', '-inform', 'DER', '-CAfile', caFile], wrapped)
    t.equal(verified, payload.sha256(), 'the signature verifies, over the bytes sent')
    rmSync(signedData)
  },
)
