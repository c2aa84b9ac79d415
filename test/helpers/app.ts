import type { FastifyInstance } from 'fastify'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
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
  return new TokenRegistry((Object.entries(TOKENS) as Array<[Role, string]>).map(([role, token]) => ({
    name: `test-${role}`, roles: [role], tokenSha256: hashToken(token).toString('hex'),
  })))
}

export function testConfig(overrides: Partial<Record<keyof Config, string>> = {}): Config {
  return loadConfig({ LOG_LEVEL: 'silent', ...overrides })
}

/** Builds the app on a fresh SQLite store in a temporary directory; closed and removed in teardown. */
export async function buildTestApp(t: Test, overrides: Partial<Record<keyof Config, string>> = {}): Promise<FastifyInstance> {
  const dataDir = mkdtempSync(join(tmpdir(), 'cms-test-data-'))
  const app = await createApp(testConfig({ DATA_DIR: dataDir, ...overrides }), { tokens: testTokens(), logger: false })
  t.teardown(async () => {
    await app.close()
    rmSync(dataDir, { recursive: true, force: true })
  })
  return app
}
