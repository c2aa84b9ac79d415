/**
 * `npm run soak`: sustained mixed load on the service as deployed, then an aborted-connections storm.
 *   1. max:   the mixed traffic below, 50 connections, unthrottled for SOAK_PROBE_SECONDS (10): max req/s.
 *   2. soak:  the same mix held at SOAK_RATE (0.8) × max for SOAK_SECONDS (60), while a renewal
 *             (add-alias, one step every 2 s, a new one when it completes) runs on the encryptor the
 *             mix encrypts for, and a prober encrypts every 250 ms and decrypts with OpenSSL using the
 *             key the receiver holds at that moment. RSS and V8 heap sampled every second.
 *   3. storm: SOAK_STORM_SECONDS (20) of clients that send part of an upload and disconnect,
 *             with the mix at half rate alongside; the mix must not notice.
 * Exits 1 on any error, on a failed decrypt, or when memory grows during the soak: RSS by more than
 * SOAK_MAX_RSS_GROWTH_MB (64), or the V8 heap's post-collection floor by more than
 * SOAK_MAX_HEAP_GROWTH_MB (16). RSS alone follows V8 resizing its heap; the heap floor is what a leak moves.
 */
import autocannon from 'autocannon'
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { call, certificate, rssMB, startService, TOKENS, workDir, type Certificate } from './lib/service.js'

const PROBE_SECONDS = Number(process.env.SOAK_PROBE_SECONDS ?? 10)
const SOAK_SECONDS = Number(process.env.SOAK_SECONDS ?? 60)
const STORM_SECONDS = Number(process.env.SOAK_STORM_SECONDS ?? 20)
const RATE = Number(process.env.SOAK_RATE ?? 0.8)
const MAX_RSS_GROWTH_MB = Number(process.env.SOAK_MAX_RSS_GROWTH_MB ?? 64)
const MAX_HEAP_GROWTH_MB = Number(process.env.SOAK_MAX_HEAP_GROWTH_MB ?? 16)
const KB = 1024
const run = promisify(execFile)

const service = await startService()
const { port } = service
const api = (method: string, path: string, token: string, body?: unknown) =>
  call(
    port,
    method,
    path,
    token,
    body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    typeof body === 'string' ? 'application/x-pem-file' : 'application/json',
  )

// Receivers: two fixed ones, and a chain of generations for the renewals (each valid longer than the last).
const fixed = [certificate('partner-a', 'rsa'), certificate('partner-b', 'ec')]
const generations: Certificate[] = Array.from({ length: 2 + Math.ceil(SOAK_SECONDS / 10) }, (_, i) =>
  certificate(`gen${i}`, 'rsa', 30 + i),
)
for (const c of [...fixed, generations[0]!]) await api('PUT', `/keystore/entries/${c.name}`, TOKENS.admin, c.pem)
await api('PUT', '/encryptors/orders', TOKENS.dev, { receiverAliases: ['partner-a', 'gen0'] })
await api('PUT', '/encryptors/reports', TOKENS.dev, { receiverAliases: ['partner-b', 'partner-a'] })

const flow = { authorization: `Bearer ${TOKENS.flow}`, 'content-type': 'application/octet-stream' }
const payload = (n: number) => Buffer.alloc(n, 0x61).toString()
/** The mix, in the order each connection cycles through it: mostly small encrypts, some larger, some reads. */
const MIX: autocannon.Request[] = [
  { method: 'POST', path: '/encryptors/orders/encrypt', headers: flow, body: payload(1 * KB) },
  { method: 'POST', path: '/encryptors/orders/encrypt', headers: flow, body: payload(4 * KB) },
  { method: 'POST', path: '/encryptors/reports/encrypt', headers: flow, body: payload(1 * KB) },
  { method: 'POST', path: '/encryptors/orders/encrypt', headers: flow, body: payload(1 * KB) },
  { method: 'POST', path: '/encryptors/orders/encrypt', headers: flow, body: payload(10 * KB) },
  { method: 'POST', path: '/encryptors/reports/encrypt', headers: flow, body: payload(50 * KB) },
  // Reads with the flow's token: other roles are rate-limited (RATE_LIMIT_MAX a minute), flows are not.
  { method: 'GET', path: '/encryptors/orders', headers: { authorization: flow.authorization } },
  { method: 'GET', path: '/keystore/entries', headers: { authorization: flow.authorization } },
]
const load = (seconds: number, overallRate?: number) =>
  autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: 50,
    duration: seconds,
    requests: MIX,
    ...(overallRate ? { overallRate: Math.round(overallRate) } : {}),
  })
const summary = (r: autocannon.Result) => ({
  requests: r.requests.total,
  reqPerSec: Math.round(r.requests.average),
  p50: r.latency.p50,
  p99: r.latency.p99,
  p999: (r.latency as unknown as Record<string, number>).p99_9,
  max: r.latency.max,
  errors: r.errors + r.timeouts + r.non2xx,
})

/** Every second: the service's RSS (from /proc) and V8 heap in use (from its /metrics). */
function sampleMemory() {
  const samples: number[] = [],
    heap: number[] = []
  const timer = setInterval(() => {
    samples.push(rssMB(service.pid))
    fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${TOKENS.monitor}` } })
      .then((r) => r.text())
      .then(
        (text) => heap.push(Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(text)?.[1] ?? NaN) / 1024 / 1024),
        () => undefined,
      )
  }, 1000)
  return { samples, heap, stop: () => clearInterval(timer) }
}

/**
 * Add-alias renewals, one step every 2 s, one after another. `receiverKey` is the key the receiver
 * holds: the current generation until it confirms the switch, then the new one.
 */
function renewals() {
  let generation = 0,
    steps = 0,
    completed = 0,
    stopped = false
  const state = { receiverKey: generations[0]! }
  const pause = () => new Promise((r) => setTimeout(r, 2000))
  const loop = (async () => {
    while (!stopped && generation + 1 < generations.length) {
      const current = generations[generation]!,
        next = generations[generation + 1]!
      const renewal = await api('POST', '/renewals', TOKENS.admin, {
        procedure: 'add-alias',
        encryptorId: 'orders',
        currentAlias: current.name,
        newAlias: next.name,
        certificate: next.pem,
      })
      for (const [step, token] of [
        ['add-certificate', TOKENS.admin],
        ['add-alias', TOKENS.dev],
        ['confirm-receiver-switched', TOKENS.admin],
        ['remove-old-alias', TOKENS.dev],
        ['remove-old-certificate', TOKENS.admin],
      ] as const) {
        await pause()
        // The receiver switches to its new key before it confirms; messages in flight still carry both.
        if (step === 'confirm-receiver-switched') state.receiverKey = next
        await api('POST', `/renewals/${renewal.id}/steps/${step}`, token)
        steps++
      }
      completed++
      generation++
    }
  })()
  return {
    state,
    stop: async () => {
      stopped = true
      await loop
      return { steps, completed }
    },
  }
}

/** Every 250 ms: encrypt, then decrypt with OpenSSL using the key the receiver holds right now. */
function prober(state: { receiverKey: Certificate }) {
  let sent = 0,
    decrypted = 0,
    stopped = false
  const failures: string[] = []
  const loop = (async () => {
    while (!stopped) {
      const key = state.receiverKey
      const message = `probe ${sent++}`
      const res = await fetch(`http://127.0.0.1:${port}/encryptors/orders/encrypt`, {
        method: 'POST',
        headers: flow,
        body: message,
      })
      const file = join(workDir, 'probe.der')
      writeFileSync(file, Buffer.from(await res.arrayBuffer()))
      const out = await run(
        'openssl',
        ['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', file, '-inkey', key.key, '-recip', key.crt],
        { encoding: 'buffer' },
      ).catch((e: Error) => e)
      if (res.status === 200 && !(out instanceof Error) && out.stdout.toString() === message) decrypted++
      else
        failures.push(
          `${message}: HTTP ${res.status}, ` +
            `${out instanceof Error ? out.message.split('\n')[0] : 'wrong plaintext'} (key ${key.name})`,
        )
      await new Promise((r) => setTimeout(r, 250))
    }
  })()
  return {
    stop: async () => {
      stopped = true
      await loop
      return { sent, decrypted, failures }
    },
  }
}

/** Clients that send a random part of a 4 MB upload (declared or chunked) and then vanish. */
function storm(concurrency: number) {
  let aborted = 0,
    stopped = false
  const junk = Buffer.alloc(2 * 1024 * KB, 0x5a)
  const one = () =>
    new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1')
      const chunked = Math.random() < 0.5
      socket.on('error', () => resolve())
      socket.on('close', () => resolve())
      socket.write(
        `POST /encryptors/orders/encrypt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKENS.flow}\r\n` +
          `${chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${4 * 1024 * KB}`}\r\n\r\n`,
      )
      const part = junk.subarray(0, Math.floor(Math.random() * junk.length))
      socket.write(chunked ? Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part]) : part, () => {
        aborted++
        socket.destroy()
      })
    })
  const workers = Array.from({ length: concurrency }, async () => {
    while (!stopped) await one()
  })
  return {
    stop: async () => {
      stopped = true
      await Promise.all(workers)
      return aborted
    },
  }
}

const f = (n: number, d = 0) => n.toFixed(d)
const slope = (ys: number[]) => {
  // MB per minute, least squares over 1 s samples
  const n = ys.length,
    mx = (n - 1) / 2,
    my = ys.reduce((a, b) => a + b, 0) / n
  return (ys.reduce((s, y, x) => s + (x - mx) * (y - my), 0) / ys.reduce((s, _, x) => s + (x - mx) ** 2, 0)) * 60
}

console.log(
  'mix per connection: ' +
    MIX.map((r) => `${r.method} ${r.path}${r.body ? ` ${(r.body as string).length / KB} KB` : ''}`).join(', '),
)
const probe = summary(await load(PROBE_SECONDS))
console.log(
  `max: ${probe.reqPerSec} req/s unthrottled (${probe.requests} requests, p99 ${probe.p99} ms, ${probe.errors} errors)`,
)

const target = probe.reqPerSec * RATE
const rss = sampleMemory()
const renewing = renewals()
const probing = prober(renewing.state)
const soak = summary(await load(SOAK_SECONDS, target))
rss.stop()
const renewalResult = await renewing.stop()
const probed = await probing.stop()
// Warm-up excluded: growth is measured from the 10th second (caches, JIT and pools filled).
const steady = rss.samples.slice(Math.min(10, Math.floor(rss.samples.length / 4)))
// RSS saw-tooths with garbage collection: compare the mean of the first and the last ten samples.
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
const rssGrowth = mean(steady.slice(-10)) - mean(steady.slice(0, 10))
// The heap's floor (its lowest sample in a window, just after a collection) rises only with live data.
const heapSteady = rss.heap.slice(Math.min(10, Math.floor(rss.heap.length / 4))).filter((x) => !Number.isNaN(x))
const third = Math.floor(heapSteady.length / 3)
const heapFloorStart = Math.min(...heapSteady.slice(0, third)),
  heapFloorEnd = Math.min(...heapSteady.slice(-third))
const heapGrowth = heapFloorEnd - heapFloorStart
console.log(
  `soak: ${SOAK_SECONDS} s at ${f(target)} req/s (${RATE} × max): ${soak.requests} requests, ` +
    `${soak.reqPerSec} req/s, p50 ${soak.p50} ms, p99 ${soak.p99} ms, p99.9 ${soak.p999} ms, ` +
    `max ${soak.max} ms, ${soak.errors} errors`,
)
console.log(`  renewals: ${renewalResult.steps} steps, ${renewalResult.completed} add-alias renewals completed`)
console.log(`  probes: ${probed.decrypted}/${probed.sent} decrypted by OpenSSL with the key the receiver held`)
console.log(
  `  RSS: ${f(rss.samples[0]!)} MB at 1 s, ${f(steady[0]!)} MB at ${rss.samples.length - steady.length + 1} s, ` +
    `${f(steady[steady.length - 1]!)} MB at the end, max ${f(Math.max(...rss.samples))} MB; ` +
    `growth ${f(rssGrowth, 1)} MB (mean of the last 10 s vs the first 10 s), trend ${f(slope(steady), 2)} MB/min`,
)
console.log(
  `  V8 heap floor: ${f(heapFloorStart, 1)} MB in the first third, ${f(heapFloorEnd, 1)} MB in the last ` +
    `(growth ${f(heapGrowth, 1)} MB)`,
)

const before = rssMB(service.pid)
const storming = storm(20)
const during = summary(await load(STORM_SECONDS, target / 2))
const aborted = await storming.stop()
const afterStorm = rssMB(service.pid)
await new Promise((r) => setTimeout(r, 10_000))
const after = rssMB(service.pid)
const health = await fetch(`http://127.0.0.1:${port}/health/ready`)
console.log(
  `storm: ${aborted} aborted uploads in ${STORM_SECONDS} s beside the mix at ${f(target / 2)} req/s: ` +
    `${during.requests} requests, p99 ${during.p99} ms, ${during.errors} errors; ` +
    `RSS ${f(before)} MB before, ${f(afterStorm)} MB at the end, ${f(after)} MB 10 s later; ready ${health.status}`,
)

const failures = [
  ...(soak.errors ? [`${soak.errors} errors in the soak`] : []),
  ...(during.errors ? [`${during.errors} errors beside the storm`] : []),
  ...probed.failures.slice(0, 5),
  ...(rssGrowth > MAX_RSS_GROWTH_MB ? [`RSS grew ${f(rssGrowth, 1)} MB (> ${MAX_RSS_GROWTH_MB})`] : []),
  ...(heapGrowth > MAX_HEAP_GROWTH_MB ? [`the heap floor grew ${f(heapGrowth, 1)} MB (> ${MAX_HEAP_GROWTH_MB})`] : []),
  ...(health.status !== 200 ? [`not ready after the storm: ${health.status}`] : []),
]
console.log(
  JSON.stringify({
    probe,
    target,
    soak,
    renewals: renewalResult,
    probes: { sent: probed.sent, decrypted: probed.decrypted },
    rss: { samples: rss.samples, growthMB: rssGrowth },
    heap: { samples: rss.heap, floorStartMB: heapFloorStart, floorEndMB: heapFloorEnd },
    storm: { aborted, during, rssBefore: before, rssAtEnd: afterStorm, rssAfter10s: after },
  }),
)
for (const failure of failures) console.log(`FAIL ${failure}`)
process.exit(failures.length ? 1 : 0)
