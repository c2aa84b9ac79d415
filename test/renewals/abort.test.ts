import t from 'tap'
import { PROCEDURE, RECEIVER_PROCEDURES } from '../../src/renewals/procedures.js'
import { buildTestApp } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { issueCertificate } from '../helpers/pki.js'
import { assertReceiverDecrypts, startRenewal, takeStep } from '../helpers/renewals.js'
import { putCertificate, putEncryptor, snapshot } from '../helpers/requests.js'

const DAY = 86_400_000

/** Keystore entries (alias, fingerprint) and encryptors (aliases, pause): what an abort must restore. */
async function configuration(app: Parameters<typeof snapshot>[0]) {
  const s = await snapshot(app)
  return {
    entries: s.details.map((d: { alias: string; sha256Fingerprint: string }) => [d.alias, d.sha256Fingerprint]),
    encryptors: s.encryptors.encryptors.map((e: { id: string; receiverAliases: string[]; pause: unknown }) => [
      e.id,
      e.receiverAliases,
      e.pause,
    ]),
  }
}

for (const procedure of RECEIVER_PROCEDURES) {
  const definition = PROCEDURE[procedure]
  for (let taken = 0; taken < definition.steps.length; taken++) {
    const pastNoReturn = definition.steps.slice(0, taken).some((s) => s.name === definition.pointOfNoReturn)
    t.test(
      `${procedure}: abort after ${taken} step(s) ${pastNoReturn ? 'is refused' : 'restores the state before'}`,
      async (t) => {
        const app = await buildTestApp(t)
        const asRole = asRoleOn(app)
        const old = await issueCertificate('old')
        const fresh = await issueCertificate('new', { notAfter: new Date(Date.now() + 730 * DAY) })
        await putCertificate(app, 'partner', old)
        const prepared = procedure === 'prepared-alias'
        await putEncryptor(app, 'flow', {
          receiverAliases: prepared ? ['partner', 'partner-next'] : ['partner'],
          missingAlias: prepared ? 'skip' : 'fail',
        })
        const before = await configuration(app)
        const newAlias = definition.newAlias === 'required' ? { newAlias: 'partner-next' } : {}
        const id = (
          await startRenewal(app, {
            procedure,
            encryptorId: 'flow',
            currentAlias: 'partner',
            certificate: fresh.pem,
            ...newAlias,
          })
        ).json().id
        for (const step of definition.steps.slice(0, taken))
          t.equal((await takeStep(app, id, step.name, step.role)).statusCode, 200, step.name)

        const { abort } = (await asRole('monitor').get(`/renewals/${id}`)).json()
        t.equal(abort.allowed, !pastNoReturn, 'the renewal view foretells the answer')
        const res = await asRole('tenant-admin').post(`/renewals/${id}/abort`)
        if (pastNoReturn) {
          t.equal(res.statusCode, 409)
          t.equal(res.json().code, 'CMS_ABORT_REFUSED')
          t.equal(res.json().detail, abort.explanation, 'and explains it in the same words')
          t.equal((await asRole('monitor').get(`/renewals/${id}`)).json().state, 'active')
          return
        }
        t.equal(res.statusCode, 200)
        t.equal(res.json().state, 'aborted')
        t.same(await configuration(app), before, 'keystore and encryptor are as before the renewal')
        await assertReceiverDecrypts(t, app, 'flow', [old], [fresh], 'after abort')
        const audit = (await asRole('monitor').get(`/audit?renewalId=${id}&action=renewal.abort`)).json()
        t.equal(audit.records.length, 1)
      },
    )
  }
}
