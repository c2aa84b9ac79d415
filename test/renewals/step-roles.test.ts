import t from 'tap'
import { createApp } from '../../src/app.js'
import { hashToken, TokenRegistry, type Role } from '../../src/auth/tokens.js'
import { freshDatabaseUrl, storeDir, testConfig, TOKENS } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { issueCertificate } from '../helpers/pki.js'
import { startRenewal } from '../helpers/renewals.js'
import { putCertificate, putEncryptor } from '../helpers/requests.js'

const DAY = 86_400_000

/** A token holding both roles that take renewal steps, in each order (the route matches the first it allows). */
const TWO_ROLE_TOKENS = {
  'admin-first': ['tenant-admin', 'integration-developer'],
  'developer-first': ['integration-developer', 'tenant-admin'],
} as const satisfies Record<string, Role[]>

t.test('a token holding two roles is recorded under the role each step requires', async (t) => {
  const registry = new TokenRegistry([
    ...(Object.entries(TOKENS) as Array<[Role, string]>).map(([role, token]) => ({
      name: `test-${role}`,
      roles: [role],
      tokenSha256: hashToken(token).toString('hex'),
    })),
    ...Object.entries(TWO_ROLE_TOKENS).map(([name, roles]) => ({
      name,
      roles,
      tokenSha256: hashToken(`${name}-token`).toString('hex'),
    })),
  ])
  const config = testConfig({ DATA_DIR: storeDir(t), DATABASE_URL: await freshDatabaseUrl(t) })
  const app = await createApp(config, { tokens: registry, logger: false })
  t.teardown(() => app.close())

  const old = await issueCertificate('partner-2026', { key: 'ec-p256' })
  const fresh = await issueCertificate('partner-2027', { key: 'ec-p256', notAfter: new Date(Date.now() + 730 * DAY) })
  await putCertificate(app, 'partner', old)
  await putEncryptor(app, 'flow', { receiverAliases: ['partner'] })
  const started = await startRenewal(app, {
    procedure: 'add-alias',
    encryptorId: 'flow',
    currentAlias: 'partner',
    newAlias: 'partner-2027',
    certificate: fresh.pem,
  })
  t.equal(started.statusCode, 201)
  const id = started.json().id

  // Each step taken with the token whose first role is NOT the one the step needs.
  const steps: Array<[string, keyof typeof TWO_ROLE_TOKENS, Role]> = [
    ['add-certificate', 'developer-first', 'tenant-admin'],
    ['add-alias', 'admin-first', 'integration-developer'],
    ['confirm-receiver-switched', 'developer-first', 'tenant-admin'],
    ['remove-old-alias', 'admin-first', 'integration-developer'],
    ['remove-old-certificate', 'developer-first', 'tenant-admin'],
  ]
  for (const [step, token] of steps) {
    const res = await app.inject({
      method: 'POST',
      url: `/renewals/${id}/steps/${step}`,
      headers: { authorization: `Bearer ${token}-token` },
    })
    t.equal(res.statusCode, 200, `${step} taken by ${token}`)
  }

  const records = (await asRoleOn(app)('monitor').get(`/audit?renewalId=${id}&limit=50`)).json().records.reverse()
  const recorded = (action: string) =>
    records
      .filter((r: { action: string }) => r.action === action)
      .map((r: { actor: string; role: string }) => [r.actor, r.role])
  t.same(
    recorded('renewal.step'),
    steps.map(([, token, role]) => [token, role]),
    'every step under the role it requires',
  )
  t.same(
    [
      ...recorded('keystore.create'),
      ...recorded('encryptor.alias.add'),
      ...recorded('encryptor.alias.remove'),
      ...recorded('keystore.delete'),
    ],
    [
      ['developer-first', 'tenant-admin'],
      ['admin-first', 'integration-developer'],
      ['admin-first', 'integration-developer'],
      ['developer-first', 'tenant-admin'],
    ],
    "and so is each step's keystore or encryptor change",
  )
  const stored = await app.db.selectFrom('renewals').select('step_log').where('id', '=', id).executeTakeFirstOrThrow()
  t.same(
    JSON.parse(stored.step_log).map((s: { by: string; role: string }) => [s.by, s.role]),
    steps.map(([, token, role]) => [token, role]),
    "and the renewal's step log",
  )
})
