import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { issueCertificate } from '../helpers/pki.js'
import { assertReceiverDecrypts, startRenewal, takeStep } from '../helpers/renewals.js'
import { assertProblem, encrypt, putCertificate, putEncryptor } from '../helpers/requests.js'

const DAY = 86_400_000
const newCertificate = (name: string, key: 'rsa-2048' | 'ec-p256' = 'rsa-2048') =>
  issueCertificate(name, { key, notAfter: new Date(Date.now() + 730 * DAY) })

/** A receiver "partner" on encryptor "flow", plus an unrelated receiver "other" that must never be disturbed. */
async function setup(t: Parameters<typeof buildTestApp>[0], encryptor: Record<string, unknown> = {}) {
  const app = await buildTestApp(t)
  const old = await issueCertificate('partner-2026')
  const other = await issueCertificate('other')
  t.equal((await putCertificate(app, 'partner', old)).statusCode, 201)
  t.equal((await putCertificate(app, 'other', other)).statusCode, 201)
  t.equal((await putEncryptor(app, 'flow', { receiverAliases: ['partner', 'other'], ...encryptor })).statusCode, 201)
  return { app, old, other }
}

t.test('exchange: the receiver holds old and new keys; one step moves messages to the new key', async (t) => {
  const { app, old, other } = await setup(t)
  const asRole = asRoleOn(app)
  const fresh = await newCertificate('partner-2027')
  const started = await startRenewal(app, {
    procedure: 'exchange',
    encryptorId: 'flow',
    currentAlias: 'partner',
    certificate: fresh.pem,
  })
  t.equal(started.statusCode, 201)
  const renewal = started.json()
  t.match(renewal, {
    state: 'active',
    next: { step: 'exchange-certificate', role: 'tenant-admin' },
    recipients: ['partner', 'other'],
  })
  await assertReceiverDecrypts(t, app, 'flow', [old, other], [fresh], 'before the exchange')

  const done = await takeStep(app, renewal.id, 'exchange-certificate', 'tenant-admin', 'receiver confirmed both keys')
  t.equal(done.statusCode, 200)
  t.match(done.json(), {
    state: 'completed',
    next: null,
    steps: [
      {
        name: 'exchange-certificate',
        status: 'done',
        by: 'test-tenant-admin',
        comment: 'receiver confirmed both keys',
      },
    ],
  })
  await assertReceiverDecrypts(t, app, 'flow', [fresh, other], [old], 'after the exchange')
  const entry = (await asRole('monitor').get('/keystore/entries/partner')).json()
  t.equal(entry.sha256Fingerprint, renewal.certificate.sha256Fingerprint)
  t.equal(entry.history.length, 1, 'the old certificate is kept in the history')
})

t.test('add-alias: two RecipientInfos while the receiver switches, then only the new one', async (t) => {
  const { app, old, other } = await setup(t)
  const asRole = asRoleOn(app)
  const fresh = await newCertificate('partner-2027', 'ec-p256')
  const started = await startRenewal(app, {
    procedure: 'add-alias',
    encryptorId: 'flow',
    currentAlias: 'partner',
    newAlias: 'partner-2027',
    certificate: fresh.pem,
  })
  t.equal(started.statusCode, 201)
  const id = started.json().id

  assertProblem(
    t,
    await takeStep(app, id, 'add-alias', 'integration-developer'),
    409,
    'CMS_STEP_OUT_OF_ORDER',
    'add-alias first',
  )
  t.match(
    (await takeStep(app, id, 'add-alias', 'integration-developer')).json().detail,
    /next step is "add-certificate", taken by tenant-admin/,
  )
  assertProblem(
    t,
    await takeStep(app, id, 'add-certificate', 'integration-developer'),
    403,
    'CMS_STEP_FORBIDDEN',
    'wrong role',
  )
  assertProblem(
    t,
    await takeStep(app, id, 'add-certificate', 'integration-flow'),
    403,
    'CMS_FORBIDDEN',
    'a role that takes no step',
  )

  let r = (await takeStep(app, id, 'add-certificate', 'tenant-admin')).json()
  t.same(r.recipients, ['partner', 'other'], 'the new certificate is stored, not yet used')
  await assertReceiverDecrypts(t, app, 'flow', [old, other], [fresh], 'after add-certificate')
  const repeat = await takeStep(app, id, 'add-certificate', 'tenant-admin')
  t.equal(repeat.statusCode, 200, 'repeating the last step is idempotent')
  t.same(repeat.json(), r)

  r = (await takeStep(app, id, 'add-alias', 'integration-developer')).json()
  t.same(r.recipients, ['partner', 'other', 'partner-2027'], 'two RecipientInfos for the receiver')
  await assertReceiverDecrypts(t, app, 'flow', [old, fresh, other], [], 'after add-alias (old key still works)')

  // The receiver now switches to its new key and removes the old one.
  await takeStep(app, id, 'confirm-receiver-switched', 'tenant-admin')
  await assertReceiverDecrypts(t, app, 'flow', [fresh, other], [], 'after confirm-receiver-switched (new key only)')
  assertProblem(
    t,
    await asRole('tenant-admin').post(`/renewals/${id}/abort`),
    409,
    'CMS_ABORT_REFUSED',
    'abort after the switch',
  )

  r = (await takeStep(app, id, 'remove-old-alias', 'integration-developer')).json()
  t.same(r.recipients, ['other', 'partner-2027'])
  await assertReceiverDecrypts(t, app, 'flow', [fresh, other], [old], 'after remove-old-alias')

  r = (await takeStep(app, id, 'remove-old-certificate', 'tenant-admin')).json()
  t.match(r, { state: 'completed', next: null })
  t.equal((await asRole('monitor').get('/keystore/entries/partner')).statusCode, 404)
  await assertReceiverDecrypts(t, app, 'flow', [fresh, other], [old], 'completed')

  const audit = (await asRole('monitor').get(`/audit?renewalId=${id}&limit=50`)).json()
  t.same(
    audit.records.map((a: { action: string }) => a.action).reverse(),
    [
      'renewal.start',
      'keystore.create',
      'renewal.step',
      'encryptor.alias.add',
      'renewal.step',
      'renewal.step',
      'encryptor.alias.remove',
      'renewal.step',
      'keystore.delete',
      'renewal.step',
    ],
    'one audit record per change, in order',
  )
  t.match(
    audit.records.find((a: { action: string }) => a.action === 'encryptor.alias.add'),
    {
      actor: 'test-integration-developer',
      role: 'integration-developer',
      target: 'encryptors/flow',
      before: { receiverAliases: ['partner', 'other'] },
      after: { receiverAliases: ['partner', 'other', 'partner-2027'] },
    },
  )
})

t.test('prepared-alias: fill the empty slot, confirm, remove the old certificate; both slots stay', async (t) => {
  const { app, old, other } = await setup(t, {
    receiverAliases: ['partner', 'partner-next', 'other'],
    missingAlias: 'skip',
  })
  const asRole = asRoleOn(app)
  const fresh = await newCertificate('partner-next')
  const id = (
    await startRenewal(app, {
      procedure: 'prepared-alias',
      encryptorId: 'flow',
      currentAlias: 'partner',
      newAlias: 'partner-next',
      certificate: fresh.pem,
    })
  ).json().id
  await assertReceiverDecrypts(t, app, 'flow', [old, other], [fresh], 'started')
  let r = (await takeStep(app, id, 'add-certificate', 'tenant-admin')).json()
  t.same(r.recipients, ['partner', 'partner-next', 'other'])
  await assertReceiverDecrypts(t, app, 'flow', [old, fresh, other], [], 'after add-certificate')
  await takeStep(app, id, 'confirm-receiver-switched', 'tenant-admin')
  await assertReceiverDecrypts(t, app, 'flow', [fresh, other], [], 'after confirm')
  r = (await takeStep(app, id, 'remove-old-certificate', 'tenant-admin')).json()
  t.match(r, { state: 'completed', recipients: ['partner-next', 'other'] })
  const encryptor = (await asRole('monitor').get('/encryptors/flow')).json()
  t.same(
    encryptor.receiverAliases,
    ['partner', 'partner-next', 'other'],
    'the old alias stays as the empty slot for next time',
  )
  await assertReceiverDecrypts(t, app, 'flow', [fresh, other], [old], 'completed')
})

t.test('downtime: paused with 503 and Retry-After while the receiver swaps its only key', async (t) => {
  const { app, old, other } = await setup(t)
  const fresh = await newCertificate('partner-2027')
  const end = new Date(Date.now() + 3600_000).toISOString()
  const started = await startRenewal(app, {
    procedure: 'downtime',
    encryptorId: 'flow',
    currentAlias: 'partner',
    certificate: fresh.pem,
    downtime: { start: new Date().toISOString(), end },
  })
  t.equal(started.statusCode, 201)
  const id = started.json().id
  t.same(started.json().downtime, { start: started.json().downtime.start, end })
  await assertReceiverDecrypts(t, app, 'flow', [old, other], [fresh], 'before the downtime')

  let r = (await takeStep(app, id, 'begin-downtime', 'tenant-admin')).json()
  t.match(r, { paused: true, recipients: [] })
  const paused = await encrypt(app, 'flow', 'not now')
  assertProblem(t, paused, 503, 'CMS_ENCRYPTOR_PAUSED', 'paused')
  const retryAfter = Number(paused.headers['retry-after'])
  t.ok(retryAfter > 3500 && retryAfter <= 3600, `Retry-After points at the end of the window (${retryAfter} s)`)

  await takeStep(app, id, 'exchange-certificate', 'tenant-admin')
  t.equal((await encrypt(app, 'flow', 'still not')).statusCode, 503, 'still paused after the exchange')
  r = (await takeStep(app, id, 'end-downtime', 'tenant-admin')).json()
  t.match(r, { state: 'completed', paused: false, recipients: ['partner', 'other'] })
  await assertReceiverDecrypts(t, app, 'flow', [fresh, other], [old], 'after the downtime')
})

t.test('abort restores the state before the renewal', async (t) => {
  const { app, old, other } = await setup(t)
  const asRole = asRoleOn(app)
  const fresh = await newCertificate('partner-2027')
  const before = (await asRole('monitor').get('/encryptors/flow')).json()
  const id = (
    await startRenewal(app, {
      procedure: 'add-alias',
      encryptorId: 'flow',
      currentAlias: 'partner',
      newAlias: 'partner-2027',
      certificate: fresh.pem,
    })
  ).json().id
  await takeStep(app, id, 'add-certificate', 'tenant-admin')
  await takeStep(app, id, 'add-alias', 'integration-developer')
  assertProblem(
    t,
    await asRole('integration-developer').post(`/renewals/${id}/abort`),
    403,
    'CMS_FORBIDDEN',
    'abort by a developer',
  )
  const aborted = await asRole('tenant-admin').post(`/renewals/${id}/abort`, { comment: 'receiver postponed' })
  t.equal(aborted.statusCode, 200)
  t.match(aborted.json(), { state: 'aborted', next: null, recipients: ['partner', 'other'] })
  const after = (await asRole('monitor').get('/encryptors/flow')).json()
  t.same(after.receiverAliases, before.receiverAliases)
  t.equal((await asRole('monitor').get('/keystore/entries/partner-2027')).statusCode, 404)
  await assertReceiverDecrypts(t, app, 'flow', [old, other], [fresh], 'after abort')
  assertProblem(
    t,
    await takeStep(app, id, 'confirm-receiver-switched', 'tenant-admin'),
    409,
    'CMS_RENEWAL_NOT_ACTIVE',
    'a step after abort',
  )

  // Downtime aborted while paused: the encryptor resumes with the old key.
  const downtime = (
    await startRenewal(app, {
      procedure: 'downtime',
      encryptorId: 'flow',
      currentAlias: 'partner',
      certificate: fresh.pem,
    })
  ).json().id
  await takeStep(app, downtime, 'begin-downtime', 'tenant-admin')
  t.equal((await asRole('tenant-admin').post(`/renewals/${downtime}/abort`)).json().paused, false)
  await assertReceiverDecrypts(t, app, 'flow', [old, other], [fresh], 'after the downtime abort')
})

t.test('starts are checked before anything changes', async (t) => {
  const { app } = await setup(t)
  const asRole = asRoleOn(app)
  await putEncryptor(app, 'strict', { receiverAliases: ['other'] })
  const fresh = await newCertificate('partner-2027')
  const noSki = await issueCertificate('no-ski', {
    subjectKeyIdentifier: false,
    notAfter: new Date(Date.now() + 730 * DAY),
  })
  await putEncryptor(app, 'by-ski', { receiverAliases: ['other'], recipientIdentifier: 'subject-key-identifier' })
  const shorter = await issueCertificate('shorter', { notAfter: new Date(Date.now() + 30 * DAY) })
  const base = {
    procedure: 'add-alias',
    encryptorId: 'flow',
    currentAlias: 'partner',
    newAlias: 'partner-2027',
    certificate: fresh.pem,
  }
  const cases: Array<[string, Record<string, unknown>, number, string]> = [
    ['unknown encryptor', { ...base, encryptorId: 'nope' }, 404, 'CMS_ENCRYPTOR_NOT_FOUND'],
    ['current alias not on the encryptor', { ...base, encryptorId: 'strict' }, 409, 'CMS_RENEWAL_PRECONDITION'],
    ['newAlias missing for add-alias', { ...base, newAlias: undefined }, 422, 'CMS_RENEWAL_INVALID'],
    ['newAlias given for exchange', { ...base, procedure: 'exchange' }, 422, 'CMS_RENEWAL_INVALID'],
    ['newAlias equal to currentAlias', { ...base, newAlias: 'partner' }, 422, 'CMS_RENEWAL_INVALID'],
    ['new alias already in the keystore', { ...base, newAlias: 'other' }, 409, 'CMS_RENEWAL_PRECONDITION'],
    ['prepared slot not on the encryptor', { ...base, procedure: 'prepared-alias' }, 409, 'CMS_RENEWAL_PRECONDITION'],
    [
      'downtime window for another procedure',
      { ...base, downtime: { start: new Date().toISOString(), end: new Date(Date.now() + 1000).toISOString() } },
      422,
      'CMS_RENEWAL_INVALID',
    ],
    [
      'downtime window ending before it starts',
      {
        ...base,
        procedure: 'downtime',
        newAlias: undefined,
        downtime: { start: new Date(Date.now() + 1000).toISOString(), end: new Date().toISOString() },
      },
      422,
      'CMS_RENEWAL_INVALID',
    ],
    ['a malformed certificate', { ...base, certificate: 'garbage' }, 400, 'CMS_CERTIFICATE_MALFORMED'],
    ['a private key', { ...base, certificate: fresh.keyPem }, 400, 'CMS_PRIVATE_KEY_IN_BODY'],
    [
      'a certificate expiring before the current one',
      { ...base, certificate: shorter.pem },
      422,
      'CMS_RENEWAL_INVALID',
    ],
    [
      'a certificate the encryptor cannot use',
      { ...base, encryptorId: 'by-ski', currentAlias: 'other', certificate: noSki.pem },
      409,
      'CMS_SUBJECT_KEY_IDENTIFIER_MISSING',
    ],
    ['an unknown procedure', { ...base, procedure: 'yolo' }, 400, 'CMS_VALIDATION_FAILED'],
    ['an unknown property', { ...base, force: true }, 400, 'CMS_VALIDATION_FAILED'],
  ]
  for (const [name, body, status, code] of cases)
    assertProblem(t, await startRenewal(app, JSON.parse(JSON.stringify(body))), status, code, name)
  assertProblem(
    t,
    await asRole('integration-developer').post('/renewals', base),
    403,
    'CMS_FORBIDDEN',
    'developer starting',
  )
  t.same((await asRole('monitor').get('/renewals')).json().renewals, [], 'no renewal was recorded')

  const first = await startRenewal(app, base)
  t.equal(first.statusCode, 201)
  assertProblem(
    t,
    await startRenewal(app, { ...base, newAlias: 'partner-2028' }),
    409,
    'CMS_RENEWAL_IN_PROGRESS',
    'a second renewal of the encryptor',
  )
  assertProblem(
    t,
    await putCertificate(app, 'partner', fresh),
    409,
    'CMS_RENEWAL_IN_PROGRESS',
    'direct change to the current alias',
  )
  assertProblem(
    t,
    await putCertificate(app, 'partner-2027', fresh),
    409,
    'CMS_RENEWAL_IN_PROGRESS',
    'direct change to the new alias',
  )
  assertProblem(
    t,
    await asRole('integration-developer').delete('/encryptors/flow/aliases/partner'),
    409,
    'CMS_RENEWAL_IN_PROGRESS',
    'removing the owned alias',
  )
  assertProblem(
    t,
    await asRole('integration-developer').delete('/encryptors/flow'),
    409,
    'CMS_RENEWAL_IN_PROGRESS',
    'deleting the encryptor',
  )
  t.equal(
    (await putEncryptor(app, 'flow', { receiverAliases: ['partner', 'other'], contentEncryption: 'aes-128-cbc' }))
      .statusCode,
    200,
    'algorithm changes stay possible',
  )
  const list = (await asRole('monitor').get('/renewals?state=active&encryptorId=flow')).json()
  t.same(
    list.renewals.map((r: { id: string }) => r.id),
    [first.json().id],
  )
  assertProblem(
    t,
    await asRole('monitor').get('/renewals/00000000-0000-4000-8000-000000000000'),
    404,
    'CMS_RENEWAL_NOT_FOUND',
    'unknown renewal',
  )
  assertProblem(
    t,
    await takeStep(app, first.json().id, 'teleport', 'tenant-admin'),
    400,
    'CMS_VALIDATION_FAILED',
    'unknown step name',
  )
})

t.test('the same step sent twice at once: one applies it, the other sees the new state', async (t) => {
  const { app } = await setup(t)
  const asRole = asRoleOn(app)
  const fresh = await newCertificate('partner-2027')
  const id = (
    await startRenewal(app, {
      procedure: 'add-alias',
      encryptorId: 'flow',
      currentAlias: 'partner',
      newAlias: 'partner-2027',
      certificate: fresh.pem,
    })
  ).json().id
  const [a, b] = await Promise.all([
    takeStep(app, id, 'add-certificate', 'tenant-admin'),
    takeStep(app, id, 'add-certificate', 'tenant-admin'),
  ])
  t.same([a.statusCode, b.statusCode], [200, 200])
  t.same(a.json(), b.json())
  const audit = (await asRole('tenant-admin').get(`/audit?renewalId=${id}&action=renewal.step`)).json()
  t.equal(audit.records.length, 1, 'the step was applied once')
  const stored = (await asRole('tenant-admin').get(`/audit?target=keystore/partner-2027`)).json()
  t.equal(stored.records.length, 1, 'the certificate was stored once')
})
