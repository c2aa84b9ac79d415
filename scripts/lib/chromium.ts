import { chromium, type Browser } from 'playwright-core'

/**
 * Debian's Chromium (apt-get install chromium), never a browser a tool downloads: CHROMIUM_PATH
 * names another build (CHROMIUM, the older name check:docs read, still works).
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? process.env.CHROMIUM ?? '/usr/bin/chromium'

/**
 * No sandbox (CI runs as root); and no background connections, which this machine's closed network
 * refuses many at a time and which have nothing to do with the page under test.
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/**
 * Launches headless Chromium through playwright-core with its temporary files (Playwright's
 * profile and artifacts, Chromium's own) under `tmp`, which the caller removes after closing it.
 */
export async function launchChromium(tmp: string): Promise<Browser> {
  // Playwright makes its profile and artifacts directories under os.tmpdir() during launch.
  const saved = process.env.TMPDIR
  process.env.TMPDIR = tmp
  try {
    return await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: CHROMIUM_ARGS,
      env: { ...process.env, TMPDIR: tmp },
      timeout: 60_000,
    })
  } finally {
    if (saved === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = saved
  }
}
