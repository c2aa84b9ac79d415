/**
 * `npm run check:docs`: starts the service on loopback, opens /docs in headless Chromium (Debian's
 * `chromium` package; `apt-get install chromium`) and saves a screenshot to docs/swagger-ui.png.
 * Fails when Chromium is missing, the page does not render, or an operation is not listed.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { withDefaultApp } from '../src/openapi/generate.js'
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './lib/chromium.js'

// Asynchronous: the service answering Chromium runs in this very process.
const run = promisify(execFile)
if (!existsSync(CHROMIUM_PATH)) {
  console.error(`No Chromium at ${CHROMIUM_PATH}: apt-get install chromium (or set CHROMIUM_PATH).`)
  process.exit(1)
}
// The browser profile; the app has its own throwaway data directory (withDefaultApp).
const dir = mkdtempSync(join(tmpdir(), 'cms-docs-'))
const flags = ['--headless', ...CHROMIUM_ARGS, `--user-data-dir=${join(dir, 'profile')}`, '--virtual-time-budget=10000']
try {
  await withDefaultApp(async (app) => {
    await app.listen({ host: '127.0.0.1', port: 0 })
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/docs/`
    const screenshot = join(process.cwd(), 'docs', 'swagger-ui.png')
    await run(CHROMIUM_PATH, [...flags, '--window-size=1280,2600', `--screenshot=${screenshot}`, url], {
      timeout: 60_000,
    })
    // The rendered DOM, to check that Swagger UI listed the operations (not just an empty shell).
    const dump = await run(CHROMIUM_PATH, [...flags, '--dump-dom', url], { timeout: 60_000, maxBuffer: 64 << 20 })
    const operations = (dump.stdout.match(/class="opblock-summary-path"/g) ?? []).length
    const expected = Object.values((app.swagger() as { paths: Record<string, object> }).paths).reduce(
      (n, ops) => n + Object.keys(ops).length,
      0,
    )
    console.log(
      `/docs lists ${operations} of ${expected} operations; ` +
        `screenshot ${screenshot} (${statSync(screenshot).size} bytes)`,
    )
    if (operations !== expected) process.exitCode = 1
  })
} finally {
  rmSync(dir, { recursive: true, force: true })
}
