/**
 * Builds the renewal console (src/console/) into dist/console/: one bundled, minified script and one
 * stylesheet, with the page that loads them. No network: esbuild and preact come from npm ci.
 *
 *   npm run build:console          (also part of npm run build)
 */
import { buildConsole } from './lib/console-build.js'

const { files, bytes } = await buildConsole()
console.log(`console: ${files.length} files, ${(bytes / 1024).toFixed(1)} KiB -> dist/console/`)
