import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { garbledExtensionExamples } from '../helpers/garbled-extensions.js'
import { issueCertificate } from '../helpers/pki.js'
import { startRenewal } from '../helpers/renewals.js'
import { assertProblem, putCertificate, putEncryptor, snapshot } from '../helpers/requests.js'

t.test('a renewal with a certificate whose extension is garbled: 400, and nothing starts', async (t) => {
  const app = await buildTestApp(t)
  t.equal((await putCertificate(app, 'partner', await issueCertificate('partner'))).statusCode, 201)
  t.equal((await putEncryptor(app, 'flow', { receiverAliases: ['partner'] })).statusCode, 201)
  const before = await snapshot(app)

  const cases = [
    ...(await Promise.all(
      garbledExtensionExamples().map(async ({ name, options }) => ({
        name,
        certificate: (await issueCertificate('partner-2027', options)).pem,
        code: 'CMS_CERTIFICATE_MALFORMED',
      })),
    )),
    { name: 'BEGIN lines, no END', certificate: '-----BEGIN A-----\n'.repeat(1000), code: 'CMS_CERTIFICATE_COUNT' },
  ]
  for (const procedure of [{ procedure: 'exchange' }, { procedure: 'add-alias', newAlias: 'partner-2027' }]) {
    for (const c of cases) {
      const body = { ...procedure, encryptorId: 'flow', currentAlias: 'partner', certificate: c.certificate }
      const res = await startRenewal(app, body)
      assertProblem(t, res, 400, c.code, `${procedure.procedure}, ${c.name}`)
    }
  }
  t.same(await snapshot(app), before, 'the keystore and the encryptors are unchanged')
  t.same((await asRoleOn(app)('monitor').get('/renewals')).json().renewals, [], 'no renewal was started')
})
