import t from 'tap'
import { MAX_LISTED_ALIASES, MAX_RECEIVER_ALIASES } from '../../src/encryptors/alias-limit.js'
import { buildTestApp } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { issueCertificate } from '../helpers/pki.js'
import { assertReceiverDecrypts, startRenewal, takeStep } from '../helpers/renewals.js'
import { assertProblem, putCertificate, putEncryptor } from '../helpers/requests.js'

const DAY = 86_400_000

/**
 * Encryptor "flow" at `count` aliases: receivers "partner" and "other", then empty slots (missingAlias
 * "skip"), so that a full list costs no certificates. X-Cms-Recipients at its largest is
 * test/system/nginx-proxy.test.ts's question; this file's is the count.
 */
async function setup(t: Parameters<typeof buildTestApp>[0], count: number) {
  const app = await buildTestApp(t)
  const old = await issueCertificate('partner-2026')
  const other = await issueCertificate('other')
  await putCertificate(app, 'partner', old)
  await putCertificate(app, 'other', other)
  const slots = Array.from({ length: count - 2 }, (_, i) => `slot-${i + 1}`)
  const created = await putEncryptor(app, 'flow', {
    receiverAliases: ['partner', 'other', ...slots],
    missingAlias: 'skip',
  })
  t.equal(created.statusCode, 201, `flow lists ${count} aliases`)
  const fresh = await issueCertificate('partner-2027', { notAfter: new Date(Date.now() + 730 * DAY) })
  const addAlias = { procedure: 'add-alias', encryptorId: 'flow', currentAlias: 'partner', newAlias: 'partner-2027' }
  return { app, asRole: asRoleOn(app), old, other, fresh, start: { ...addAlias, certificate: fresh.pem } }
}

t.test(
  `add-alias on a full encryptor: ${MAX_LISTED_ALIASES} aliases while it runs, ${MAX_RECEIVER_ALIASES} after`,
  async (t) => {
    const { app, asRole, old, other, fresh, start } = await setup(t, MAX_RECEIVER_ALIASES)
    const listed = async () => (await asRole('monitor').get('/encryptors/flow')).json().receiverAliases.length
    const addDirectly = (alias: string) => asRole('integration-developer').post('/encryptors/flow/aliases', { alias })

    const started = await startRenewal(app, start)
    t.equal(started.statusCode, 201, 'a full encryptor may start an add-alias renewal')
    const id = started.json().id
    await takeStep(app, id, 'add-certificate', 'tenant-admin')
    const added = await takeStep(app, id, 'add-alias', 'integration-developer')
    t.equal(added.statusCode, 200, 'the add-alias step takes it one past its own limit')
    t.same(added.json().recipients, ['partner', 'other', 'partner-2027'])
    t.equal(await listed(), MAX_LISTED_ALIASES)
    await assertReceiverDecrypts(t, app, 'flow', [old, fresh, other], [], 'after add-alias')

    // The renewal's alias is on top of the encryptor's own, which stay at most 100 meanwhile.
    const refused = await addDirectly('one-more')
    assertProblem(t, refused, 409, 'CMS_TOO_MANY_ALIASES', 'a direct add during the renewal')
    t.match(refused.json().detail, /would list 102 receiver aliases; it may list 100, plus the new alias/)
    t.equal((await asRole('integration-developer').delete('/encryptors/flow/aliases/slot-1')).statusCode, 200)
    t.equal((await addDirectly('slot-1')).statusCode, 200, 'with one of its own removed, one may be added back')
    t.equal(await listed(), MAX_LISTED_ALIASES)

    await takeStep(app, id, 'confirm-receiver-switched', 'tenant-admin')
    t.equal((await takeStep(app, id, 'remove-old-alias', 'integration-developer')).statusCode, 200)
    t.equal(await listed(), MAX_RECEIVER_ALIASES, 'back to its own limit')
    const done = await takeStep(app, id, 'remove-old-certificate', 'tenant-admin')
    t.match(done.json(), { state: 'completed', recipients: ['other', 'partner-2027'] })
    await assertReceiverDecrypts(t, app, 'flow', [fresh, other], [old], 'completed')
    assertProblem(t, await addDirectly('one-more'), 409, 'CMS_TOO_MANY_ALIASES', 'a direct add after the renewal')
  },
)

t.test('an encryptor saved past its own limit before it was enforced: no add-alias renewal', async (t) => {
  const { app, asRole, start } = await setup(t, MAX_RECEIVER_ALIASES)
  const listOneMore = (alias: string) =>
    app.db
      .insertInto('encryptor_aliases')
      .values({ encryptor_id: 'flow', position: MAX_RECEIVER_ALIASES, alias })
      .execute()
  await listOneMore('legacy')

  const refused = await startRenewal(app, start)
  assertProblem(t, refused, 409, 'CMS_TOO_MANY_ALIASES', 'the start, rather than its add-alias step')
  t.match(refused.json().detail, /would list 102 receiver aliases/)
  t.same((await asRole('monitor').get('/renewals')).json().renewals, [], 'no renewal was recorded')

  // A renewal started before the limit was enforced stops at its add-alias step, and can be aborted.
  await app.db.deleteFrom('encryptor_aliases').where('alias', '=', 'legacy').execute()
  const id = (await startRenewal(app, start)).json().id
  await takeStep(app, id, 'add-certificate', 'tenant-admin')
  await listOneMore('legacy')
  assertProblem(
    t,
    await takeStep(app, id, 'add-alias', 'integration-developer'),
    409,
    'CMS_TOO_MANY_ALIASES',
    'the add-alias step',
  )
  t.match((await asRole('tenant-admin').post(`/renewals/${id}/abort`)).json(), { state: 'aborted' })
})
