import t from 'tap'
import { ROLES, type Role } from '../../src/auth/tokens.js'
import { auth, buildTestApp } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { generateOpenApiObject } from '../../src/openapi/generate.js'
import { issueCertificate } from '../helpers/pki.js'
import { startRenewal } from '../helpers/renewals.js'
import { assertProblem, putCertificate, putEncryptor, snapshot } from '../helpers/requests.js'

const ADMIN: Role[] = ['tenant-admin'],
  DEVELOPER: Role[] = ['integration-developer'],
  FLOW: Role[] = ['integration-flow']
const EVERYONE: Role[] = [...ROLES]

/**
 * Who may call what: the role model, written down independently of the routes. Tenant administrators
 * change the keystore and run renewals, integration developers change encryptors (and take their
 * renewal steps), integration flows only encrypt, monitors read. A route missing here fails the test.
 */
const ACCESS: Record<string, Role[] | 'public'> = {
  'GET /health/live': 'public',
  'GET /health/ready': 'public',
  'GET /openapi.yaml': 'public',
  'GET /metrics': EVERYONE, // METRICS_REQUIRE_TOKEN=false makes it public (test/openapi/publicity.test.ts)
  'GET /keystore/entries': EVERYONE,
  'GET /keystore/entries/{alias}': EVERYONE,
  'GET /keystore/entries/{alias}/certificate': EVERYONE,
  'PUT /keystore/entries/{alias}': ADMIN,
  'POST /keystore/entries/{alias}/check': ADMIN,
  'DELETE /keystore/entries/{alias}': ADMIN,
  // The tenant's own key pairs: only its administrators import or delete one; anyone reads the public part.
  'GET /keystore/key-pairs': EVERYONE,
  'GET /keystore/key-pairs/{alias}': EVERYONE,
  'GET /keystore/key-pairs/{alias}/certificate': EVERYONE,
  'PUT /keystore/key-pairs/{alias}': ADMIN,
  'DELETE /keystore/key-pairs/{alias}': ADMIN,
  'GET /encryptors': EVERYONE,
  'GET /encryptors/{id}': EVERYONE,
  'PUT /encryptors/{id}': DEVELOPER,
  'DELETE /encryptors/{id}': DEVELOPER,
  'POST /encryptors/{id}/aliases': DEVELOPER,
  'DELETE /encryptors/{id}/aliases/{alias}': DEVELOPER,
  'POST /encryptors/{id}/encrypt': FLOW,
  'POST /renewals': ADMIN,
  'GET /renewals': EVERYONE,
  'GET /renewals/{id}': EVERYONE,
  'GET /renewals/advice': EVERYONE,
  'POST /renewals/{id}/steps/{step}': ['tenant-admin', 'integration-developer'],
  'POST /renewals/{id}/abort': ADMIN,
  'GET /audit': ['tenant-admin', 'monitor'],
  'GET /audit/verify': ['tenant-admin', 'monitor'],
  'GET /audit/head': ['tenant-admin', 'monitor'],
  'GET /whoami': EVERYONE,
  // Subscriptions name where events go, and hold the signing secrets: tenant administrators only.
  'POST /webhooks': ADMIN,
  'GET /webhooks': ADMIN,
  'GET /webhooks/{id}': ADMIN,
  'PATCH /webhooks/{id}': ADMIN,
  'DELETE /webhooks/{id}': ADMIN,
  'POST /webhooks/{id}/rotate-secret': ADMIN,
  'POST /webhooks/{id}/test': ADMIN,
  'GET /webhooks/{id}/deliveries': ADMIN,
  'GET /webhooks/{id}/deliveries/{deliveryId}': ADMIN,
  'POST /webhooks/{id}/deliveries/{deliveryId}/retry': ADMIN,
}

t.test('every route: no token and a bad token are 401, each wrong role is 403, and nothing changes', async (t) => {
  const spec = (await generateOpenApiObject()) as { paths: Record<string, Record<string, unknown>> }
  const operations = Object.entries(spec.paths).flatMap(([path, ops]) =>
    Object.keys(ops)
      .filter((m) => ['get', 'put', 'post', 'delete', 'patch'].includes(m))
      .map((m) => `${m.toUpperCase()} ${path}`),
  )
  t.same(operations.sort(), Object.keys(ACCESS).sort(), 'the table names every operation the service has')

  const app = await buildTestApp(t)

  const asRole = asRoleOn(app)
  const receiver = await issueCertificate('roles-receiver')
  const next = await issueCertificate('roles-next', { notAfter: new Date(Date.now() + 800 * 86_400_000) })
  await putCertificate(app, 'partner', receiver)
  await putEncryptor(app, 'flow', { receiverAliases: ['partner'] })
  const renewal = (
    await startRenewal(app, {
      procedure: 'exchange',
      encryptorId: 'flow',
      currentAlias: 'partner',
      certificate: next.pem,
    })
  ).json()
  // Disabled, so its ping waits in the log: nothing is sent anywhere.
  const hook = (
    await asRole('tenant-admin').post('/webhooks', {
      url: 'https://hooks.example.com/x',
      events: ['*'],
      enabled: false,
    })
  ).json() as { id: string }
  const ping = (await asRole('tenant-admin').post(`/webhooks/${hook.id}/test`)).json() as { deliveryId: string }
  const audit = async () => (await asRole('monitor').get('/audit')).json()
  const webhooks = async () => ({
    list: (await asRole('tenant-admin').get('/webhooks')).json(),
    log: (await asRole('tenant-admin').get(`/webhooks/${hook.id}/deliveries`)).json(),
  })
  const before = { store: await snapshot(app), audit: await audit(), webhooks: await webhooks() }

  // Real resources, so a permitted call would act on them: refusals must happen before any effect.
  const url = (path: string) =>
    path
      .replace('{alias}', 'partner')
      .replace('{id}', path.startsWith('/renewals') ? renewal.id : path.startsWith('/webhooks') ? hook.id : 'flow')
      .replace('{deliveryId}', ping.deliveryId)
      .replace('{step}', 'exchange-certificate')
  const send = (method: string, path: string, headers: Record<string, string>) =>
    app.inject({
      method: method as 'GET',
      url: url(path),
      headers: { 'content-type': 'application/json', ...headers },
      payload: method === 'GET' ? undefined : '{}',
    })

  for (const [operation, access] of Object.entries(ACCESS)) {
    const [method, path] = operation.split(' ') as [string, string]
    if (access === 'public') {
      const res = await app.inject({ method: method as 'GET', url: path })
      t.equal(res.statusCode, 200, `${operation}: public`)
      continue
    }
    assertProblem(t, await send(method, path, {}), 401, 'CMS_UNAUTHENTICATED', `${operation} without a token`)
    assertProblem(
      t,
      await send(method, path, { authorization: 'Bearer not-a-token' }),
      401,
      'CMS_UNAUTHENTICATED',
      `${operation} with a bad token`,
    )
    assertProblem(
      t,
      await send(method, path, { authorization: 'Basic dXNlcjpwYXNz' }),
      401,
      'CMS_UNAUTHENTICATED',
      `${operation} with another scheme`,
    )
    for (const role of ROLES.filter((r) => !access.includes(r))) {
      assertProblem(t, await send(method, path, auth(role)), 403, 'CMS_FORBIDDEN', `${operation} as ${role}`)
    }
  }
  t.same(
    { store: await snapshot(app), audit: await audit(), webhooks: await webhooks() },
    before,
    'no refused call changed the keystore, the encryptors, the webhooks or the audit log',
  )
})
