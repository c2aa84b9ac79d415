import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import pg from 'pg'
import type { Test } from 'tap'
import { createApp } from '../../src/app.js'
import { hashToken, TokenRegistry, type Role } from '../../src/auth/tokens.js'
import { loadConfig, type Config } from '../../src/config.js'

/** One token per role, plus one holding two roles, known to every test. */
export const TOKENS = {
  'tenant-admin': 'test-tenant-admin-token',
  'integration-developer': 'test-integration-developer-token',
  'integration-flow': 'test-integration-flow-token',
  monitor: 'test-monitor-token',
} as const satisfies Record<Role, string>

export const auth = (role: Role) => ({ authorization: `Bearer ${TOKENS[role]}` })

export function testTokens() {
  return new TokenRegistry(
    (Object.entries(TOKENS) as Array<[Role, string]>).map(([role, token]) => ({
      name: `test-${role}`,
      roles: [role],
      tokenSha256: hashToken(token).toString('hex'),
    })),
  )
}

/**
 * Tests run with load shedding and rate limiting off (test helpers generate RSA-4096 keys
 * synchronously, which under-pressure rightly reads as an overloaded loop); the tests of those
 * features switch them on.
 */
export function testConfig(overrides: Partial<Record<keyof Config, string>> = {}): Config {
  return loadConfig({
    LOG_LEVEL: 'silent',
    MAX_EVENT_LOOP_DELAY_MS: '0',
    RATE_LIMIT_MAX: '0',
    AUTH_FAILURE_LIMIT: '0',
    ...overrides,
  })
}

/** The backend this test run exercises: `npm test` runs the suite once per backend. */
export const TEST_BACKEND = process.env.CMS_TEST_PG_URL ? 'postgres' : 'sqlite'

/**
 * A fresh, empty store for one test: a new database on the test PostgreSQL server when the run
 * targets PostgreSQL, else nothing (the SQLite file lives in the data directory). Dropped in teardown.
 */
export async function freshDatabaseUrl(t: Test): Promise<string> {
  const server = process.env.CMS_TEST_PG_URL
  if (!server) return ''
  const name = `t_${randomBytes(8).toString('hex')}`
  const admin = new pg.Client({ connectionString: server })
  await admin.connect()
  await admin.query(`create database ${name}`)
  await admin.end()
  t.teardown(async () => {
    const c = new pg.Client({ connectionString: server })
    await c.connect()
    await c.query(`drop database if exists ${name} with (force)`)
    await c.end()
  })
  const url = new URL(server)
  url.pathname = `/${name}`
  return url.toString()
}

/**
 * A fresh temporary directory for a store or a service process, removed in teardown. Teardowns run
 * newest first, so it is removed after the app or process started later in the test has stopped.
 * (tap's t.testdir() is removed before any teardown runs, under a store still open: use t.testdir()
 * for plain files a test writes and reads itself.)
 */
export function storeDir(t: Test, prefix = 'cms-test-data-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/**
 * Builds the app on a fresh store (SQLite in a temporary directory, or a new PostgreSQL database);
 * closed in teardown.
 */
export async function buildTestApp(
  t: Test,
  overrides: Partial<Record<keyof Config, string>> = {},
  logger: FastifyServerOptions['logger'] = false,
  clock?: () => Date,
): Promise<FastifyInstance> {
  const dataDir = storeDir(t)
  const databaseUrl = await freshDatabaseUrl(t)
  const app = await createApp(testConfig({ DATA_DIR: dataDir, DATABASE_URL: databaseUrl, ...overrides }), {
    tokens: testTokens(),
    logger,
    clock,
  })
  t.teardown(() => app.close())
  return app
}

/** buildTestApp with its log kept in memory at `level`, for tests that search what was logged. */
export async function buildLoggedTestApp(
  t: Test,
  level: 'info' | 'debug',
  overrides: Partial<Record<keyof Config, string>> = {},
) {
  let log = ''
  const stream = new PassThrough()
  stream.on('data', (d: Buffer) => {
    log += d.toString()
  })
  const app = await buildTestApp(t, { LOG_LEVEL: level, ...overrides }, { level, stream })
  return { app, log: () => log }
}
