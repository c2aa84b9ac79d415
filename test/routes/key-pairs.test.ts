import * as asn1js from 'asn1js'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { createPrivateKey, sign, verify, X509Certificate } from 'node:crypto'
import t, { type Test } from 'tap'
import { loadSigningKeyPair } from '../../src/keystore/key-pair-repository.js'
import { buildLoggedTestApp, buildTestApp } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { issueCertificate, type KeySpec } from '../helpers/pki.js'
import { assertProblem, putCertificate, putEncryptor, snapshot } from '../helpers/requests.js'
import { issueChain } from '../helpers/signing-pki.js'

/** A signer as the PEM upload sends it, with what a leak of its private key would look like. */
async function signer(name: string, key: KeySpec = 'rsa-2048') {
  const cert = await issueCertificate(name, { key, keyUsage: ['digitalSignature'] })
  const pkcs8 = createPrivateKey(cert.keyPem).export({ type: 'pkcs8', format: 'der' })
  return {
    cert,
    body: { privateKey: cert.keyPem, certificateChain: cert.pem },
    /** The key's base64, whole and as PEM lines: none may appear in any response, log or record. */
    secrets: [pkcs8.toString('base64'), ...cert.keyPem.split('\n').filter((line) => line.length === 64)],
  }
}

/** Every response the test saw, to scan them all for key material at the end. */
function recorder(app: FastifyInstance) {
  const seen: LightMyRequestResponse[] = []
  const asRole = asRoleOn(app)
  const wrap = (role: Parameters<typeof asRole>[0]) => {
    const r = asRole(role)
    const keep = async (res: Promise<LightMyRequestResponse>) => {
      const out = await res
      seen.push(out)
      return out
    }
    return {
      get: (url: string, h?: Record<string, string>) => keep(r.get(url, h)),
      delete: (url: string, h?: Record<string, string>) => keep(r.delete(url, h)),
      put: (url: string, body?: object | string | Buffer, h?: Record<string, string>) => keep(r.put(url, body, h)),
      post: (url: string, body?: object | string | Buffer, h?: Record<string, string>) => keep(r.post(url, body, h)),
    }
  }
  return { as: wrap, seen }
}

/** No PEM key block and none of `secrets`; an error message may name the labels it accepts ("PRIVATE KEY"). */
function assertNoKeyMaterial(t: Test, texts: string[], secrets: string[], label: string) {
  for (const [i, text] of texts.entries()) {
    t.notOk(text.includes('PRIVATE KEY-----'), `${label} ${i}: no PEM private key`)
    for (const secret of secrets) {
      if (text.includes(secret)) t.fail(`${label} ${i}: holds private key bytes`)
    }
  }
}

/** A PFX header (RFC 7292 4): version 3 and authSafe pkcs7-data; the detection looks no further. */
function fakePkcs12(): Buffer {
  const pfx = new asn1js.Sequence({
    value: [
      new asn1js.Integer({ value: 3 }),
      new asn1js.Sequence({
        value: [
          new asn1js.ObjectIdentifier({ value: '1.2.840.113549.1.7.1' }),
          new asn1js.Constructed({
            idBlock: { tagClass: 3, tagNumber: 0 },
            value: [new asn1js.OctetString({ valueHex: new Uint8Array(200).fill(7) })],
          }),
        ],
      }),
    ],
  })
  return Buffer.from(pfx.toBER(false))
}

t.test('create from PEM (RSA-2048, EC P-256), list, read and download: the public part only', async (t) => {
  const app = await buildTestApp(t)
  const { as, seen } = recorder(app)
  const rsa = await signer('signer-rsa')
  const ec = await signer('signer-ec', 'ec-p256')

  const created = await as('tenant-admin').put('/keystore/key-pairs/signer-rsa', rsa.body)
  t.equal(created.statusCode, 201)
  t.equal(created.headers.etag, '"1"')
  t.equal(created.headers.location, '/keystore/key-pairs/signer-rsa')
  t.match(created.json(), {
    alias: 'signer-rsa',
    version: 1,
    certificate: { subject: 'CN=signer-rsa', issuer: 'CN=cms-encryptor Test CA', pem: rsa.cert.pem },
    chain: [],
    keyType: { algorithm: 'RSA', bits: 2048 },
  })
  t.match(created.json().certificate.sha256Fingerprint, /^[0-9a-f]{64}$/)
  const ecCreated = await as('tenant-admin').put('/keystore/key-pairs/signer-ec', ec.body)
  t.equal(ecCreated.statusCode, 201)
  t.same(ecCreated.json().keyType, { algorithm: 'EC', curve: 'P-256' })

  const list = await as('monitor').get('/keystore/key-pairs')
  t.equal(list.statusCode, 200)
  t.same(
    list.json().keyPairs.map((k: { alias: string }) => k.alias),
    ['signer-ec', 'signer-rsa'],
  )

  const details = await as('integration-flow').get('/keystore/key-pairs/signer-rsa')
  t.equal(details.statusCode, 200)
  t.equal(details.headers.etag, '"1"')
  t.match(details.json(), { alias: 'signer-rsa', version: 1, usedBy: [], history: [] })
  t.notOk('privateKey' in details.json())

  const pem = await as('integration-developer').get('/keystore/key-pairs/signer-rsa/certificate')
  t.equal(pem.statusCode, 200)
  t.equal(pem.headers['content-type'], 'application/x-pem-file')
  t.equal(pem.headers.etag, '"1"')
  t.equal(pem.body, rsa.cert.pem)
  t.ok(new X509Certificate(pem.body).raw.equals(rsa.cert.der), 'the download parses to the uploaded certificate')

  assertProblem(t, await as('monitor').get('/keystore/key-pairs/nope'), 404, 'CMS_KEY_PAIR_NOT_FOUND')
  assertProblem(t, await as('monitor').get('/keystore/key-pairs/nope/certificate'), 404, 'CMS_KEY_PAIR_NOT_FOUND')
  for (const res of seen.filter((r) => r.statusCode < 300)) t.notOk(res.body.includes('PRIVATE KEY'))
  assertNoKeyMaterial(
    t,
    seen.map((r) => r.body),
    [...rsa.secrets, ...ec.secrets],
    'response',
  )

  const row = await app.db
    .selectFrom('key_pairs')
    .selectAll()
    .where('alias', '=', 'signer-rsa')
    .executeTakeFirstOrThrow()
  const pkcs8 = createPrivateKey(rsa.cert.keyPem).export({ type: 'pkcs8', format: 'der' })
  t.notOk(row.wrapped_key.includes(pkcs8.subarray(0, 32)), 'the stored key is sealed, not PKCS#8')
  t.equal(row.kek_id, app.keyEncryptionKeys.currentId)
})

t.test('a chain: stored in order, shown, and downloaded with ?chain=true', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  const { root, intermediate, signer: leaf } = await issueChain()
  const put = await asRole('tenant-admin').put('/keystore/key-pairs/chained', {
    privateKey: leaf.keyPem,
    certificateChain: leaf.pem + intermediate.pem + root.pem,
  })
  t.equal(put.statusCode, 201, put.statusCode === 201 ? 'status 201' : put.body)
  t.match(put.json().chain, [
    { subject: 'CN=Signer Test Intermediate', issuer: 'CN=Signer Test Root', pem: intermediate.pem },
    { subject: 'CN=Signer Test Root', pem: root.pem },
  ])
  const only = await asRole('monitor').get('/keystore/key-pairs/chained/certificate')
  t.equal(only.body, leaf.pem)
  const all = await asRole('monitor').get('/keystore/key-pairs/chained/certificate?chain=true')
  t.equal(all.body, leaf.pem + intermediate.pem + root.pem)
})

t.test('replace: preconditions, version bump, public history; the same upload changes nothing', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  const first = await signer('rotating')
  const second = await signer('rotating-2027')

  t.equal((await asRole('tenant-admin').put('/keystore/key-pairs/k', first.body)).statusCode, 201)
  const same = await asRole('tenant-admin').put('/keystore/key-pairs/k', first.body)
  t.equal(same.statusCode, 200, 'the same key pair again is a no-op')
  t.equal(same.headers.etag, '"1"')

  const url = '/keystore/key-pairs/k'
  assertProblem(
    t,
    await asRole('tenant-admin').put(url, second.body, { 'if-match': '"7"' }),
    412,
    'CMS_PRECONDITION_FAILED',
  )
  assertProblem(
    t,
    await asRole('tenant-admin').put(url, second.body, { 'if-none-match': '*' }),
    412,
    'CMS_PRECONDITION_FAILED',
  )
  assertProblem(
    t,
    await asRole('tenant-admin').put('/keystore/key-pairs/new', first.body, { 'if-match': '*' }),
    412,
    'CMS_PRECONDITION_FAILED',
  )
  const replaced = await asRole('tenant-admin').put(url, second.body, { 'if-match': '"1"' })
  t.equal(replaced.statusCode, 200)
  t.equal(replaced.headers.etag, '"2"')
  t.equal(replaced.json().certificate.subject, 'CN=rotating-2027')

  const details = (await asRole('monitor').get(url)).json()
  t.equal(details.version, 2)
  t.equal(details.history.length, 1)
  const [retired] = details.history
  t.match(retired, { version: 1, subject: 'CN=rotating', reason: 'replaced' })
  t.same(Object.keys(retired).sort(), [
    'issuer',
    'notAfter',
    'notBefore',
    'reason',
    'retiredAt',
    'serialNumber',
    'sha256Fingerprint',
    'subject',
    'version',
  ])
  const columns = Object.keys(
    (await app.db.selectFrom('key_pair_history').selectAll().executeTakeFirstOrThrow()) as object,
  )
  t.notOk(columns.includes('wrapped_key'), 'the history holds no key')

  // The encrypt path's read: the current key opens and signs what the current certificate verifies.
  const pair = await app.db.transaction().execute((tx) => loadSigningKeyPair(tx, app.keyEncryptionKeys, 'k'))
  t.ok(pair)
  t.ok(pair!.certificate.der.equals(second.cert.der))
  const signature = sign('sha256', Buffer.from('hello'), pair!.privateKey)
  t.ok(verify('sha256', Buffer.from('hello'), pair!.certificate.keyObject, signature))
  t.same(pair!.chain, [])
  t.same(pair!.keyType, { algorithm: 'RSA', bits: 2048 })
  t.equal(await loadSigningKeyPair(app.db, app.keyEncryptionKeys, 'absent'), undefined)
})

t.test('an encryptor that signs with a key pair: named in usedBy, delete refused, replace by kind', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  const rsa = await signer('flow-signer')
  const rsaNext = await signer('flow-signer-next')
  const ec = await signer('flow-signer-ec', 'ec-p256')
  t.equal((await putCertificate(app, 'partner', await issueCertificate('partner'))).statusCode, 201)
  t.equal((await putEncryptor(app, 'flow-1', { receiverAliases: ['partner'] })).statusCode, 201)
  t.equal((await asRole('tenant-admin').put('/keystore/key-pairs/signing', rsa.body)).statusCode, 201)
  // Direct, so this test does not wait for the encryptor API's `signer` option.
  const signWith = (alias: string | null, signature: string | null) =>
    app.db
      .updateTable('encryptors')
      .set({
        signer_alias: alias,
        signer_digest: alias && 'sha-256',
        signer_signature: signature,
        signer_include_certificates: alias && 'signer',
        signer_identifier: alias && 'issuer-and-serial-number',
      })
      .where('id', '=', 'flow-1')
      .execute()
  await signWith('signing', 'rsa-pss')

  const details = (await asRole('monitor').get('/keystore/key-pairs/signing')).json()
  t.same(details.usedBy, ['flow-1'])

  const refused = await asRole('tenant-admin').delete('/keystore/key-pairs/signing')
  assertProblem(t, refused, 409, 'CMS_ALIAS_IN_USE')
  t.match(refused.json().detail, /flow-1/)
  t.equal((await asRole('monitor').get('/keystore/key-pairs/signing')).statusCode, 200, 'still there')

  const mismatch = await asRole('tenant-admin').put('/keystore/key-pairs/signing', ec.body)
  assertProblem(t, mismatch, 422, 'CMS_SIGNATURE_SCHEME_MISMATCH')
  t.match(mismatch.json().detail, /flow-1.*rsa-pss/)
  const unchanged = (await asRole('monitor').get('/keystore/key-pairs/signing')).json()
  t.equal(unchanged.version, 1, 'nothing changed')
  t.equal(unchanged.certificate.subject, 'CN=flow-signer')

  const compatible = await asRole('tenant-admin').put('/keystore/key-pairs/signing', rsaNext.body)
  t.equal(compatible.statusCode, 200, 'another RSA key suits rsa-pss')
  t.equal(compatible.json().version, 2)

  await signWith('signing', 'ecdsa')
  assertProblem(
    t,
    await asRole('tenant-admin').put('/keystore/key-pairs/signing', rsa.body),
    422,
    'CMS_SIGNATURE_SCHEME_MISMATCH',
  )
  t.equal((await asRole('tenant-admin').put('/keystore/key-pairs/signing', ec.body)).statusCode, 200)

  await signWith(null, null)
  const deleted = await asRole('tenant-admin').delete('/keystore/key-pairs/signing', { 'if-match': '"3"' })
  t.equal(deleted.statusCode, 204)
  t.equal(deleted.body, '')
  assertProblem(t, await asRole('monitor').get('/keystore/key-pairs/signing'), 404, 'CMS_KEY_PAIR_NOT_FOUND')
  assertProblem(t, await asRole('tenant-admin').delete('/keystore/key-pairs/signing'), 404, 'CMS_KEY_PAIR_NOT_FOUND')
  const again = await asRole('tenant-admin').put('/keystore/key-pairs/signing', rsa.body)
  t.equal(again.statusCode, 201)
  t.equal(again.json().version, 4, 'versions keep counting across delete and re-create')
  t.match((await asRole('monitor').get('/keystore/key-pairs/signing')).json().history, [
    { version: 3, reason: 'deleted' },
    { version: 2, reason: 'replaced' },
    { version: 1, reason: 'replaced' },
  ])
})

t.test('one alias names one thing: certificate and key pair refuse each other, changing nothing', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  const key = await signer('clash')
  const receiver = await issueCertificate('receiver')
  t.equal((await putCertificate(app, 'partner', receiver)).statusCode, 201)
  t.equal((await asRole('tenant-admin').put('/keystore/key-pairs/mine', key.body)).statusCode, 201)
  // An encryptor may list a receiver alias before its certificate exists: that alias is a receiver's.
  const listed = await putEncryptor(app, 'early', { receiverAliases: ['partner', 'coming'], missingAlias: 'skip' })
  t.equal(listed.statusCode, 201, listed.statusCode === 201 ? 'status 201' : listed.body)
  const before = await snapshot(app)
  const pairsBefore = (await asRole('monitor').get('/keystore/key-pairs')).json()

  const taken = await asRole('tenant-admin').put('/keystore/key-pairs/partner', key.body)
  assertProblem(t, taken, 409, 'CMS_ALIAS_TAKEN', 'key pair over a certificate')
  t.match(taken.json().detail, /receiver certificate/)
  const reverse = await putCertificate(app, 'mine', receiver)
  assertProblem(t, reverse, 409, 'CMS_ALIAS_TAKEN', 'certificate over a key pair')
  t.match(reverse.json().detail, /key-pairs\/mine/)
  assertProblem(
    t,
    await asRole('tenant-admin').put('/keystore/entries/mine', { certificate: receiver.pem }),
    409,
    'CMS_ALIAS_TAKEN',
    'JSON certificate over a key pair',
  )
  assertProblem(
    t,
    await asRole('tenant-admin').post('/keystore/entries/mine/check', receiver.pem, {
      'content-type': 'application/x-pem-file',
    }),
    409,
    'CMS_ALIAS_TAKEN',
    'the check answers as PUT would',
  )
  const early = await asRole('tenant-admin').put('/keystore/key-pairs/coming', key.body)
  assertProblem(t, early, 409, 'CMS_ALIAS_TAKEN', 'key pair under a listed receiver alias')
  t.match(early.json().detail, /early/)

  t.same((await snapshot(app)).details, before.details, 'certificates unchanged')
  t.same((await asRole('monitor').get('/keystore/key-pairs')).json(), pairsBefore, 'key pairs unchanged')
})

t.test('roles: only the tenant administrator writes; every role reads', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  const key = await signer('roles')
  t.equal((await asRole('tenant-admin').put('/keystore/key-pairs/r', key.body)).statusCode, 201)
  for (const role of ['integration-developer', 'integration-flow', 'monitor'] as const) {
    assertProblem(t, await asRole(role).put('/keystore/key-pairs/r', key.body), 403, 'CMS_FORBIDDEN', `${role} PUT`)
    assertProblem(t, await asRole(role).put('/keystore/key-pairs/x', key.body), 403, 'CMS_FORBIDDEN', `${role} PUT`)
    assertProblem(t, await asRole(role).delete('/keystore/key-pairs/r'), 403, 'CMS_FORBIDDEN', `${role} DELETE`)
    for (const url of ['/keystore/key-pairs', '/keystore/key-pairs/r', '/keystore/key-pairs/r/certificate']) {
      t.equal((await asRole(role).get(url)).statusCode, 200, `${role} GET ${url}`)
    }
  }
  const anonymous = await app.inject({ method: 'GET', url: '/keystore/key-pairs' })
  assertProblem(t, anonymous, 401, 'CMS_UNAUTHENTICATED')
  t.equal((await asRole('monitor').get('/keystore/key-pairs/r')).json().version, 1, 'nothing changed')
  t.same((await asRole('monitor').get('/keystore/key-pairs')).json().keyPairs.length, 1)
})

t.test('bad bodies are refused with a problem that quotes none of the body, changing nothing', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  const key = await signer('bad-bodies')
  const other = await signer('someone-else')
  const json = { 'content-type': 'application/json' }
  const url = '/keystore/key-pairs/bad'
  const keyLine = key.secrets[1]!
  const cases: Array<[string, string | object | Buffer | undefined, Record<string, string>, number, string]> = [
    [
      'broken JSON around the key',
      `{"privateKey": ${keyLine}, "certificateChain": "x"}`,
      json,
      400,
      'CMS_MALFORMED_JSON',
    ],
    ['broken JSON, a password unquoted', '{"pkcs12": "MIIK", "password": hunter2}', json, 400, 'CMS_MALFORMED_JSON'],
    [
      'a PEM pasted with raw line breaks',
      `{"privateKey": "${key.cert.keyPem}", "certificateChain": "x"}`,
      json,
      400,
      'CMS_MALFORMED_JSON',
    ],
    ['no body', undefined, {}, 400, 'CMS_EMPTY_BODY'],
    ['an empty JSON body', '', json, 400, 'CMS_EMPTY_BODY'],
    ['neither shape', {}, {}, 400, 'CMS_VALIDATION_FAILED'],
    ['an unknown property only', { certificate: key.cert.pem }, {}, 400, 'CMS_VALIDATION_FAILED'],
    ['both shapes', { ...key.body, pkcs12: 'MIIK', password: 'p' }, {}, 400, 'CMS_VALIDATION_FAILED'],
    ['a mix of both', { privateKey: key.cert.keyPem, password: 'p' }, {}, 400, 'CMS_VALIDATION_FAILED'],
    ['half a shape', { privateKey: key.cert.keyPem }, {}, 400, 'CMS_VALIDATION_FAILED'],
    ['an extra property', { ...key.body, comment: 'x' }, {}, 400, 'CMS_VALIDATION_FAILED'],
    ['pkcs12 a number', { pkcs12: 5, password: 'p' }, {}, 400, 'CMS_VALIDATION_FAILED'],
    [
      'certificateChain a number',
      { privateKey: key.cert.keyPem, certificateChain: 7 },
      {},
      400,
      'CMS_VALIDATION_FAILED',
    ],
    ['an array', [key.body], {}, 400, 'CMS_VALIDATION_FAILED'],
    ['JSON null', 'null', json, 400, 'CMS_VALIDATION_FAILED'],
    [
      'a PEM body',
      key.cert.keyPem + key.cert.pem,
      { 'content-type': 'application/x-pem-file' },
      415,
      'CMS_UNSUPPORTED_MEDIA_TYPE',
    ],
    ['text/plain', JSON.stringify(key.body), { 'content-type': 'text/plain' }, 415, 'CMS_UNSUPPORTED_MEDIA_TYPE'],
    [
      "a key that is not the certificate's",
      { privateKey: other.cert.keyPem, certificateChain: key.cert.pem },
      {},
      422,
      'CMS_KEY_PAIR_MISMATCH',
    ],
    [
      'a certificate for a private key',
      { privateKey: key.cert.pem, certificateChain: key.cert.pem },
      {},
      400,
      'CMS_KEY_PAIR_MALFORMED',
    ],
    ['pkcs12 not base64', { pkcs12: '%%%', password: '' }, {}, 400, 'CMS_KEY_PAIR_MALFORMED'],
  ]
  const auditBefore = (await asRole('monitor').get('/audit')).json().records.length
  for (const [label, body, headers, status, code] of cases) {
    const res = await asRole('tenant-admin').put(url, body, headers)
    assertProblem(t, res, status, code, label)
    assertNoKeyMaterial(t, [res.body], [...key.secrets, ...other.secrets, 'hunter2'], label)
  }
  const detail = async (body: object | string, headers: Record<string, string> = {}) =>
    (await asRole('tenant-admin').put(url, body, headers)).json().detail as string
  t.match(await detail({}), /either \{"pkcs12", "password"\}.*or \{"privateKey", "certificateChain"\}.*neither/)
  t.match(await detail({ privateKey: 'x', password: 'p' }), /parts of both/)
  t.match(await detail({ ...key.body, comment: 'x' }), /exactly "privateKey" and "certificateChain"/)
  t.match(await detail({ privateKey: 'x', certificateChain: 7 }), /body\/certificateChain must be a string/)
  t.match(
    await detail(`{"privateKey": "${key.cert.keyPem}"}`, json),
    /line breaks written as \\n/,
    'the raw line breaks of a pasted PEM are named',
  )
  t.same((await asRole('monitor').get('/keystore/key-pairs')).json().keyPairs, [], 'nothing stored')
  t.equal((await asRole('monitor').get('/audit')).json().records.length, auditBefore, 'nothing audited')
})

t.test('the audit log and the request log name the key pair by fingerprint, never its key', async (t) => {
  const { app, log } = await buildLoggedTestApp(t, 'debug')
  const asRole = asRoleOn(app)
  const first = await signer('audited')
  const second = await signer('audited-2')
  const created = (await asRole('tenant-admin').put('/keystore/key-pairs/a', first.body)).json()
  const replaced = (await asRole('tenant-admin').put('/keystore/key-pairs/a', second.body)).json()
  t.equal((await asRole('tenant-admin').delete('/keystore/key-pairs/a')).statusCode, 204)
  await asRole('tenant-admin').put('/keystore/key-pairs/b', `{"privateKey": ${first.secrets[1]}}`, {
    'content-type': 'application/json',
  })

  const audit = (await asRole('monitor').get('/audit?target=keystore/key-pairs/a')).json()
  t.match(
    audit.records.map((r: { action: string; before: unknown; after: unknown }) => [r.action, r.before, r.after]),
    [
      ['key-pair.delete', { sha256Fingerprint: replaced.certificate.sha256Fingerprint, version: 2 }, null],
      [
        'key-pair.replace',
        { sha256Fingerprint: created.certificate.sha256Fingerprint, version: 1 },
        { sha256Fingerprint: replaced.certificate.sha256Fingerprint, version: 2 },
      ],
      ['key-pair.create', null, { sha256Fingerprint: created.certificate.sha256Fingerprint, version: 1 }],
    ],
  )
  for (const record of audit.records) {
    const parts = [record.before, record.after].filter(Boolean)
    for (const part of parts) t.same(Object.keys(part).sort(), ['sha256Fingerprint', 'version'])
  }
  const records = await app.db.selectFrom('audit_log').selectAll().execute()
  assertNoKeyMaterial(t, [JSON.stringify(records)], [...first.secrets, ...second.secrets], 'audit row')
  t.match(log(), /key pair stored/)
  assertNoKeyMaterial(t, [log()], [...first.secrets, ...second.secrets], 'log')
})

t.test('a PKCS#12 sent as a receiver certificate is refused, pointing to /keystore/key-pairs', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  const pfx = fakePkcs12()
  const bodies: Array<[string, string | Buffer | object, Record<string, string>]> = [
    ['DER', pfx, { 'content-type': 'application/octet-stream' }],
    ['DER as pkix-cert', pfx, { 'content-type': 'application/pkix-cert' }],
    ['base64 text', pfx.toString('base64'), { 'content-type': 'text/plain' }],
    ['base64 in JSON', { certificate: pfx.toString('base64') }, {}],
  ]
  for (const [label, body, headers] of bodies) {
    const res = await asRole('tenant-admin').put('/keystore/entries/partner', body, headers)
    assertProblem(t, res, 400, 'CMS_PRIVATE_KEY_IN_BODY', label)
    t.match(res.json().detail, /PKCS#12.*\/keystore\/key-pairs\/\{alias\}/, `${label}: says where it belongs`)
  }
  assertProblem(t, await asRole('monitor').get('/keystore/entries/partner'), 404, 'CMS_ALIAS_NOT_FOUND')
})
