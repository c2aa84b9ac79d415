/**
 * `npx tsx scripts/design-measurements.ts`: the numbers docs/architecture.md quotes for its design
 * decisions, each next to its alternative in the same run.
 *   1. our CMS builder vs PKI.js `EnvelopedData.encrypt` (1 KB and 10 MB, 1 × RSA-2048, AES-256-CBC);
 *      both outputs decrypted by `openssl cms` first, so the comparison is of working messages;
 *   2. PKI.js with AES-256-GCM vs ours (AuthEnvelopedData, RFC 5083): does `openssl cms` decrypt them?
 *   3. RSA-OAEP for one recipient: `node:crypto` publicEncrypt vs WebCrypto `subtle.encrypt`;
 *   4. AES-256-CBC of 1 KB inline vs the round trip alone of handing 1 KB to a worker thread and back;
 *   5. PKI.js `EnvelopedData.encrypt` of 256 MB: how far the process grows beyond the payload itself.
 */
import { execFileSync } from 'node:child_process'
import { constants, createCipheriv, publicEncrypt, randomBytes, randomFillSync, webcrypto } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import * as asn1js from 'asn1js'
import * as pkijs from 'pkijs'
import { CONTENT_ENCRYPTION } from '../src/cms/algorithms.js'
import { parseReceiverCertificate } from '../src/cms/certificate.js'
import { EnvelopeTemplate } from '../src/cms/enveloped-data.js'
import { prepareRecipient } from '../src/cms/recipient-info.js'

const dir = mkdtempSync(join(tmpdir(), 'cms-design-'))
process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
const [key, crt] = [join(dir, 'key.pem'), join(dir, 'crt.pem')]
execFileSync(
  'openssl',
  ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt].concat([
    '-subj',
    '/CN=receiver',
    '-days',
    '2',
    '-outform',
    'DER',
  ]),
  { stdio: 'ignore' },
)
const der = execFileSync('openssl', ['x509', '-in', crt, '-inform', 'DER', '-outform', 'DER'])
const receiver = parseReceiverCertificate(der)

pkijs.setEngine('node', new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as never }))
const pkiCert = new pkijs.Certificate({ schema: asn1js.fromBER(new Uint8Array(der)).result })

type Content = 'aes-256-cbc' | 'aes-256-gcm'
/** Recipient prepared (key imported, constant parts encoded) per message, as PKI.js does; the service caches it. */
function template(content: Content): EnvelopeTemplate {
  const options = { keyTransport: 'rsa-oaep-sha256', recipientIdentifier: 'issuer-serial' } as const
  const recipient = prepareRecipient('r', receiver, { ...options, content: CONTENT_ENCRYPTION[content] })
  return new EnvelopeTemplate([recipient], CONTENT_ENCRYPTION[content])
}
const ours = (payload: Buffer, content: Content) => template(content).start().seal(payload)

async function withPkijs(payload: Buffer, name: 'AES-CBC' | 'AES-GCM'): Promise<Buffer> {
  const cms = new pkijs.EnvelopedData()
  cms.addRecipientByCertificate(pkiCert, { oaepHashAlgorithm: 'SHA-256' }, 1)
  const whole = payload.byteOffset === 0 && payload.byteLength === payload.buffer.byteLength
  await cms.encrypt(
    { name, length: 256 } as never,
    (whole ? payload.buffer : new Uint8Array(payload).buffer) as ArrayBuffer,
  )
  const info = new pkijs.ContentInfo({ contentType: pkijs.ContentInfo.ENVELOPED_DATA, content: cms.toSchema() })
  return Buffer.from(info.toSchema().toBER())
}

/** Whether `openssl cms -decrypt` gives back `payload` ('ok'), or its first line of error. */
function opensslDecrypts(message: Buffer, payload: Buffer): string {
  const file = join(dir, 'message.der')
  writeFileSync(file, message)
  try {
    const args = ['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', file, '-inkey', key]
    const out = execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 })
    return out.equals(payload) ? 'ok' : 'wrong plaintext'
  } catch (err) {
    return String((err as { stderr?: Buffer }).stderr ?? err).split('\n')[0]!
  }
}

async function msPerCall(rounds: number, fn: () => unknown): Promise<number> {
  for (let i = 0; i < Math.min(rounds, 20); i++) await fn() // warm-up
  const started = performance.now()
  for (let i = 0; i < rounds; i++) await fn()
  return (performance.now() - started) / rounds
}

console.log(`${cpus().length} cores, ${cpus()[0]?.model}, Node ${process.version}, PKI.js 4.0.0`)

console.log('\n1. one message, 1 × RSA-2048 (OAEP SHA-256), AES-256-CBC, ms per message')
for (const [label, size, rounds] of [
  ['1 KB', 1024, 500],
  ['10 MB', 10 << 20, 10],
] as const) {
  const payload = randomBytes(size)
  const checks = [opensslDecrypts(ours(payload, 'aes-256-cbc'), payload)]
  checks.push(opensslDecrypts(await withPkijs(payload, 'AES-CBC'), payload))
  const a = await msPerCall(rounds, () => ours(payload, 'aes-256-cbc'))
  const cached = template('aes-256-cbc')
  const c = await msPerCall(rounds, () => cached.start().seal(payload))
  const b = await msPerCall(rounds, () => withPkijs(payload, 'AES-CBC'))
  console.log(
    `  ${label}: PKI.js ${b.toFixed(3)}, ours ${a.toFixed(3)} (PKI.js × ${(b / a).toFixed(1)}), ` +
      `ours with the recipient cached as the service does ${c.toFixed(3)}; openssl decrypts: ${checks}`,
  )
}

console.log('\n2. AES-256-GCM, 1 KB: does openssl cms decrypt it?')
const small = randomBytes(1024)
console.log(`  ours (AuthEnvelopedData): ${opensslDecrypts(ours(small, 'aes-256-gcm'), small)}`)
console.log(`  PKI.js (EnvelopedData): ${opensslDecrypts(await withPkijs(small, 'AES-GCM'), small)}`)

console.log('\n3. RSA-OAEP (SHA-256) of a 32-byte key, µs per operation')
const cek = randomBytes(32)
const oaep = { key: receiver.keyObject, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }
const subtleKey = await webcrypto.subtle.importKey(
  'spki',
  receiver.keyObject.export({ type: 'spki', format: 'der' }),
  { name: 'RSA-OAEP', hash: 'SHA-256' },
  false,
  ['encrypt'],
)
const sync = await msPerCall(2000, () => publicEncrypt(oaep, cek))
const subtle = await msPerCall(2000, () => webcrypto.subtle.encrypt({ name: 'RSA-OAEP' }, subtleKey, cek))
console.log(
  `  node:crypto publicEncrypt ${(sync * 1000).toFixed(1)}, WebCrypto subtle.encrypt ${(subtle * 1000).toFixed(1)}`,
)

console.log('\n4. 1 KB of content: AES-256-CBC inline vs a worker round trip alone, µs per message')
const worker = new Worker(
  'const { parentPort } = require("node:worker_threads"); parentPort.on("message", (m) => ' +
    'parentPort.postMessage(m, [m.buffer]))',
  { eval: true },
)
const roundTrip = () =>
  new Promise((resolve) => {
    worker.once('message', resolve)
    const chunk = new Uint8Array(1024)
    worker.postMessage(chunk, [chunk.buffer])
  })
const cachedCbc = template('aes-256-cbc')
const inline = await msPerCall(5000, () => cachedCbc.start().seal(small))
const aesOnly = await msPerCall(5000, () => {
  const c = createCipheriv('aes-256-cbc', cek, cek.subarray(0, 16))
  return Buffer.concat([c.update(small), c.final()])
})
const hop = await msPerCall(5000, roundTrip)
console.log(
  `  AES alone ${(aesOnly * 1000).toFixed(1)}, whole message inline ${(inline * 1000).toFixed(1)}, ` +
    `worker round trip ${(hop * 1000).toFixed(1)}`,
)
await worker.terminate()

console.log('\n5. PKI.js EnvelopedData.encrypt of 256 MB (it takes and returns whole buffers)')
const input = randomFillSync(new Uint8Array(256 << 20))
const before = process.memoryUsage().rss
let peak = before
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5)
const out = await withPkijs(Buffer.from(input.buffer), 'AES-CBC')
peak = Math.max(peak, process.memoryUsage().rss)
clearInterval(sampler)
console.log(`  ${out.length >> 20} MB out; peak RSS +${((peak - before) / 2 ** 20).toFixed(0)} MB beyond the payload`)
