import { randomUUID } from 'node:crypto'
import t from 'tap'
import { ROLES } from '../../src/auth/tokens.js'
import { PROCEDURE } from '../../src/renewals/procedures.js'
import { buildTestApp } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { issueCertificate } from '../helpers/pki.js'
import { startRenewal, takeStep } from '../helpers/renewals.js'
import { assertProblem, putCertificate, putEncryptor } from '../helpers/requests.js'

const DAY = 86_400_000

t.test('GET /renewals/advice asks the questions in order, then recommends', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)

  for (const role of ROLES) {
    const first = await asRole(role).get('/renewals/advice')
    t.equal(first.statusCode, 200, `${role} may ask`)
    t.match(first.json(), { question: { id: 'decryptsWithBothKeys' }, recommendation: null })
  }
  const second = (await asRole('monitor').get('/renewals/advice?decryptsWithBothKeys=false')).json()
  t.match(second, { question: { id: 'acceptsSeveralRecipientInfos', text: /RecipientInfos\?$/ }, recommendation: null })
  t.type(second.question.help, 'string')

  const cases = [
    { query: 'decryptsWithBothKeys=true', procedure: 'exchange' },
    { query: 'decryptsWithBothKeys=false&acceptsSeveralRecipientInfos=false', procedure: 'downtime' },
    {
      query: 'decryptsWithBothKeys=false&acceptsSeveralRecipientInfos=true&hasPreparedAlias=true',
      procedure: 'prepared-alias',
    },
    {
      query: 'decryptsWithBothKeys=false&acceptsSeveralRecipientInfos=true&hasPreparedAlias=false',
      procedure: 'add-alias',
    },
    { query: 'decryptsWithBothKeys=true&hasPreparedAlias=false', procedure: 'exchange' },
  ] as const
  for (const c of cases) {
    const res = await asRole('integration-developer').get(`/renewals/advice?${c.query}`)
    t.equal(res.statusCode, 200, c.query)
    const definition = PROCEDURE[c.procedure]
    t.same(
      res.json().recommendation,
      {
        procedure: c.procedure,
        why: res.json().recommendation.why,
        newAlias: definition.newAlias,
        steps: definition.steps.map((s) => ({ name: s.name, role: s.role })),
      },
      `${c.procedure}: the procedure, its newAlias rule and steps`,
    )
    t.equal(res.json().question, null)
  }

  assertProblem(
    t,
    await asRole('monitor').get('/renewals/advice?decryptsWithBothKeys=maybe'),
    400,
    'CMS_VALIDATION_FAILED',
  )
  const anonymous = await app.inject({ method: 'GET', url: '/renewals/advice' })
  assertProblem(t, anonymous, 401, 'CMS_UNAUTHENTICATED')
  // /renewals/:id takes a uuid: the static path is not read as an id, and ids still reach their route.
  assertProblem(t, await asRole('monitor').get(`/renewals/${randomUUID()}`), 404, 'CMS_RENEWAL_NOT_FOUND')
  assertProblem(t, await asRole('monitor').get('/renewals/advices'), 400, 'CMS_VALIDATION_FAILED')
})

t.test('a renewal says what each step changes and what an abort would do, step by step', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  const [old, fresh, bank] = await Promise.all([
    issueCertificate('partner-ag'),
    issueCertificate('partner-ag-2027', { notAfter: new Date(Date.now() + 730 * DAY) }),
    issueCertificate('bank'),
  ])
  await putCertificate(app, 'partner-ag', old)
  await putCertificate(app, 'bank', bank)
  await putEncryptor(app, 'orders-to-partner', { receiverAliases: ['partner-ag', 'bank'] })
  const started = await startRenewal(app, {
    procedure: 'add-alias',
    encryptorId: 'orders-to-partner',
    currentAlias: 'partner-ag',
    newAlias: 'partner-ag-2027',
    certificate: fresh.pem,
  })
  t.equal(started.statusCode, 201)
  const renewal = started.json()
  const change = (name: string) => renewal.steps.find((s: { name: string }) => s.name === name).change
  t.equal(
    change('add-alias'),
    'From now on every message from orders-to-partner carries a RecipientInfo for partner-ag-2027 as well as ' +
      'for partner-ag and bank.',
    'names the other receiver of the encryptor too',
  )
  t.equal(
    change('remove-old-alias'),
    'From now on messages from orders-to-partner carry no RecipientInfo for partner-ag: only partner-ag-2027 and ' +
      'bank can decrypt them.',
  )
  t.match(change('confirm-receiver-switched'), /can no longer be aborted\.$/)
  t.match(renewal.abort, { allowed: true, pointOfNoReturn: 'confirm-receiver-switched' })
  t.match(renewal.abort.explanation, /^Abort closes the renewal and changes nothing else/)

  const id = renewal.id
  await takeStep(app, id, 'add-certificate', 'tenant-admin')
  const added = (await takeStep(app, id, 'add-alias', 'integration-developer')).json()
  t.same(
    added.steps.map((s: { change: string }) => s.change),
    renewal.steps.map((s: { change: string }) => s.change),
    'the sentences do not change as steps are taken',
  )
  t.equal(
    added.abort.explanation,
    'Abort removes partner-ag-2027 from orders-to-partner and deletes the certificate stored under ' +
      'partner-ag-2027; messages go to partner-ag and bank with the current certificate, as before the renewal.',
  )

  const confirmed = (await takeStep(app, id, 'confirm-receiver-switched', 'tenant-admin')).json()
  t.equal(confirmed.abort.allowed, false, 'past the point of no return')
  const refused = await asRole('tenant-admin').post(`/renewals/${id}/abort`)
  assertProblem(t, refused, 409, 'CMS_ABORT_REFUSED')
  t.equal(confirmed.abort.explanation, refused.json().detail, 'the view explains the refusal in the words of the 409')

  await takeStep(app, id, 'remove-old-alias', 'integration-developer')
  const done = (await takeStep(app, id, 'remove-old-certificate', 'tenant-admin')).json()
  t.equal(done.state, 'completed')
  t.same(done.abort, {
    allowed: false,
    pointOfNoReturn: 'confirm-receiver-switched',
    explanation: 'The renewal is completed; there is nothing to abort.',
  })
})
