/**
 * Writes openapi.yaml from the route schemas: `npm run openapi`. test/openapi/document.test.ts fails
 * when the committed file differs from what the code describes.
 */
import { writeFileSync } from 'node:fs'
import { generateOpenApi } from '../src/openapi/generate.js'

writeFileSync(new URL('../openapi.yaml', import.meta.url), await generateOpenApi())
