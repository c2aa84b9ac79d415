import t from 'tap'
import { buildTestApp } from '../../helpers/app.js'
import { asRoleOn } from '../../helpers/as-role.js'

t.test('security headers on every response', async (t) => {
  const app = await buildTestApp(t)
  for (const url of ['/health/live', '/keystore/entries', '/nope']) {
    const res = await asRoleOn(app)('monitor').get(url)
    t.equal(res.headers['x-content-type-options'], 'nosniff', url)
    t.match(res.headers['strict-transport-security'], /max-age=/, url)
    t.equal(res.headers['x-frame-options'], 'SAMEORIGIN', url)
  }
})
