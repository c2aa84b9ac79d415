import { readFileSync } from 'node:fs'
import t from 'tap'
import { buildTestApp } from '../../helpers/app.js'

t.test('the API contract is served: /openapi.yaml and Swagger UI at /docs', async (t) => {
  // The document describes the running config: rate limiting and load shedding on, as shipped.
  const app = await buildTestApp(t, {
    RATE_LIMIT_MAX: '600',
    MAX_EVENT_LOOP_DELAY_MS: '1000',
    AUTH_FAILURE_LIMIT: '30',
  })
  const yaml = await app.inject({ method: 'GET', url: '/openapi.yaml' })
  t.equal(yaml.statusCode, 200)
  t.equal(yaml.body, readFileSync(new URL('../../../openapi.yaml', import.meta.url), 'utf8'), 'the committed document')
  const docs = await app.inject({ method: 'GET', url: '/docs/' })
  t.equal(docs.statusCode, 200)
  t.match(docs.body, /swagger-ui/)
})
