import t from 'tap'
import { ROLES } from '../../src/auth/tokens.js'
import { buildTestApp } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { assertProblem } from '../helpers/requests.js'

t.test('GET /whoami names the token and its roles', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  for (const role of ROLES) {
    const res = await asRole(role).get('/whoami')
    t.equal(res.statusCode, 200, `${role}: 200`)
    t.same(res.json(), { name: `test-${role}`, roles: [role] }, `${role}: its name and roles`)
  }
  assertProblem(t, await app.inject({ method: 'GET', url: '/whoami' }), 401, 'CMS_UNAUTHENTICATED', 'no token')
  assertProblem(
    t,
    await app.inject({ method: 'GET', url: '/whoami', headers: { authorization: 'Bearer not-a-token' } }),
    401,
    'CMS_UNAUTHENTICATED',
    'unknown token',
  )
})
