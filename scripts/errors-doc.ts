/**
 * Writes docs/errors.md from the error catalogue (src/errors.ts): `npm run docs:errors`.
 * test/docs/errors.test.ts fails when the committed page differs from what this writes.
 */
import { writeFileSync } from 'node:fs'
import { renderErrorsDoc } from './lib/errors-doc.js'

writeFileSync(new URL('../docs/errors.md', import.meta.url), renderErrorsDoc())
