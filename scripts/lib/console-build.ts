import { build } from 'esbuild'
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const SOURCE = join(ROOT, 'src/console')
export const CONSOLE_OUT = join(ROOT, 'dist/console')

/** The page and its stylesheet are copied as they are; the script is bundled from main.tsx. */
const STATIC_FILES = ['index.html', 'console.css', 'favicon.svg']

/** Builds the console into dist/console (replaced whole), and says what it wrote. */
export async function buildConsole(out = CONSOLE_OUT): Promise<{ files: string[]; bytes: number }> {
  rmSync(out, { recursive: true, force: true })
  mkdirSync(out, { recursive: true })
  await build({
    entryPoints: [join(SOURCE, 'main.tsx')],
    outfile: join(out, 'console.js'),
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['chrome120', 'firefox120', 'safari17'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    tsconfig: join(SOURCE, 'tsconfig.json'),
    legalComments: 'none',
    logLevel: 'warning',
  })
  for (const file of STATIC_FILES) copyFileSync(join(SOURCE, file), join(out, file))
  const files = readdirSync(out)
  return { files, bytes: files.reduce((sum, f) => sum + statSync(join(out, f)).size, 0) }
}

/**
 * For tests that serve the console: builds it only when dist/console has no page yet. scripts/test.ts
 * builds it once before any test file runs, so test files never rebuild it under each other's feet.
 */
export async function ensureConsoleBuilt(): Promise<void> {
  if (!existsSync(join(CONSOLE_OUT, 'index.html')) || !existsSync(join(CONSOLE_OUT, 'console.js'))) await buildConsole()
}
