import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import type { Test } from 'tap'
import { CHROMIUM_PATH, launchChromium } from '../../scripts/lib/chromium.js'
import { buildConsole, CONSOLE_OUT } from '../../scripts/lib/console-build.js'
import type { Role } from '../../src/auth/tokens.js'
import { TOKENS } from './app.js'
import { startReplica, type Replica } from './replica.js'

/**
 * The console in a real browser: Debian's Chromium driven by playwright-core (never a downloaded
 * browser), against the service started as its own process from source on SQLite.
 */

/**
 * Launches Chromium; closed in teardown. Playwright makes a fresh profile (user-data dir) per
 * launch, and it and Chromium write their temporary files under a directory of this test's own,
 * removed once the browser has closed, whatever Chromium left in it.
 */
export async function launchTestChromium(t: Test): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}: the console tests need Debian's chromium ` +
        '(apt-get install chromium; .ci/run installs it) or CHROMIUM_PATH naming another build. ' +
        'They never download a browser.',
    )
  }
  const dir = mkdtempSync(join(tmpdir(), 'cms-browser-'))
  let browser: Browser
  try {
    browser = await launchChromium(dir)
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
  t.teardown(async () => {
    await browser.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return browser
}

function sameTree(a: string, b: string): boolean {
  if (!existsSync(a) || !existsSync(b)) return false
  const files = readdirSync(a).sort()
  if (files.join('\n') !== readdirSync(b).sort().join('\n')) return false
  return files.every((f) => statSync(join(a, f)).isFile() && readFileSync(join(a, f)).equals(readFileSync(join(b, f))))
}

/**
 * Builds the console from src/console into dist/console, where the service serves it. Two test files
 * may build at once while the other's browser is loading pages: each builds beside it and swaps its
 * build in only when it differs (esbuild's output is deterministic), so an unchanged console is never
 * removed under a running test.
 */
export async function buildConsoleOnce(): Promise<void> {
  const dist = fileURLToPath(new URL('../../dist/', import.meta.url))
  const fresh = mkdtempSync(join(dist, '.console-build-'))
  try {
    await buildConsole(fresh)
    if (sameTree(fresh, CONSOLE_OUT)) return
    const old = `${fresh}-old`
    if (existsSync(CONSOLE_OUT)) renameSync(CONSOLE_OUT, old)
    renameSync(fresh, CONSOLE_OUT)
    rmSync(old, { recursive: true, force: true })
  } finally {
    rmSync(fresh, { recursive: true, force: true })
  }
}

/**
 * The service (its own process, SQLite, the test tokens) serving a freshly built console; `env` is
 * added to the process's environment (e.g. LOCAL_RECEIVER, to deliver webhooks to 127.0.0.1).
 */
export async function startConsoleService(t: Test, env: Record<string, string> = {}): Promise<Replica> {
  await buildConsoleOnce()
  return startReplica(t, 'console', '', env)
}

interface CspViolation {
  violatedDirective: string
  blockedURI: string
  sample: string
}

/**
 * The page's globals the functions run in it touch: the test program is compiled without the DOM
 * library, so each such function starts with `const w = globalThis as unknown as PageGlobals`.
 */
export interface PageGlobals {
  /** Written by the init script in every document of a tab. */
  __cspViolations?: string[]
  __layoutShifts?: number[]
  axe?: { run(context: unknown, options: object): Promise<AxeResults> }
  location: { hash: string; href: string }
  document: {
    title: string
    cookie: string
    documentElement: { scrollWidth: number; clientWidth: number }
    body: PageElement & { append(node: unknown): void }
    createElement(tag: string): { textContent: string; setAttribute(name: string, value: string): void }
    querySelector(selector: string): unknown
    querySelectorAll(selector: string): Iterable<PageElement>
    addEventListener(type: 'securitypolicyviolation', listener: (e: CspViolation) => void): void
  }
  scrollX: number
  scrollTo(x: number, y: number): void
  sessionStorage: StorageLike
  localStorage: StorageLike
  PerformanceObserver: new (
    callback: (list: { getEntries(): Array<{ value: number; hadRecentInput: boolean }> }) => void,
  ) => { observe(options: { type: string; buffered: boolean }): void }
}

export interface PageElement {
  tagName: string
  id: string
  className: string
  getBoundingClientRect(): { left: number; right: number; width: number }
  closest(selector: string): PageElement | null
}

interface StorageLike {
  readonly length: number
  key(index: number): string | null
  getItem(key: string): string | null
}

interface AxeResults {
  violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: string[] }> }>
}

/**
 * Runs in every document of a tab before the page's own code: records CSP violations and layout
 * shifts (those not caused by input, as CLS counts them) into arrays the test reads.
 */
function recorder() {
  const w = globalThis as unknown as PageGlobals
  const violations: string[] = (w.__cspViolations = [])
  const shifts: number[] = (w.__layoutShifts = [])
  w.document.addEventListener('securitypolicyviolation', (e) =>
    violations.push(`CSP ${e.violatedDirective}: ${e.blockedURI} ${e.sample}`),
  )
  try {
    new w.PerformanceObserver((list) => {
      for (const entry of list.getEntries()) if (!entry.hadRecentInput) shifts.push(entry.value)
    }).observe({ type: 'layout-shift', buffered: true })
  } catch {
    // No Layout Instability API: layoutShift() reports 0.
  }
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

export interface AxeViolation {
  id: string
  impact: string | null
  help: string
  targets: string[]
}

/** One browser tab of the console, with what went wrong in it so far. */
export class ConsoleTab {
  /** CSP violations of documents already left, CSP console messages and uncaught page errors. */
  private caught: string[] = []

  constructor(
    readonly page: Page,
    readonly service: Replica,
  ) {
    page.on('console', (m) => {
      if (m.text().includes('Content Security Policy')) this.caught.push(`console ${m.type()}: ${m.text()}`)
    })
    page.on('pageerror', (err) => this.caught.push(`page error: ${err.message}`))
  }

  url(hash = ''): string {
    return this.service.url(`/console/${hash}`)
  }

  /** Every problem caught in this tab so far, the current document's CSP violations included. */
  async problems(): Promise<string[]> {
    const current = await this.page
      .evaluate(() => (globalThis as unknown as PageGlobals).__cspViolations ?? [])
      .catch(() => [] as string[])
    return [...this.caught, ...current]
  }

  /** Keeps the current document's CSP violations before the document is replaced. */
  private async keepViolations() {
    if (this.page.url().startsWith('http')) {
      const current = await this.page
        .evaluate(() => (globalThis as unknown as PageGlobals).__cspViolations ?? [])
        .catch(() => [] as string[])
      this.caught.push(...current)
    }
  }

  /** Loads the console afresh at `hash` (a new document) and waits until its view has loaded. */
  async load(hash = ''): Promise<void> {
    await this.keepViolations()
    // From the same address, goto would only move to the fragment in the same document.
    if (this.page.url().startsWith(this.url())) await this.page.goto('about:blank')
    await this.page.goto(this.url(hash))
    await this.settled()
  }

  async reload(): Promise<void> {
    await this.keepViolations()
    await this.page.reload()
    await this.settled()
  }

  /** Moves to another view inside the page (the fragment changes, as a link does) and waits for it. */
  async open(hash: string): Promise<void> {
    await this.page.evaluate((h) => {
      ;(globalThis as unknown as PageGlobals).location.hash = h
    }, hash)
    await this.settled()
  }

  /** The view has its heading and no region is still loading. */
  async settled(): Promise<void> {
    await this.page.waitForFunction(
      () => {
        const { document } = globalThis as unknown as PageGlobals
        return (
          !!document.querySelector('main h1') &&
          !document.querySelector('[aria-busy="true"]') &&
          !document.querySelector('main .loading')
        )
      },
      undefined,
      { timeout: 15_000 },
    )
  }

  async signIn(role: Role): Promise<void> {
    if (!this.page.url().startsWith(this.url())) await this.load()
    await this.page.getByLabel('Bearer token').fill(TOKENS[role])
    await this.page.getByRole('button', { name: 'Sign in' }).click()
    await this.page.getByText(`Signed in as test-${role}`).waitFor({ timeout: 15_000 })
    await this.settled()
  }

  /** axe-core's violations in the page as it is now (evaluated in the page: the CSP stops a script tag). */
  async axe(): Promise<AxeViolation[]> {
    const loaded = await this.page.evaluate(() => !!(globalThis as unknown as PageGlobals).axe)
    if (!loaded) await this.page.evaluate(AXE_SOURCE)
    return this.page.evaluate(async () => {
      const w = globalThis as unknown as PageGlobals
      const results = await w.axe!.run(w.document, { resultTypes: ['violations'] })
      return results.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        targets: v.nodes.map((n) => n.target.join(' ')),
      }))
    })
  }

  /** The sum of the layout shifts of the current document so far (its CLS, with one session window). */
  async layoutShift(): Promise<number> {
    return this.page.evaluate(() =>
      ((globalThis as unknown as PageGlobals).__layoutShifts ?? []).reduce((sum, v) => sum + v, 0),
    )
  }
}

/** A browser context (one window, tabs sharing cookies and localStorage, each with its own sessionStorage). */
export async function consoleWindow(
  browser: Browser,
  service: Replica,
  viewport = { width: 1280, height: 800 },
): Promise<{ context: BrowserContext; newTab: () => Promise<ConsoleTab> }> {
  const context = await browser.newContext({ viewport, acceptDownloads: false })
  await context.addInitScript(recorder)
  return {
    context,
    newTab: async () => new ConsoleTab(await context.newPage(), service),
  }
}

/** Fails `t` on any CSP violation, CSP console message or page error caught in `tab`. */
export async function assertClean(t: Test, tab: ConsoleTab, label: string) {
  t.same(await tab.problems(), [], `${label}: no CSP violation and no page error`)
}

/** Fails `t` on axe violations of impact serious or critical; others are reported as comments. */
export async function assertAccessible(t: Test, tab: ConsoleTab, label: string) {
  const violations = await tab.axe()
  const grave = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
  for (const v of violations.filter((x) => !grave.includes(x)))
    t.comment(`axe ${label}: ${v.impact} ${v.id} (${v.help}) at ${v.targets.join(', ')}`)
  t.same(
    grave.map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.targets.join(', ')}`),
    [],
    `${label}: no serious or critical axe violation`,
  )
}
