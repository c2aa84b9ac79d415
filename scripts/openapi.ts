/**
 * Writes openapi.yaml from the route schemas: `npm run openapi`. test/openapi.test.ts fails when
 * the committed file differs from what the code describes.
 */
import { writeFileSync } from 'node:fs'
import { generateOpenApi } from '../test/helpers/openapi.js'

writeFileSync(new URL('../openapi.yaml', import.meta.url), await generateOpenApi())
