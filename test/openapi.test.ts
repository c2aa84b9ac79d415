import { readFileSync } from 'node:fs'
import t from 'tap'
import { generateOpenApi } from './helpers/openapi.js'

t.test('openapi.yaml matches the route schemas (run `npm run openapi` after changing a route)', async (t) => {
  const committed = readFileSync(new URL('../openapi.yaml', import.meta.url), 'utf8')
  t.equal(committed, await generateOpenApi())
})
