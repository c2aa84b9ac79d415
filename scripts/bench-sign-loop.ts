/**
 * `npm run build && npx tsx scripts/bench-sign-loop.ts`: what signing does to the event loop.
 *
 *   in process: N RSA-2048 and RSA-4096 signatures over a 200-byte input (the size of the DER of the
 *               signed attributes the service signs), K at a time, each the way a request handler
 *               would make it: synchronous `crypto.sign` on the main thread (K = 1 and K = 16), the
 *               async `crypto.sign(alg, data, key, callback)` on libuv's thread pool (what the
 *               service does), and a pool of our own worker threads (one per core, key sent once,
 *               synchronous sign inside). Meanwhile monitorEventLoopDelay (1 ms timer) and the
 *               main thread's event-loop utilization, next to an idle baseline measured the same way.
 *   service:    the built service (dist/server.js, default settings) serving small signed encrypts,
 *               1 KB for 2 RSA-2048 recipients, with an RSA-2048 and an RSA-4096 signer, next to the
 *               same encryptor without a signer: a steady RATE req/s (SIGN_LOOP_RATE, 100) from a
 *               keep-alive client, then 16 connections flat out (autocannon). The service's own
 *               event-loop delay comes from its /metrics (prom-client's monitorEventLoopDelay, 10 ms
 *               timer, reset by each scrape): one scrape before each phase, one after.
 *
 * Delays are printed as the histogram's value minus its timer interval (the histogram measures the
 * time between timer callbacks, so an idle loop reads the interval itself). Prints tables, then one
 * JSON line. SIGN_LOOP_QUICK=1 shortens everything.
 */
import autocannon from 'autocannon'
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto'
import { Agent, request } from 'node:http'
import { availableParallelism } from 'node:os'
import { createHistogram, monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { Worker } from 'node:worker_threads'
import { call, certificate, putSigner, signerKeyPair, startService, TOKENS } from './lib/service.js'

const QUICK = process.env.SIGN_LOOP_QUICK === '1'
const RATE = Number(process.env.SIGN_LOOP_RATE ?? 100)
const SECONDS = QUICK ? 2 : 10
const CONCURRENCY = 16
const ms = (ns: number) => ns / 1e6
const f = (n: number, d = 1) => n.toFixed(d)

interface Delay {
  p50: number
  p99: number
  max: number
}

// --- in process ---

/** A pool of our own: one worker per core, each holding the key, signing synchronously inside. */
class SignWorkers {
  private readonly workers: Worker[]
  private readonly pending = new Map<number, () => void>()
  private seq = 0

  constructor(key: KeyObject, size = availableParallelism()) {
    const code = `
      const { parentPort, workerData } = require('node:worker_threads')
      const { sign } = require('node:crypto')
      parentPort.on('message', ({ id, data }) =>
        parentPort.postMessage({ id, signature: sign('sha256', data, workerData) }))`
    this.workers = Array.from({ length: size }, () => {
      const w = new Worker(code, { eval: true, workerData: key })
      w.on('message', ({ id }: { id: number }) => {
        this.pending.get(id)!()
        this.pending.delete(id)
      })
      return w
    })
  }

  sign(data: Buffer, done: () => void): void {
    const id = this.seq++
    this.pending.set(id, done)
    this.workers[id % this.workers.length]!.postMessage({ id, data })
  }

  async ready(): Promise<void> {
    // One round trip each, so thread start-up is not measured.
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            const id = this.seq++
            this.pending.set(id, resolve)
            w.postMessage({ id, data: Buffer.alloc(1) })
          }),
      ),
    )
  }

  close(): Promise<number[]> {
    return Promise.all(this.workers.map((w) => w.terminate()))
  }
}

type Op = (done: () => void) => void

/**
 * N operations, K chains at a time; each chain starts its next operation from setImmediate, as the
 * next request's handler would run in a later turn of the loop. So K synchronous signatures run
 * back to back per turn: the loop is as late as K signatures take.
 */
async function measure(op: Op, n: number, k: number) {
  const delay = monitorEventLoopDelay({ resolution: 1 })
  const elu = performance.eventLoopUtilization()
  const started = performance.now()
  delay.enable()
  await new Promise<void>((resolve) => {
    let issued = 0,
      completed = 0
    const next = () => {
      if (issued === n) return
      issued++
      op(() => {
        if (++completed === n) resolve()
        else setImmediate(next)
      })
    }
    for (let i = 0; i < k; i++) setImmediate(next)
  })
  const seconds = (performance.now() - started) / 1000
  // One more turn, so a delay still being measured lands in the histogram.
  await new Promise((r) => setTimeout(r, 5))
  delay.disable()
  return {
    perSecond: n / seconds,
    eventLoopUtilization: performance.eventLoopUtilization(elu).utilization,
    delay: histogramDelay(delay, 1),
  }
}

function histogramDelay(h: { percentile(p: number): number; max: number }, resolutionMs: number): Delay {
  const over = (ns: number) => Math.max(0, ms(ns) - resolutionMs)
  return { p50: over(h.percentile(50)), p99: over(h.percentile(99)), max: over(h.max) }
}

async function idle(seconds: number) {
  const delay = monitorEventLoopDelay({ resolution: 1 })
  delay.enable()
  await new Promise((r) => setTimeout(r, seconds * 1000))
  delay.disable()
  return { perSecond: 0, eventLoopUtilization: 0, delay: histogramDelay(delay, 1) }
}

const data = randomBytes(200)
const inProcess: Array<Record<string, unknown>> = []
console.log(
  `in process: ${availableParallelism()} cores, ` +
    `UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}; loop delay beyond the 1 ms timer, ms`,
)
console.log('  key       variant                       K   sign/s   main thread busy   p50     p99     max')
for (const bits of [2048, 4096]) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: bits })
  const n = (QUICK ? 0.2 : 1) * (bits === 2048 ? 3000 : 300)
  const syncOp: Op = (done) => {
    sign('sha256', data, privateKey)
    done()
  }
  const asyncOp: Op = (done) =>
    sign('sha256', data, privateKey, (err) => {
      if (err) throw err
      done()
    })
  const pool = new SignWorkers(privateKey)
  await pool.ready()
  const poolOp: Op = (done) => pool.sign(data, done)
  // Warm-up of each path (first use of a key, thread start).
  for (const op of [syncOp, asyncOp, poolOp]) await measure(op, 20, 4)
  const variants: Array<[string, number, () => ReturnType<typeof measure>]> = [
    ['idle (baseline)', 0, () => idle(QUICK ? 0.5 : 2)],
    ['sync crypto.sign, main thread', 1, () => measure(syncOp, n, 1)],
    ['sync crypto.sign, main thread', CONCURRENCY, () => measure(syncOp, n, CONCURRENCY)],
    ['async crypto.sign, thread pool', CONCURRENCY, () => measure(asyncOp, n, CONCURRENCY)],
    [`own worker pool (${availableParallelism()})`, CONCURRENCY, () => measure(poolOp, n, CONCURRENCY)],
  ]
  for (const [variant, k, run] of variants) {
    const r = await run()
    inProcess.push({ key: `RSA-${bits}`, variant, concurrency: k, signatures: k ? n : 0, ...r })
    console.log(
      `  RSA-${bits}  ${variant.padEnd(30)} ${String(k || '-').padStart(2)}  ${f(r.perSecond, 0).padStart(7)}  ` +
        `${`${f(r.eventLoopUtilization * 100, 0)} %`.padStart(17)}  ${f(r.delay.p50, 2).padStart(6)}  ` +
        `${f(r.delay.p99, 2).padStart(6)}  ${f(r.delay.max, 2).padStart(6)}`,
    )
  }
  await pool.close()
}

// --- the service ---

const service = await startService()
const receivers = [certificate('loop-rsa0', 'rsa'), certificate('loop-rsa1', 'rsa')]
for (const c of receivers)
  await call(service.port, 'PUT', `/keystore/entries/${c.name}`, TOKENS.admin, c.pem, 'application/x-pem-file')
const signers = {
  'RSA-2048': signerKeyPair('loop-rsa2048', 'rsa-2048'),
  'RSA-4096': signerKeyPair('loop-rsa4096', 'rsa-4096'),
}
const cases: Array<[label: string, id: string]> = [['no signer', 'loop-plain']]
await call(
  service.port,
  'PUT',
  '/encryptors/loop-plain',
  TOKENS.dev,
  JSON.stringify({ receiverAliases: receivers.map((c) => c.name) }),
)
for (const [label, signer] of Object.entries(signers)) {
  await putSigner(service.port, signer)
  const id = `loop-${label.toLowerCase()}`
  await call(
    service.port,
    'PUT',
    `/encryptors/${id}`,
    TOKENS.dev,
    JSON.stringify({ receiverAliases: receivers.map((c) => c.name), signer: { alias: signer.name } }),
  )
  cases.push([`signed ${label}`, id])
}

/** The service's event-loop delay since the previous scrape (prom-client resets its histogram on each). */
async function serviceDelay(): Promise<Delay> {
  const res = await fetch(`http://127.0.0.1:${service.port}/metrics`, {
    headers: { authorization: `Bearer ${TOKENS.monitor}` },
  })
  const text = await res.text()
  const seconds = (name: string) =>
    Number(new RegExp(`^nodejs_eventloop_lag_${name}_seconds (\\S+)$`, 'm').exec(text)?.[1])
  const over = (s: number) => Math.max(0, s * 1000 - 10) // the 10 ms timer of prom-client's default metrics
  return { p50: over(seconds('p50')), p99: over(seconds('p99')), max: over(seconds('max')) }
}

const body = Buffer.alloc(1024, 0x61)
const headers = { authorization: `Bearer ${TOKENS.flow}`, 'content-type': 'application/octet-stream' }

/** RATE requests per second for `seconds`, keep-alive; client-side latency of each. */
async function steady(id: string, seconds: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 })
  const latency = createHistogram()
  let errors = 0,
    done = 0
  const total = Math.round(RATE * seconds)
  const one = () =>
    new Promise<void>((resolve) => {
      const started = process.hrtime.bigint()
      const req = request(
        {
          host: '127.0.0.1',
          port: service.port,
          method: 'POST',
          path: `/encryptors/${id}/encrypt`,
          agent,
          headers: { ...headers, 'content-length': body.length },
        },
        (res) => {
          res.resume()
          res.on('end', () => {
            if (res.statusCode !== 200) errors++
            latency.record(Number(process.hrtime.bigint() - started) || 1)
            resolve()
          })
        },
      )
      req.on('error', () => {
        errors++
        resolve()
      })
      req.end(body)
    })
  const inFlight: Array<Promise<void>> = []
  const started = performance.now()
  for (let i = 0; i < total; i++) {
    // On schedule: request i goes at i / RATE seconds, whatever the earlier ones are doing.
    const wait = started + (i * 1000) / RATE - performance.now()
    if (wait > 0) await new Promise((r) => setTimeout(r, wait))
    inFlight.push(one().then(() => void done++))
  }
  await Promise.all(inFlight)
  agent.destroy()
  return {
    reqPerSec: done / ((performance.now() - started) / 1000),
    latency: { p50: ms(latency.percentile(50)), p99: ms(latency.percentile(99)), max: ms(latency.max) },
    errors,
  }
}

async function flatOut(id: string, seconds: number) {
  const url = `http://127.0.0.1:${service.port}/encryptors/${id}/encrypt`
  const r = await autocannon({ url, method: 'POST', headers, body, connections: CONCURRENCY, duration: seconds })
  return {
    reqPerSec: r.requests.average,
    latency: { p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max },
    errors: r.errors + r.timeouts + r.non2xx,
  }
}

const inService: Array<Record<string, unknown>> = []
console.log(
  `service: 1 KB, 2 × RSA-2048 recipients; steady ${RATE} req/s and ${CONCURRENCY} connections flat out, ` +
    `${SECONDS} s each; loop delay beyond prom-client's 10 ms timer, ms`,
)
console.log('  load          encryptor          req/s   client p50  p99 ms  errors   loop p50   p99     max')
for (const [load, run] of [
  [`steady ${RATE}/s`, steady],
  [`${CONCURRENCY} conns`, flatOut],
] as const) {
  for (const [label, id] of cases) {
    await run(id, 1) // warm-up: the encryptor resolved, the key opened, the threads started
    await serviceDelay()
    const r = await run(id, SECONDS)
    const delay = await serviceDelay()
    inService.push({ load, encryptor: label, ...r, eventLoopDelay: delay })
    console.log(
      `  ${load.padEnd(13)} ${label.padEnd(16)} ${f(r.reqPerSec, 0).padStart(7)}  ` +
        `${f(r.latency.p50, 1).padStart(10)}  ${f(r.latency.p99, 1).padStart(6)}  ${String(r.errors).padStart(6)}  ` +
        `${f(delay.p50, 2).padStart(8)}  ` +
        `${f(delay.p99, 2).padStart(6)}  ${f(delay.max, 2).padStart(6)}`,
    )
  }
}

console.log(JSON.stringify({ node: process.version, cores: availableParallelism(), rate: RATE, inProcess, inService }))
process.exit(0)
