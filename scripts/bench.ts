/**
 * `npm run bench`: the service on loopback, each number next to a baseline measured in the same run.
 *   small:   1, 10, 50 KB payloads × 1, 2, 5 RSA-2048 recipients, and EC P-256; 50 connections,
 *            BENCH_SECONDS (10) each after a warm-up, next to a bare Fastify route answering 200 to
 *            the same POST body (the HTTP floor). The client is wrk when installed (Debian: `wrk`),
 *            else autocannon: autocannon reads random binary responses ~10× slower than zeros, so
 *            from 10 KB up it measures itself, not the service. BENCH_CLIENT=autocannon forces it.
 *   large:   64 MB, 256 MB, 1 GB streamed, chunked and with Content-Length, next to
 *            `openssl cms -encrypt -stream -binary -aes256` on the same file and recipients; MB/s
 *            and peak RSS growth of the service (and of openssl).
 *   signed:  sign-then-encrypt next to the encrypt-only rows of the same run, same recipients and
 *            content cipher: 1 KB for 2 RSA-2048 recipients with an RSA-2048 and a P-256 signer
 *            (self-signed key pairs made here, like the receivers), and 1 GB streamed (RSA-2048 +
 *            P-256 recipients), chunked and with Content-Length, interleaved with encrypt-only
 *            (BENCH_SIGNED_ROUNDS rounds, 3; medians), with the service's main-thread CPU time, next to
 *            `openssl cms -sign -stream | openssl cms -encrypt -stream` on the same file.
 *   scaling: cost per message against recipient count (1..10) and payload size.
 * Prints tables, then one JSON line. BENCH_QUICK=1 shortens everything (a smoke run); BENCH_ONLY=signed
 * runs the signed rows and their encrypt-only baselines only (1 KB, 1 GB; no scaling), to repeat them.
 */
import autocannon from 'autocannon'
import { execFile, execFileSync, fork, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, createWriteStream, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import {
  call,
  certificate,
  children,
  putSigner,
  rssMB,
  signerKeyPair,
  startService,
  threadCpuSeconds,
  TOKENS,
  workDir as dir,
  type SignerKeyPair,
} from './lib/service.js'

const QUICK = process.env.BENCH_QUICK === '1'
const SECONDS = Number(process.env.BENCH_SECONDS ?? (QUICK ? 2 : 10))
const WARMUP = QUICK ? 1 : 2
const SIGNED_ONLY = process.env.BENCH_ONLY === 'signed'
const LARGE_MB = QUICK ? [16] : SIGNED_ONLY ? [1024] : [64, 256, 1024]
/** The large size that also runs signed, and how many interleaved rounds. */
const SIGNED_MB = LARGE_MB.at(-1)!
const SIGNED_ROUNDS = Number(process.env.BENCH_SIGNED_ROUNDS ?? (QUICK ? 1 : 3))
const SCALING_SECONDS = QUICK ? 1 : 3
const MB = 1024 * 1024

/** `bytes` of random data, a megabyte at a time: incompressible, like the payloads the service is sized for. */
async function* randomChunks(bytes: number) {
  for (let left = bytes; left > 0; left -= MB) yield randomBytes(Math.min(left, MB))
}

async function startFloor(): Promise<number> {
  const child = fork('scripts/floor-server.ts', {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  })
  children.push(child)
  return new Promise((resolve) => child.once('message', (m: { port: number }) => resolve(m.port)))
}

interface Load {
  reqPerSec: number
  p50: number
  p99: number
  errors: number
}
const HEADERS = { authorization: `Bearer ${TOKENS.flow}`, 'content-type': 'application/octet-stream' }

// `wrk --version` exits 1 after printing its usage; only a missing binary (ENOENT) means no wrk.
const hasWrk =
  (() => {
    try {
      execFileSync('wrk', ['--version'], { stdio: 'ignore' })
      return true
    } catch (e) {
      return (e as NodeJS.ErrnoException).code !== 'ENOENT'
    }
  })() && process.env.BENCH_CLIENT !== 'autocannon'
const CLIENT = hasWrk ? 'wrk' : 'autocannon'

async function load(url: string, body: Buffer, seconds = SECONDS, connections = 50): Promise<Load> {
  if (CLIENT === 'wrk') {
    await wrk(url, body, WARMUP, connections)
    return wrk(url, body, seconds, connections)
  }
  await autocannon({ url, method: 'POST', headers: HEADERS, body, connections, duration: WARMUP })
  const r = await autocannon({ url, method: 'POST', headers: HEADERS, body, connections, duration: seconds })
  return {
    reqPerSec: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.timeouts + r.non2xx,
  }
}

/** wrk on one thread (the other core is the service's), POSTing `body`; parses its --latency report. */
async function wrk(url: string, body: Buffer, seconds: number, connections: number): Promise<Load> {
  const bodyFile = join(dir, 'wrk-body'),
    script = join(dir, 'wrk-post.lua')
  writeFileSync(bodyFile, body)
  writeFileSync(
    script,
    [
      'wrk.method = "POST"',
      `local f = io.open(${JSON.stringify(bodyFile)}, "rb"); wrk.body = f:read("*a"); f:close()`,
      ...Object.entries(HEADERS).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`),
    ].join('\n'),
  )
  const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) =>
    execFile('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-s', script, url], (err, stdout) =>
      err ? reject(err) : resolve({ stdout }),
    ),
  )
  const ms = (label: string) => {
    const m = new RegExp(`${label}%\\s+([\\d.]+)(us|ms|s)`).exec(stdout)
    if (!m) return NaN
    return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1)
  }
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout)
  const errors =
    Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0) +
    (socketErrors ? socketErrors.slice(1).reduce((n, v) => n + Number(v), 0) : 0)
  return {
    reqPerSec: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN),
    p50: ms('50'),
    p99: ms('99'),
    errors,
  }
}

/** Peak RSS of `pid` above `baseline` while `work` runs (sampled every 20 ms from /proc). */
async function peakRss<T>(
  pid: number,
  work: () => Promise<T>,
): Promise<{ result: T; baselineMB: number; peakGrowthMB: number }> {
  const rss = () => rssMB(pid)
  const baselineMB = rss()
  let peak = baselineMB
  const timer = setInterval(() => {
    peak = Math.max(peak, rss())
  }, 20)
  try {
    const result = await work()
    return { result, baselineMB, peakGrowthMB: peak - baselineMB }
  } finally {
    clearInterval(timer)
  }
}

/**
 * Streams a file through the encrypt endpoint with curl (a Node client was slower than the service
 * and would have measured itself): `-T file` sends a Content-Length, `-T -` from stdin is chunked.
 * stdin is the file itself: piping it through this process halved the chunked rate (measuring us).
 */
function streamFile(port: number, file: string, chunked: boolean, id = 'large'): Promise<number> {
  // The response headers, for the error message: a 503 CMS_OVERLOADED (load shedding when the loop
  // lags, on a machine busy with something else) shows up as a reset while curl is still uploading.
  const headers = join(dir, 'curl-headers')
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const input = chunked ? openSync(file, 'r') : 'ignore'
    const child = spawn(
      'curl',
      [
        '-sS',
        '-f',
        '-o',
        '/dev/null',
        '-D',
        headers,
        '-X',
        'POST',
        '-T',
        chunked ? '-' : file,
        '-H',
        `authorization: ${HEADERS.authorization}`,
        '-H',
        'content-type: application/octet-stream',
        `http://127.0.0.1:${port}/encryptors/${id}/encrypt`,
      ],
      { stdio: [input, 'ignore', 'inherit'] },
    )
    if (typeof input === 'number') closeSync(input) // curl has its own copy
    child.on('error', reject)
    child.on('exit', (code) => {
      if (code === 0) return resolve((performance.now() - started) / 1000)
      let status = ''
      try {
        status = readFileSync(headers, 'latin1').split('\r\n')[0] ?? ''
      } catch {
        /* no response at all */
      }
      const mode = chunked ? 'chunked' : 'Content-Length'
      reject(new Error(`curl exited ${code} streaming to ${id} (${mode}): ${status || 'no response'}`))
    })
  })
}

async function opensslStream(file: string, recipients: string[]): Promise<{ seconds: number; peakRssMB: number }> {
  const started = performance.now()
  const child = spawn('openssl', [
    'cms',
    '-encrypt',
    '-stream',
    '-binary',
    '-aes256',
    '-outform',
    'DER',
    '-in',
    file,
    '-out',
    '/dev/null',
    ...recipients,
  ])
  let peak = 0
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMB(child.pid!))
  }, 20)
  await new Promise((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve(null) : reject(new Error(`openssl exited ${code}`)))),
  )
  clearInterval(timer)
  return { seconds: (performance.now() - started) / 1000, peakRssMB: peak }
}

/**
 * The sign-then-encrypt baseline: `openssl cms -sign -stream` piped into `openssl cms -encrypt -stream`,
 * two processes, so the digest and the cipher run on separate cores as in the service. Wall time and
 * the peak of both processes' RSS together.
 */
async function opensslSignEncrypt(
  file: string,
  signer: SignerKeyPair,
  recipients: string[],
): Promise<{ seconds: number; peakRssMB: number }> {
  const started = performance.now()
  const signing = spawn(
    'openssl',
    [
      ...['cms', '-sign', '-stream', '-binary', '-nodetach', '-nosmimecap', '-md', 'sha256', '-outform', 'DER'],
      ...['-signer', signer.crt, '-inkey', signer.key, '-in', file],
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const encrypting = spawn(
    'openssl',
    ['cms', '-encrypt', '-stream', '-binary', '-aes256', '-outform', 'DER', '-out', '/dev/null', ...recipients],
    { stdio: [signing.stdout, 'ignore', 'inherit'] },
  )
  let peak = 0
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMB(signing.pid!) + rssMB(encrypting.pid!))
  }, 20)
  const exited = (child: ReturnType<typeof spawn>, what: string) =>
    new Promise((resolve, reject) =>
      child.on('exit', (code) => (code === 0 ? resolve(null) : reject(new Error(`openssl ${what} exited ${code}`)))),
    )
  await Promise.all([exited(signing, 'cms -sign'), exited(encrypting, 'cms -encrypt')])
  clearInterval(timer)
  return { seconds: (performance.now() - started) / 1000, peakRssMB: peak }
}

const f = (n: number, d = 0) => n.toFixed(d)
const service = await startService()
const floorPort = await startFloor()
const rsa = Array.from({ length: 10 }, (_, i) => certificate(`rsa${i}`, 'rsa'))
const ec = [certificate('ec0', 'ec'), certificate('ec1', 'ec')]
for (const c of [...rsa, ...ec])
  await call(service.port, 'PUT', `/keystore/entries/${c.name}`, TOKENS.admin, c.pem, 'application/x-pem-file')
const signers = { rsa: signerKeyPair('signer-rsa2048', 'rsa-2048'), ec: signerKeyPair('signer-p256', 'ec-p256') }
const signerLabel = { rsa: 'RSA-2048', ec: 'P-256' } as const
for (const s of Object.values(signers)) await putSigner(service.port, s)
const encryptor = async (id: string, aliases: string[], signer?: SignerKeyPair) =>
  call(
    service.port,
    'PUT',
    `/encryptors/${id}`,
    TOKENS.dev,
    JSON.stringify({ receiverAliases: aliases, ...(signer ? { signer: { alias: signer.name } } : {}) }),
    'application/json',
  )
const encryptUrl = (id: string) => `http://127.0.0.1:${service.port}/encryptors/${id}/encrypt`

// --- small ---
const small: Array<Record<string, unknown>> = []
console.log(
  `small messages: ${CLIENT}, 50 connections, ${SECONDS} s each (after ${WARMUP} s warm-up), ` +
    `${cpus().length} cores, service LOG_LEVEL ${process.env.LOG_LEVEL ?? 'info'}`,
)
console.log('  payload  recipients                 req/s   p50 ms  p99 ms  errors   floor req/s  ratio')
for (const kb of QUICK || SIGNED_ONLY ? [1] : [1, 10, 50]) {
  const body = Buffer.alloc(kb * 1024, 0x61)
  const floor = await load(`http://127.0.0.1:${floorPort}/floor`, body)
  type SmallCase = [label: string, aliases: string[], signer?: keyof typeof signers]
  const twoRsa = rsa.slice(0, 2).map((c) => c.name)
  const cases: SmallCase[] = [
    ['1 × RSA', rsa.slice(0, 1).map((c) => c.name)],
    ['2 × RSA', twoRsa],
    // Signed right after their encrypt-only row: same recipients, same content cipher (AES-256-CBC).
    ...(kb === 1
      ? (['rsa', 'ec'] as const).map((s): SmallCase => [`2 × RSA, signed ${signerLabel[s]}`, twoRsa, s])
      : []),
    ['5 × RSA', rsa.slice(0, 5).map((c) => c.name)],
    ...(kb === 1 ? [['2 × EC P-256', ec.map((c) => c.name)] as SmallCase] : []),
  ]
  for (const [label, aliases, signer] of QUICK || SIGNED_ONLY ? cases.filter(([, a]) => a === twoRsa) : cases) {
    const id = `small-${aliases.join('-')}${signer ? `-signed-${signer}` : ''}`
    await encryptor(id, aliases, signer && signers[signer])
    const r = await load(encryptUrl(id), body)
    const ratio = r.reqPerSec / floor.reqPerSec
    small.push({
      payloadKB: kb,
      recipients: label,
      ...(signer ? { signer: signerLabel[signer] } : {}),
      ...r,
      floorReqPerSec: floor.reqPerSec,
      ratio,
    })
    console.log(
      `  ${`${kb} KB`.padStart(7)}  ${label.padEnd(24)} ${f(r.reqPerSec).padStart(8)}  ` +
        `${String(r.p50).padStart(7)} ${String(r.p99).padStart(7)}  ${String(r.errors).padStart(6)}  ` +
        `${f(floor.reqPerSec).padStart(12)}  ${f(ratio, 3)}`,
    )
  }
}

// --- large ---
console.log('large payloads, 2 recipients (RSA-2048 + EC P-256), AES-256-CBC, DER out')
console.log('  size     input           service MB/s  RSS growth MB   openssl MB/s  openssl RSS MB  ratio')
const largeRecipients = [rsa[0]!.name, ec[0]!.name]
await encryptor('large', largeRecipients)
for (const s of ['rsa', 'ec'] as const) await encryptor(`large-signed-${s}`, largeRecipients, signers[s])
const large: Array<Record<string, unknown>> = []
const signedLarge: Array<Record<string, unknown>> = []
const signedLines: string[] = []
for (const size of LARGE_MB) {
  const file = join(dir, `payload-${size}`)
  await pipeline(randomChunks(size * MB), createWriteStream(file))
  const openssl = await opensslStream(file, [rsa[0]!.crt, ec[0]!.crt])
  for (const chunked of [true, false]) {
    const { result: seconds, peakGrowthMB } = await peakRss(service.pid, () => streamFile(service.port, file, chunked))
    const mbPerSec = size / seconds,
      opensslMbPerSec = size / openssl.seconds
    large.push({
      megabytes: size,
      input: chunked ? 'chunked' : 'content-length',
      mbPerSec,
      serviceRssGrowthMB: peakGrowthMB,
      opensslMbPerSec,
      opensslPeakRssMB: openssl.peakRssMB,
      ratio: mbPerSec / opensslMbPerSec,
    })
    console.log(
      `  ${`${size} MB`.padStart(7)}  ${(chunked ? 'chunked' : 'Content-Length').padEnd(15)} ` +
        `${f(mbPerSec).padStart(12)}  ${f(peakGrowthMB).padStart(13)}   ${f(opensslMbPerSec).padStart(12)}  ` +
        `${f(openssl.peakRssMB).padStart(14)}  ${f(mbPerSec / opensslMbPerSec, 2)}`,
    )
  }
  if (size === SIGNED_MB) await signedStreams(file, size)
  rmSync(file)
}

/**
 * 1 GB signed and not, interleaved: encrypt-only, RSA-2048 signer, P-256 signer, SIGNED_ROUNDS times
 * per input, medians. One request each would compare slow and fast periods of this machine (see
 * the large table), not the signature. Also the CPU time of the service's main thread (socket I/O,
 * and the SHA-256 of the payload when signing) and of its other threads (the cipher thread; V8's GC
 * helpers; libuv's pool for the signature), per request.
 */
async function signedStreams(file: string, size: number) {
  const variants = [
    ['encrypt only', 'large'],
    ...(['rsa', 'ec'] as const).map((s) => [signerLabel[s], `large-signed-${s}`]),
  ] as const
  const openssl = new Map<string, { mbPerSec: number; peakRssMB: number }>()
  for (const s of ['rsa', 'ec'] as const) {
    const r = await opensslSignEncrypt(file, signers[s], [rsa[0]!.crt, ec[0]!.crt])
    openssl.set(signerLabel[s], { mbPerSec: size / r.seconds, peakRssMB: r.peakRssMB })
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  for (const chunked of [true, false]) {
    const runs = new Map<string, Array<{ mbPerSec: number; rssMB: number; main: number; others: number }>>()
    for (let round = 0; round < SIGNED_ROUNDS; round++)
      for (const [label, id] of variants) {
        const before = threadCpuSeconds(service.pid)
        const { result: seconds, peakGrowthMB } = await peakRss(service.pid, () =>
          streamFile(service.port, file, chunked, id),
        )
        const after = threadCpuSeconds(service.pid)
        runs.set(label, [
          ...(runs.get(label) ?? []),
          {
            mbPerSec: size / seconds,
            rssMB: peakGrowthMB,
            main: after.main - before.main,
            others: after.others - before.others,
          },
        ])
      }
    const base = median(runs.get('encrypt only')!.map((r) => r.mbPerSec))
    for (const [label] of variants) {
      const rs = runs.get(label)!
      const row = {
        megabytes: size,
        signer: label === 'encrypt only' ? null : label,
        input: chunked ? 'chunked' : 'content-length',
        mbPerSec: median(rs.map((r) => r.mbPerSec)),
        mbPerSecRuns: rs.map((r) => Math.round(r.mbPerSec)),
        serviceRssGrowthMB: Math.max(...rs.map((r) => r.rssMB)),
        mainThreadCpuSeconds: median(rs.map((r) => r.main)),
        otherThreadsCpuSeconds: median(rs.map((r) => r.others)),
        vsEncryptOnly: median(rs.map((r) => r.mbPerSec)) / base,
        opensslSignEncryptMbPerSec: openssl.get(label)?.mbPerSec,
        opensslPeakRssMB: openssl.get(label)?.peakRssMB,
      }
      signedLarge.push(row)
      const o = openssl.get(label)
      signedLines.push(
        `  ${`${size} MB`.padStart(7)}  ${label.padEnd(12)} ${(chunked ? 'chunked' : 'Content-Length').padEnd(15)}` +
          `${f(row.mbPerSec).padStart(5)}  ${rs
            .map((r) => f(r.mbPerSec))
            .join(',')
            .padEnd(12)}` +
          `${f(row.serviceRssGrowthMB).padStart(8)}  ${f(row.mainThreadCpuSeconds, 2).padStart(8)}  ` +
          `${f(row.otherThreadsCpuSeconds, 2).padStart(6)}  ${f(row.vsEncryptOnly, 2).padStart(5)}  ` +
          `${(o ? f(o.mbPerSec) : '').padStart(8)}  ${(o ? f(row.mbPerSec / o.mbPerSec, 2) : '').padStart(5)}`,
      )
    }
  }
}
console.log(
  `sign-then-encrypt, streamed: same recipients, AES-256-CBC; ${SIGNED_ROUNDS} interleaved rounds, medians; ` +
    'CPU s per request;',
)
console.log('openssl: cms -sign -stream | cms -encrypt -stream (two processes, the digest and the cipher apart)')
console.log('  size     signer       input           MB/s  runs        RSS MB  main CPU  others  ×enc  openssl  ratio')
for (const line of signedLines) console.log(line)

// --- scaling ---
/** Least-squares slope and R² of y over x: linear cost shows as R² near 1. */
function fit(points: Array<[number, number]>) {
  const n = points.length,
    mx = points.reduce((s, p) => s + p[0], 0) / n,
    my = points.reduce((s, p) => s + p[1], 0) / n
  const sxy = points.reduce((s, p) => s + (p[0] - mx) * (p[1] - my), 0),
    sxx = points.reduce((s, p) => s + (p[0] - mx) ** 2, 0)
  const slope = sxy / sxx,
    intercept = my - slope * mx
  const ssr = points.reduce((s, p) => s + (p[1] - (intercept + slope * p[0])) ** 2, 0),
    sst = points.reduce((s, p) => s + (p[1] - my) ** 2, 0)
  return { slope, intercept, r2: 1 - ssr / sst }
}
async function scaling() {
  console.log(`scaling: 10 connections, ${SCALING_SECONDS} s each; µs per message = 1e6 / (req/s)`)
  const byRecipients: Array<{ recipients: number; usPerMessage: number }> = []
  for (let n = 1; n <= (QUICK ? 2 : 10); n++) {
    const id = `scale-${n}`
    await encryptor(
      id,
      rsa.slice(0, n).map((c) => c.name),
    )
    const r = await load(encryptUrl(id), Buffer.alloc(1024, 0x61), SCALING_SECONDS, 10)
    byRecipients.push({ recipients: n, usPerMessage: 1e6 / r.reqPerSec })
  }
  const bySize: Array<{ payloadKB: number; usPerMessage: number }> = []
  for (const kb of QUICK ? [1, 64] : [1, 16, 64, 256, 1024]) {
    const r = await load(encryptUrl('small-rsa0-rsa1'), Buffer.alloc(kb * 1024, 0x61), SCALING_SECONDS, 10)
    bySize.push({ payloadKB: kb, usPerMessage: 1e6 / r.reqPerSec })
  }
  const recipientFit = fit(byRecipients.map((p) => [p.recipients, p.usPerMessage]))
  const sizeFit = fit(bySize.map((p) => [p.payloadKB, p.usPerMessage]))
  console.log(
    `  per recipient: ${byRecipients.map((p) => `${p.recipients}:${f(p.usPerMessage)}`).join(' ')} µs → ` +
      `+${f(recipientFit.slope)} µs per recipient (R² ${f(recipientFit.r2, 3)})`,
  )
  console.log(
    `  per size (KB): ${bySize.map((p) => `${p.payloadKB}:${f(p.usPerMessage)}`).join(' ')} µs → ` +
      `+${f(sizeFit.slope, 2)} µs per KB (R² ${f(sizeFit.r2, 3)})`,
  )
  return { byRecipients, recipientFit, bySize, sizeFit }
}
const scaled = SIGNED_ONLY ? undefined : await scaling()

console.log(
  JSON.stringify({
    node: process.version,
    cores: cpus().length,
    client: CLIENT,
    small,
    large,
    signedLarge,
    scaling: scaled,
  }),
)
process.exit(0)
