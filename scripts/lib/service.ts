/**
 * The service as deployed (dist/server.js, default settings) in a child process on loopback, for
 * the scripts that load it from outside: bench and soak. Everything lives in one temporary
 * directory that is removed, with the children, when the script exits.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
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
    // SERVICE_LOG=file keeps the service's log (one line per request at info), to find out why a run failed.
    stdio: ['ignore', process.env.SERVICE_LOG ? openSync(process.env.SERVICE_LOG, 'a') : 'ignore', 'inherit'],
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

export type SignerKey = 'rsa-2048' | 'rsa-4096' | 'ec-p256'

export interface SignerKeyPair extends Certificate {
  /** The private key, PKCS#8 PEM, as PUT /keystore/key-pairs/{alias} takes it. */
  keyPem: string
}

/**
 * A signer's key pair for sign-then-encrypt: a self-signed certificate with keyUsage digitalSignature
 * and its key, made by OpenSSL like the receivers' (a receiver verifying would trust it directly).
 */
export function signerKeyPair(name: string, key: SignerKey, days = 30): SignerKeyPair {
  const keyFile = join(workDir, `${name}.key`),
    crt = join(workDir, `${name}.crt`)
  const alg =
    key === 'ec-p256'
      ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']
      : ['-newkey', key === 'rsa-4096' ? 'rsa:4096' : 'rsa:2048']
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      ...alg,
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      crt,
      '-subj',
      `/CN=${name}`,
      '-days',
      String(days),
      '-addext',
      'keyUsage=critical,digitalSignature',
    ],
    { stdio: 'ignore' },
  )
  return { name, crt, key: keyFile, pem: readFileSync(crt, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') }
}

/** Imports a signer's key pair under its name (tenant administrator). */
export async function putSigner(port: number, signer: SignerKeyPair): Promise<void> {
  await call(
    port,
    'PUT',
    `/keystore/key-pairs/${signer.name}`,
    TOKENS.admin,
    JSON.stringify({ privateKey: signer.keyPem, certificateChain: signer.pem }),
  )
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

/** CPU time a process has used so far, its main thread apart from the others, in seconds (/proc schedstat). */
export function threadCpuSeconds(pid: number): { main: number; others: number } {
  let main = 0,
    others = 0
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let ns: number
    try {
      ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0])
    } catch {
      continue // a thread that ended between the listing and the read
    }
    if (tid === String(pid)) main += ns / 1e9
    else others += ns / 1e9
  }
  return { main, others }
}

/** Resident set size of a process in MB, from /proc (0 once it has exited). */
export function rssMB(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024
  } catch {
    return 0
  }
}
