import { execFile } from 'node:child_process'
import { createPrivateKey, sign, verify } from 'node:crypto'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { loadSigningKeyPair } from '../../src/keystore/key-pair-repository.js'
import { buildTestApp } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { issueCertificate, testPkiDir, type KeySpec } from '../helpers/pki.js'
import { assertProblem } from '../helpers/requests.js'
import { issueChain } from '../helpers/signing-pki.js'

/*
 * PUT /keystore/key-pairs/{alias} with PKCS#12 files made by the OpenSSL CLI (an implementation we
 * did not write), in its defaults (PBES2 AES-256-CBC, PBKDF2, HMAC-SHA-256 integrity).
 */

const run = promisify(execFile)
let seq = 0

/** `openssl pkcs12 -export` of a key and its certificates (signer first), base64. */
async function pkcs12(keyPem: string, certificatesPem: string, password: string, extra: string[] = []) {
  const base = join(testPkiDir, `p12-${process.pid}-${seq++}`)
  try {
    await writeFile(`${base}.key`, keyPem, { mode: 0o600 })
    await writeFile(`${base}.crt`, certificatesPem)
    await run('openssl', [
      'pkcs12',
      '-export',
      '-inkey',
      `${base}.key`,
      '-in',
      `${base}.crt`,
      '-passout',
      `pass:${password}`,
      '-out',
      `${base}.p12`,
      ...extra,
    ])
    return (await readFile(`${base}.p12`)).toString('base64')
  } finally {
    await Promise.all(['key', 'crt', 'p12'].map((ext) => rm(`${base}.${ext}`, { force: true })))
  }
}

async function signerFile(name: string, key: KeySpec = 'rsa-2048', password = 'correct horse') {
  const cert = await issueCertificate(name, { key, keyUsage: ['digitalSignature'] })
  return { cert, body: { pkcs12: await pkcs12(cert.keyPem, cert.pem, password), password } }
}

t.test('a PKCS#12 file (RSA and EC) is stored; its key signs what its certificate verifies', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  for (const [alias, key, keyType] of [
    ['p12-rsa', 'rsa-2048', { algorithm: 'RSA', bits: 2048 }],
    ['p12-ec', 'ec-p256', { algorithm: 'EC', curve: 'P-256' }],
  ] as const) {
    const { cert, body } = await signerFile(alias, key)
    const res = await asRole('tenant-admin').put(`/keystore/key-pairs/${alias}`, body)
    t.equal(res.statusCode, 201, res.statusCode === 201 ? 'status 201' : res.body)
    t.same(res.json().keyType, keyType)
    t.equal(res.json().certificate.pem, cert.pem)
    t.notOk(res.body.includes(body.pkcs12.slice(0, 64)), 'the file is not echoed')
    const pair = await loadSigningKeyPair(app.db, app.keyEncryptionKeys, alias)
    const signature = sign(key.startsWith('rsa') ? 'sha256' : null, Buffer.from('hi'), pair!.privateKey)
    t.ok(verify(key.startsWith('rsa') ? 'sha256' : null, Buffer.from('hi'), pair!.certificate.keyObject, signature))
    const expected = createPrivateKey(cert.keyPem).export({ type: 'pkcs8', format: 'der' })
    t.ok(pair!.privateKey.export({ type: 'pkcs8', format: 'der' }).equals(expected), 'the same key')
  }
})

t.test('a PKCS#12 file with its chain keeps the chain, signer first', async (t) => {
  const app = await buildTestApp(t)
  const { root, intermediate, signer } = await issueChain()
  const body = { pkcs12: await pkcs12(signer.keyPem, signer.pem + intermediate.pem + root.pem, ''), password: '' }
  const res = await asRoleOn(app)('tenant-admin').put('/keystore/key-pairs/chained', body)
  t.equal(res.statusCode, 201, res.statusCode === 201 ? 'status 201' : res.body)
  t.equal(res.json().certificate.subject, 'CN=Signer')
  t.same(
    res
      .json()
      .chain.map((c: { subject: string }) => c.subject)
      .sort(),
    ['CN=Signer Test Intermediate', 'CN=Signer Test Root'],
  )
})

t.test('a wrong password is refused, changing nothing; the password is never quoted', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  const { body } = await signerFile('p12-password')
  const res = await asRole('tenant-admin').put('/keystore/key-pairs/locked', { ...body, password: 'wrong horse' })
  assertProblem(t, res, 422, 'CMS_PKCS12_PASSWORD_INCORRECT')
  t.notOk(res.body.includes('wrong horse'))
  t.notOk(res.body.includes('correct horse'))
  assertProblem(t, await asRole('monitor').get('/keystore/key-pairs/locked'), 404, 'CMS_KEY_PAIR_NOT_FOUND')
})

t.test('a real PKCS#12 file sent as a receiver certificate is refused, pointing to the key pairs', async (t) => {
  const app = await buildTestApp(t)
  const { body } = await signerFile('p12-misplaced')
  const der = Buffer.from(body.pkcs12, 'base64')
  const asRole = asRoleOn(app)
  for (const [label, payload, headers] of [
    ['DER', der, { 'content-type': 'application/octet-stream' }],
    ['base64', body.pkcs12, { 'content-type': 'text/plain' }],
  ] as const) {
    const res = await asRole('tenant-admin').put('/keystore/entries/partner', payload, headers)
    assertProblem(t, res, 400, 'CMS_PRIVATE_KEY_IN_BODY', label)
    t.match(res.json().detail, /\/keystore\/key-pairs\/\{alias\}/)
  }
  // A legacy file (RC2/3DES, SHA-1 MAC, as older Windows and Java export) is told apart the same way.
  const legacy = await signerFile('p12-legacy')
  const legacyFile = await pkcs12(legacy.cert.keyPem, legacy.cert.pem, 'x', [
    '-legacy',
    '-keypbe',
    'PBE-SHA1-3DES',
    '-certpbe',
    'PBE-SHA1-3DES',
  ]).catch(() => undefined)
  if (legacyFile) {
    const res = await asRole('tenant-admin').put('/keystore/entries/partner', Buffer.from(legacyFile, 'base64'), {
      'content-type': 'application/octet-stream',
    })
    assertProblem(t, res, 400, 'CMS_PRIVATE_KEY_IN_BODY', 'legacy')
  }
})
