/**
 * The service as deployed (dist/server.js, default settings) in a child process on loopback, for
 * the scripts that load it from outside: bench and soak. Everything lives in one temporary
 * directory that is removed, with the children, when the script exits.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hashToken } from '../../src/auth/tokens.js'

export const workDir = mkdtempSync(join(tmpdir(), 'cms-script-'))
export const children: ChildProcess[] = []
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL')
  rmSync(workDir, { recursive: true, force: true })
})

export const TOKENS = { admin: 'script-admin', dev: 'script-dev', flow: 'script-flow', monitor: 'script-monitor' }
writeFileSync(
  join(workDir, 'tokens.json'),
  JSON.stringify([
    { name: 'admin', roles: ['tenant-admin'], tokenSha256: hashToken(TOKENS.admin).toString('hex') },
    { name: 'dev', roles: ['integration-developer'], tokenSha256: hashToken(TOKENS.dev).toString('hex') },
    { name: 'flow', roles: ['integration-flow'], tokenSha256: hashToken(TOKENS.flow).toString('hex') },
    { name: 'monitor', roles: ['monitor'], tokenSha256: hashToken(TOKENS.monitor).toString('hex') },
  ]),
)

async function waitFor(url: string) {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(url)).ok) return
    } catch {
      /* starting */
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`${url} did not come up`)
}

export async function startService(env: Record<string, string> = {}): Promise<{ port: number; pid: number }> {
  const port = 18000 + Math.floor(Math.random() * 1000)
  // LOG_LEVEL info (the default) writes one line per request.
  const child = spawn(process.execPath, ['dist/server.js'], {
    env: {
      ...process.env,
      PORT: String(port),
      DATA_DIR: join(workDir, 'data'),
      AUTH_TOKENS_FILE: join(workDir, 'tokens.json'),
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  children.push(child)
  await waitFor(`http://127.0.0.1:${port}/health/ready`)
  return { port, pid: child.pid! }
}

export interface Certificate {
  name: string
  crt: string
  key: string
  pem: string
}

/** A self-signed receiver certificate and its key, made by OpenSSL. */
export function certificate(name: string, key: 'rsa' | 'ec', days = 30): Certificate {
  const keyFile = join(workDir, `${name}.key`),
    crt = join(workDir, `${name}.crt`)
  const alg = key === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']
  execFileSync(
    'openssl',
    ['req', '-x509', ...alg, '-nodes', '-keyout', keyFile, '-out', crt, '-subj', `/CN=${name}`, '-days', String(days)],
    { stdio: 'ignore' },
  )
  return { name, crt, key: keyFile, pem: readFileSync(crt, 'utf8') }
}

/** One API call that must succeed; returns the parsed JSON answer, if any. */
export async function call(
  port: number,
  method: string,
  path: string,
  token: string,
  body?: string,
  type = 'application/json',
): Promise<{ id?: string } & Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': type }) },
    body,
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`)
  return text && res.headers.get('content-type')?.includes('json') ? (JSON.parse(text) as Record<string, unknown>) : {}
}

/** Resident set size of a process in MB, from /proc (0 once it has exited). */
export function rssMB(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024
  } catch {
    return 0
  }
}
