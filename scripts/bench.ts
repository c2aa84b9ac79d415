/**
 * `npm run bench`: the service against baselines measured in the same run, on loopback.
 *   small: 1 KB payload, 2 RSA-2048 recipients, 50 connections, next to a bare Fastify route.
 *   large: 1 GB streamed with Content-Length, MB/s and the service's peak RSS (VmHWM).
 * Prints a table and, last, one JSON line.
 */
import autocannon from 'autocannon'
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hashToken } from '../src/auth/tokens.js'
import { generatedPayload } from '../test/helpers/http.js'

const DURATION = Number(process.env.BENCH_SECONDS ?? 10)
const LARGE_MB = Number(process.env.BENCH_LARGE_MB ?? 1024)
const dir = mkdtempSync(join(tmpdir(), 'cms-bench-'))
const children: ChildProcess[] = []
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }) })

const TOKENS = { admin: 'bench-admin', dev: 'bench-dev', flow: 'bench-flow' }
writeFileSync(join(dir, 'tokens.json'), JSON.stringify([
  { name: 'admin', roles: ['tenant-admin'], tokenSha256: hashToken(TOKENS.admin).toString('hex') },
  { name: 'dev', roles: ['integration-developer'], tokenSha256: hashToken(TOKENS.dev).toString('hex') },
  { name: 'flow', roles: ['integration-flow'], tokenSha256: hashToken(TOKENS.flow).toString('hex') },
]))

async function waitForPort(port: number) {
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/health/live`)
      return
    } catch {
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  throw new Error('service did not start')
}

async function startService(): Promise<{ port: number; pid: number }> {
  const port = 18000 + Math.floor(Math.random() * 1000)
  const child = spawn(process.execPath, ['dist/server.js'], {
    env: { ...process.env, PORT: String(port), DATA_DIR: join(dir, 'data'), AUTH_TOKENS_FILE: join(dir, 'tokens.json'), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  children.push(child)
  await waitForPort(port)
  return { port, pid: child.pid! }
}

async function startFloor(): Promise<number> {
  const child = fork('scripts/floor-server.ts', { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  children.push(child)
  return new Promise((resolve) => child.once('message', (m: { port: number }) => resolve(m.port)))
}

function receiverCertificate(name: string) {
  const key = join(dir, `${name}.key`), crt = join(dir, `${name}.crt`)
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt, '-subj', `/CN=${name}`, '-days', '30'], { stdio: 'ignore' })
  return { key, crt, pem: readFileSync(crt, 'utf8') }
}

async function call(port: number, method: string, path: string, token: string, body: string, type: string) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': type }, body })
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
}

async function load(url: string, headers: Record<string, string>, body: Buffer) {
  const result = await autocannon({ url, method: 'POST', headers, body, connections: 50, duration: DURATION })
  return { reqPerSec: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.non2xx }
}

function rssOf(pid: number) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string) => Number(/(\d+) kB/.exec(status.split('\n').find((l) => l.startsWith(field)) ?? '')?.[1] ?? 0)
  return { rssMB: kb('VmRSS:') / 1024, peakMB: kb('VmHWM:') / 1024 }
}

function streamLarge(port: number, bytes: number): Promise<number> {
  const body = generatedPayload(bytes, 7).stream
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint()
    const req = request({
      host: '127.0.0.1', port, method: 'POST', path: '/encryptors/bench/encrypt',
      headers: { authorization: `Bearer ${TOKENS.flow}`, 'content-type': 'application/octet-stream', 'content-length': bytes },
    }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`large encrypt: ${res.statusCode}`))
      res.on('data', () => {})
      res.on('end', () => resolve(Number(process.hrtime.bigint() - started) / 1e9))
    })
    req.on('error', reject)
    body.pipe(req)
  })
}

const service = await startService()
const floorPort = await startFloor()
const a = receiverCertificate('bench-a'), b = receiverCertificate('bench-b')
await call(service.port, 'PUT', '/keystore/entries/a', TOKENS.admin, a.pem, 'application/x-pem-file')
await call(service.port, 'PUT', '/keystore/entries/b', TOKENS.admin, b.pem, 'application/x-pem-file')
await call(service.port, 'PUT', '/encryptors/bench', TOKENS.dev, JSON.stringify({ receiverAliases: ['a', 'b'] }), 'application/json')

const payload = Buffer.alloc(1024, 0x61)
const headers = { authorization: `Bearer ${TOKENS.flow}`, 'content-type': 'application/octet-stream' }
const floor = await load(`http://127.0.0.1:${floorPort}/floor`, headers, payload)
const small = await load(`http://127.0.0.1:${service.port}/encryptors/bench/encrypt`, headers, payload)

const before = rssOf(service.pid)
const seconds = await streamLarge(service.port, LARGE_MB * 1024 * 1024)
const after = rssOf(service.pid)

const results = {
  small: { payloadBytes: 1024, recipients: 2, connections: 50, seconds: DURATION, floor, encrypt: small, ratio: small.reqPerSec / floor.reqPerSec },
  large: { megabytes: LARGE_MB, seconds, mbPerSec: LARGE_MB / seconds, rssBeforeMB: before.rssMB, peakRssMB: after.peakMB, peakGrowthMB: after.peakMB - before.peakMB },
}
const f = (n: number, d = 0) => n.toFixed(d)
console.log(`small 1 KB, 2 × RSA-2048, 50 conn, ${DURATION}s`)
console.log(`  floor (bare Fastify)   ${f(floor.reqPerSec)} req/s  p50 ${floor.p50} ms  p99 ${floor.p99} ms  errors ${floor.errors}`)
console.log(`  encrypt                ${f(small.reqPerSec)} req/s  p50 ${small.p50} ms  p99 ${small.p99} ms  errors ${small.errors}`)
console.log(`  ratio encrypt/floor    ${f(results.small.ratio, 3)}`)
console.log(`large ${LARGE_MB} MB streamed with Content-Length`)
console.log(`  ${f(results.large.mbPerSec)} MB/s (${f(seconds, 2)} s); service RSS ${f(before.rssMB)} MB before, peak ${f(after.peakMB)} MB`)
console.log(JSON.stringify(results))
process.exit(0)
