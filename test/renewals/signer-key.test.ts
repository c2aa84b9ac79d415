import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { asRoleOn } from '../helpers/as-role.js'
import { buildTestApp } from '../helpers/app.js'
import { issueCertificate, type TestCertificate } from '../helpers/pki.js'
import { startRenewal, takeStep } from '../helpers/renewals.js'
import { assertProblem, encrypt, putCertificate, putEncryptor } from '../helpers/requests.js'
import { decryptAndVerify, type Trust } from '../helpers/signed.js'
import { signerPki, type TestSigner } from '../helpers/signer-pki.js'

const keyPairOf = (s: TestSigner) => ({ privateKey: s.keyPem, certificateChain: s.certPem + s.chainPem })

/**
 * An encryptor that signs with "sig-2026" and sends no certificate (includeCertificates "none"):
 * the receiver verifies with the signer certificates it trusts, so a test sees which key signed.
 */
async function signingSetup(t: Test) {
  const app = await buildTestApp(t)
  const pki = await signerPki()
  const receiver = await issueCertificate('signer-key-receiver')
  await putCertificate(app, 'partner', receiver)
  const old = await pki.issue('sig-2026', { days: 200 })
  const next = await pki.issue('sig-2027', { days: 565 })
  t.equal((await asRoleOn(app)('tenant-admin').put('/keystore/key-pairs/sig-2026', keyPairOf(old))).statusCode, 201)
  const saved = await putEncryptor(app, 'orders', {
    receiverAliases: ['partner'],
    signer: { alias: 'sig-2026', includeCertificates: 'none' },
  })
  t.equal(saved.statusCode, 201, saved.statusCode === 201 ? 'status 201' : saved.body)
  const trusting = (...signers: TestSigner[]): Trust => ({
    ca: [pki.rootPath, pki.intermediatePath],
    certfiles: signers.map((s) => s.certPath),
  })
  return { app, receiver, old, next, trusting }
}

/** One message, decrypted and verified as the receiver does with the signer certificates it trusts. */
async function assertVerifies(
  t: Test,
  app: FastifyInstance,
  receiver: TestCertificate,
  trust: Trust,
  refusedBy: Trust | undefined,
  label: string,
) {
  const payload = Buffer.from(`signed ${label}`)
  const res = await encrypt(app, 'orders', payload)
  t.equal(res.statusCode, 200, `${label}: encrypted`)
  t.same(await decryptAndVerify(res.rawPayload, receiver, trust), payload, `${label}: decrypts and verifies`)
  if (refusedBy)
    await t.rejects(decryptAndVerify(res.rawPayload, receiver, refusedBy), `${label}: not by the other key`)
  return res.headers['x-cms-signer']
}

t.test(
  'signer-key: each step in order, each message verifying with the certificates the receiver trusts',
  async (t) => {
    const { app, receiver, old, next, trusting } = await signingSetup(t)
    const started = await startRenewal(app, {
      procedure: 'signer-key',
      encryptorId: 'orders',
      currentAlias: 'sig-2026',
      newAlias: 'sig-2027',
      certificate: next.certPem,
    })
    t.equal(started.statusCode, 201, started.statusCode === 201 ? 'status 201' : started.body)
    const id = started.json().id
    t.same(started.json().next, { step: 'add-key-pair', role: 'tenant-admin' })

    // add-key-pair brings the key pair, and only the one whose certificate the renewal announced.
    assertProblem(t, await takeStep(app, id, 'add-key-pair', 'tenant-admin'), 422, 'CMS_RENEWAL_INVALID', 'no key pair')
    const stranger = await (await signerPki()).issue('not-announced', { days: 600 })
    const wrong = await asRoleOn(app)('tenant-admin').post(`/renewals/${id}/steps/add-key-pair`, {
      keyPair: keyPairOf(stranger),
    })
    assertProblem(t, wrong, 422, 'CMS_RENEWAL_INVALID', 'another key pair')
    t.equal((await asRoleOn(app)('monitor').get('/keystore/key-pairs/sig-2027')).statusCode, 404, 'nothing stored')
    const direct = await asRoleOn(app)('tenant-admin').put('/keystore/key-pairs/sig-2027', keyPairOf(next))
    assertProblem(t, direct, 409, 'CMS_RENEWAL_IN_PROGRESS', 'the renewal owns the new alias')
    const added = await asRoleOn(app)('tenant-admin').post(`/renewals/${id}/steps/add-key-pair`, {
      keyPair: keyPairOf(next),
      comment: 'key generated in the HSM export of 2026-11-30',
    })
    t.equal(added.statusCode, 200, added.statusCode === 200 ? 'status 200' : added.body)
    t.notMatch(added.body, /PRIVATE KEY/, 'the step answers no key')
    t.equal(await assertVerifies(t, app, receiver, trusting(old), trusting(next), 'after add-key-pair'), 'sig-2026')

    // The certificate to hand over, from the key pair's download endpoint.
    const download = await asRoleOn(app)('integration-developer').get('/keystore/key-pairs/sig-2027/certificate')
    t.equal(download.statusCode, 200)
    t.equal(download.body.trim(), next.certPem.trim(), 'the new certificate, as the receivers get it')
    t.equal((await takeStep(app, id, 'hand-over-certificate', 'tenant-admin')).statusCode, 200)
    // From here the receiver trusts both certificates.
    t.equal((await takeStep(app, id, 'confirm-receivers-trust', 'tenant-admin')).statusCode, 200)
    t.equal(await assertVerifies(t, app, receiver, trusting(old, next), undefined, 'before the switch'), 'sig-2026')

    // Only the integration developer switches, and only the renewal does: a direct change is refused.
    assertProblem(t, await takeStep(app, id, 'switch-signer', 'tenant-admin'), 403, 'CMS_STEP_FORBIDDEN', 'admin')
    const bypass = await putEncryptor(app, 'orders', { receiverAliases: ['partner'], signer: { alias: 'sig-2027' } })
    t.equal(bypass.statusCode, 409, 'a direct switch while the renewal runs is refused')
    t.equal((await takeStep(app, id, 'switch-signer', 'integration-developer')).statusCode, 200)
    t.equal(await assertVerifies(t, app, receiver, trusting(next), trusting(old), 'after the switch'), 'sig-2027')
    assertProblem(t, await asRoleOn(app)('tenant-admin').post(`/renewals/${id}/abort`), 409, 'CMS_ABORT_REFUSED')

    const done = await takeStep(app, id, 'remove-old-key-pair', 'tenant-admin')
    t.equal(done.statusCode, 200, done.statusCode === 200 ? 'status 200' : done.body)
    t.equal(done.json().state, 'completed')
    t.equal((await asRoleOn(app)('monitor').get('/keystore/key-pairs/sig-2026')).statusCode, 404, 'the old key is gone')
    const encryptor = (await asRoleOn(app)('monitor').get('/encryptors/orders')).json()
    t.equal(encryptor.signer.alias, 'sig-2027')
    t.equal(encryptor.signer.includeCertificates, 'none', 'the other signer options stay')
    t.equal(await assertVerifies(t, app, receiver, trusting(next), trusting(old), 'completed'), 'sig-2027')
  },
)

t.test('signer-key: aborted before the switch, the old key signs and the new key pair is gone', async (t) => {
  const { app, receiver, old, next, trusting } = await signingSetup(t)
  const { id } = (
    await startRenewal(app, {
      procedure: 'signer-key',
      encryptorId: 'orders',
      currentAlias: 'sig-2026',
      newAlias: 'sig-2027',
      certificate: next.certPem,
    })
  ).json()
  await asRoleOn(app)('tenant-admin').post(`/renewals/${id}/steps/add-key-pair`, { keyPair: keyPairOf(next) })
  await takeStep(app, id, 'hand-over-certificate', 'tenant-admin')
  const aborted = await asRoleOn(app)('tenant-admin').post(`/renewals/${id}/abort`)
  t.equal(aborted.statusCode, 200, aborted.statusCode === 200 ? 'status 200' : aborted.body)
  t.equal((await asRoleOn(app)('monitor').get('/keystore/key-pairs/sig-2027')).statusCode, 404, 'new key pair removed')
  t.equal(await assertVerifies(t, app, receiver, trusting(old), trusting(next), 'after the abort'), 'sig-2026')
})

t.test('signer-key: refused starts change nothing', async (t) => {
  const { app, receiver, next } = await signingSetup(t)
  const base = { procedure: 'signer-key', encryptorId: 'orders', currentAlias: 'sig-2026', newAlias: 'sig-2027' }
  const refused = async (body: Record<string, unknown>, status: number, code: string, label: string) => {
    assertProblem(t, await startRenewal(app, body), status, code, label)
    t.same((await asRoleOn(app)('monitor').get('/renewals')).json().renewals ?? [], [], `${label}: no renewal`)
  }
  await refused({ ...base, certificate: next.certPem, newAlias: undefined }, 422, 'CMS_RENEWAL_INVALID', 'no newAlias')
  await refused(
    { ...base, currentAlias: 'partner', certificate: next.certPem },
    409,
    'CMS_RENEWAL_PRECONDITION',
    'not the signer',
  )
  await refused(
    { ...base, newAlias: 'partner', certificate: next.certPem },
    409,
    'CMS_RENEWAL_PRECONDITION',
    'a receiver alias',
  )
  await refused(
    { ...base, certificate: receiver.pem },
    422,
    'CMS_KEY_USAGE_FORBIDS_SIGNING',
    'an encryption certificate',
  )
})
