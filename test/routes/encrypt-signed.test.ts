import type { FastifyInstance } from 'fastify'
import { Readable } from 'node:stream'
import t, { type Test } from 'tap'
import { asRoleOn } from '../helpers/as-role.js'
import { auth, buildTestApp } from '../helpers/app.js'
import { opensslDecrypt } from '../helpers/openssl.js'
import { issueCertificate } from '../helpers/pki.js'
import { assertProblem, encrypt, putCertificate, putEncryptor } from '../helpers/requests.js'
import { decryptAndVerify, opensslVerify, type Trust } from '../helpers/signed.js'
import { signerPki, type TestSigner } from '../helpers/signer-pki.js'

/** Imports a signer's key pair as the tenant administrator does, PEM key and chain. */
async function putKeyPair(app: FastifyInstance, alias: string, signer: TestSigner) {
  const res = await asRoleOn(app)('tenant-admin').put(`/keystore/key-pairs/${alias}`, {
    privateKey: signer.keyPem,
    certificateChain: signer.certPem + signer.chainPem,
  })
  if (res.statusCode >= 300) throw new Error(`key pair ${alias}: ${res.statusCode} ${res.body}`)
  return res
}

async function signingApp(t: Test) {
  const app = await buildTestApp(t)
  const pki = await signerPki()
  const receivers = {
    rsa: await issueCertificate('signed-receiver-rsa'),
    ec: await issueCertificate('signed-receiver-ec', { key: 'ec-p384', keyUsage: ['keyAgreement'] }),
  }
  await putCertificate(app, 'partner-rsa', receivers.rsa)
  await putCertificate(app, 'partner-ec', receivers.ec)
  const signers = { rsa: await pki.issue('our-rsa-signer'), ec: await pki.issue('our-ec-signer', { key: 'ec-p256' }) }
  await putKeyPair(app, 'our-rsa', signers.rsa)
  await putKeyPair(app, 'our-ec', signers.ec)
  // The receiver trusts the root; the message carries the signer certificate, so it needs the intermediate.
  const trust: Trust = { ca: [pki.rootPath, pki.intermediatePath] }
  return { app, receivers, signers, trust, pki }
}

const bothReceivers = ['partner-rsa', 'partner-ec']

t.test(
  'an encryptor with a signer: every receiver decrypts, then verifies; X-Cms-Signer names the key pair',
  async (t) => {
    const { app, receivers, trust } = await signingApp(t)
    const saved = await putEncryptor(app, 'signed', { receiverAliases: bothReceivers, signer: { alias: 'our-rsa' } })
    t.equal(saved.statusCode, 201, saved.statusCode === 201 ? 'status 201' : saved.body)
    t.same(
      saved.json().signer,
      {
        alias: 'our-rsa',
        digest: 'sha256',
        signature: 'rsa-pkcs1-v1_5',
        includeCertificates: 'signer',
        signerIdentifier: 'issuer-serial',
      },
      'the defaults for an RSA key, resolved and shown',
    )
    const ec = await putEncryptor(app, 'signed-ec', { receiverAliases: bothReceivers, signer: { alias: 'our-ec' } })
    t.equal(ec.json().signer.signature, 'ecdsa', 'an EC key pair defaults to ecdsa')

    const payload = Buffer.from("UNB+UNOC:3+SENDER+RECEIVER+261201:2359+1'")
    for (const id of ['signed', 'signed-ec']) {
      const res = await encrypt(app, id, payload)
      t.equal(res.statusCode, 200, `${id}: encrypted`)
      t.equal(res.headers['x-cms-signer'], id === 'signed' ? 'our-rsa' : 'our-ec')
      t.equal(res.headers['x-cms-recipients'], 'partner-rsa,partner-ec')
      for (const receiver of Object.values(receivers))
        t.same(
          await decryptAndVerify(res.rawPayload, receiver, trust),
          payload,
          `${id}: ${receiver.name} decrypts and verifies`,
        )
    }
    const plain = await encrypt(app, 'signed', payload, '?encoding=pem')
    t.same(
      await opensslVerify(await opensslDecrypt(plain.rawPayload, receivers.rsa, 'pem'), trust),
      payload,
      'PEM output too',
    )

    // An encryptor without a signer is what it was: id-data inside, no X-Cms-Signer.
    await putEncryptor(app, 'plain', { receiverAliases: ['partner-rsa'] })
    const unsigned = await encrypt(app, 'plain', payload)
    t.notOk(unsigned.headers['x-cms-signer'])
    t.same(await opensslDecrypt(unsigned.rawPayload, receivers.rsa), payload)
  },
)

t.test(
  'streamed: DER with a Content-Length for an RSA signer, BER for ECDSA or a chunked body; each verifies',
  async (t) => {
    const { app, receivers, trust } = await signingApp(t)
    await putEncryptor(app, 'rsa', {
      receiverAliases: bothReceivers,
      signer: { alias: 'our-rsa', signature: 'rsa-pss', digest: 'sha512' },
    })
    await putEncryptor(app, 'ec', { receiverAliases: bothReceivers, signer: { alias: 'our-ec', digest: 'sha384' } })
    const payload = Buffer.alloc(3 * 1024 * 1024 + 5, 'stream me ')
    for (const id of ['rsa', 'ec']) {
      for (const chunked of [false, true]) {
        const res = await app.inject({
          method: 'POST',
          url: `/encryptors/${id}/encrypt`,
          headers: {
            ...auth('integration-flow'),
            'content-type': 'application/octet-stream',
            ...(chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(payload.length) }),
          },
          payload: Readable.from([payload.subarray(0, 100_000), payload.subarray(100_000)]),
        })
        const label = `${id} ${chunked ? 'chunked' : 'with a Content-Length'}`
        t.equal(res.statusCode, 200, label)
        const der = id === 'rsa' && !chunked
        t.equal(
          res.headers['content-length'] !== undefined,
          der,
          `${label}: a Content-Length exactly when the output is DER`,
        )
        if (der) t.equal(Number(res.headers['content-length']), res.rawPayload.length, `${label}: the length announced`)
        t.equal(res.rawPayload[1], der ? 0x83 : 0x80, `${label}: ${der ? 'DER' : 'BER indefinite'}`)
        for (const receiver of Object.values(receivers))
          t.ok((await decryptAndVerify(res.rawPayload, receiver, trust)).equals(payload), `${label}: ${receiver.name}`)
      }
    }
  },
)

t.test('a signer that cannot sign is refused with a problem, and nothing changes', async (t) => {
  const { app } = await signingApp(t)
  const refused = async (body: Record<string, unknown>, status: number, code: string, label: string) => {
    const res = await putEncryptor(app, 'refused', { receiverAliases: ['partner-rsa'], ...body })
    assertProblem(t, res, status, code, label)
    t.equal((await asRoleOn(app)('monitor').get('/encryptors/refused')).statusCode, 404, `${label}: nothing saved`)
  }
  await refused(
    { signer: { alias: 'partner-rsa' } },
    422,
    'CMS_SIGNER_NOT_KEY_PAIR',
    'a receiver certificate as signer',
  )
  await refused({ signer: { alias: 'nobody' } }, 422, 'CMS_SIGNER_NOT_KEY_PAIR', 'no such key pair')
  await refused(
    { signer: { alias: 'our-rsa', signature: 'ecdsa' } },
    422,
    'CMS_SIGNATURE_SCHEME_MISMATCH',
    'RSA with ecdsa',
  )
  await refused(
    { signer: { alias: 'our-ec', signature: 'rsa-pss' } },
    422,
    'CMS_SIGNATURE_SCHEME_MISMATCH',
    'EC with PSS',
  )
  await refused(
    { contentEncryption: 'aes-256-gcm', signer: { alias: 'our-rsa' } },
    422,
    'CMS_SIGNER_CONTENT_ENCRYPTION',
    'GCM around a SignedData',
  )
  await refused({ signer: { alias: 'our-rsa', digest: 'md5' } }, 400, 'CMS_VALIDATION_FAILED', 'an unknown digest')
  await refused({ signer: { alias: 'our-rsa', extra: 1 } }, 400, 'CMS_VALIDATION_FAILED', 'an unknown field')
})

t.test(
  'a key pair replaced under its alias signs the next message; the old certificate no longer verifies it',
  async (t) => {
    const { app, receivers, trust, pki, signers } = await signingApp(t)
    await putEncryptor(app, 'e', {
      receiverAliases: ['partner-rsa'],
      signer: { alias: 'our-rsa', includeCertificates: 'none' },
    })
    const payload = Buffer.from('before and after')
    const withCert = (signer: TestSigner): Trust => ({ ...trust, certfiles: [signer.certPath] })
    const before = await encrypt(app, 'e', payload)
    t.same(
      await decryptAndVerify(before.rawPayload, receivers.rsa, withCert(signers.rsa)),
      payload,
      'signed by the first key',
    )
    const renewed = await pki.issue('our-rsa-signer-2027')
    await putKeyPair(app, 'our-rsa', renewed)
    const after = await encrypt(app, 'e', payload)
    t.same(await decryptAndVerify(after.rawPayload, receivers.rsa, withCert(renewed)), payload, 'signed by the new key')
    await t.rejects(decryptAndVerify(after.rawPayload, receivers.rsa, withCert(signers.rsa)), 'not by the old one')
  },
)
