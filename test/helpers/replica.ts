import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Test } from 'tap'
import { hashToken, type Role } from '../../src/auth/tokens.js'
import { storeDir, TOKENS } from './app.js'

export interface Replica {
  name: string
  process: ChildProcess
  port: number
  pid: number
  url(path: string): string
  /** Everything the process wrote to stderr and stdout at warn level or above. */
  problems: string[]
}

/**
 * Replicas of one store must share the audit key (docs/trust-model.md), and each replica here has a
 * DATA_DIR of its own: one key file per test, for every replica it starts.
 */
const auditKeys = new WeakMap<Test, string>()
function sharedAuditKey(t: Test): string {
  let file = auditKeys.get(t)
  if (!file) {
    file = join(storeDir(t, 'cms-replica-key-'), 'audit-key')
    writeFileSync(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600 })
    auditKeys.set(t, file)
  }
  return file
}

let nextPort = 19100 + Math.floor(Math.random() * 500)

/**
 * Starts the service as its own process (from source) on `databaseUrl` (empty: SQLite in its own
 * data directory); stopped in teardown unless the test stopped it.
 */
export async function startReplica(
  t: Test,
  name: string,
  databaseUrl: string,
  env: Record<string, string> = {},
): Promise<Replica> {
  const dir = storeDir(t, `cms-replica-${name}-`)
  const tokensFile = join(dir, 'tokens.json')
  writeFileSync(
    tokensFile,
    JSON.stringify(
      Object.entries(TOKENS).map(([role, token]) => ({
        name: `test-${role}`,
        roles: [role],
        tokenSha256: hashToken(token).toString('hex'),
      })),
    ),
  )
  const port = nextPort++
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dir,
      DATABASE_URL: databaseUrl,
      AUTH_TOKENS_FILE: tokensFile,
      AUDIT_KEY_FILE: sharedAuditKey(t),
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const problems: string[] = []
  child.stdout!.on('data', (d: Buffer) => problems.push(...d.toString().split('\n').filter(Boolean)))
  child.stderr!.on('data', (d: Buffer) => problems.push(d.toString()))
  const exited = new Promise((r) => child.once('exit', r))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await exited
  })
  const replica: Replica = {
    name,
    process: child,
    port,
    pid: child.pid!,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    problems,
  }
  await waitReady(replica)
  return replica
}

/**
 * Waits until the replica answers ready. The timeout is generous (a process compiling TypeScript on
 * a loaded machine starts slowly); a process that exits fails at once.
 */
export async function waitReady(replica: Replica, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const { exitCode, signalCode } = replica.process
    if (exitCode !== null || signalCode !== null)
      throw new Error(`replica ${replica.name} exited (${exitCode ?? signalCode}): ${replica.problems.join('\n')}`)
    try {
      if ((await fetch(replica.url('/health/ready'))).ok) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`replica ${replica.name} not ready: ${replica.problems.join('\n')}`)
}

/** A JSON request to a replica with a role's token; the body is read once and kept. */
export async function callReplica(
  replica: Replica,
  method: string,
  path: string,
  role: Role,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const res = await fetch(replica.url(path), {
    method,
    headers: {
      authorization: `Bearer ${TOKENS[role]}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, body: text, headers: res.headers, json: () => JSON.parse(text) }
}

/** Encrypts a fresh payload through a replica as an integration flow; `aliases` in header order. */
export async function encryptOnReplica(replica: Replica, encryptorId = 'flow') {
  const payload = `payload ${Math.random()}`
  const res = await fetch(replica.url(`/encryptors/${encryptorId}/encrypt`), {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKENS['integration-flow']}`, 'content-type': 'application/octet-stream' },
    body: payload,
  })
  return {
    status: res.status,
    payload,
    body: Buffer.from(await res.arrayBuffer()),
    aliases: (res.headers.get('x-cms-recipients') ?? '').split(',').filter(Boolean),
  }
}
