import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { hashToken, type Role } from '../../src/auth/tokens.js'
import { TOKENS } from './app.js'

export interface Replica {
  name: string
  process: ChildProcess
  port: number
  pid: number
  url(path: string): string
  /** Everything the process wrote to stderr and stdout at warn level or above. */
  problems: string[]
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
  const dir = mkdtempSync(join(tmpdir(), `cms-replica-${name}-`))
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
    rmSync(dir, { recursive: true, force: true })
  })
  const replica: Replica = {
    name,
    process: child,
    port,
    pid: child.pid!,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    problems,
  }
  await waitReady(replica, 20_000)
  return replica
}

export async function waitReady(replica: Replica, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
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
