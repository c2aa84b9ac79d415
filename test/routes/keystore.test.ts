import { generateKeyPairSync } from 'node:crypto'
import t from 'tap'
import { auth, buildTestApp } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { garbledExtensionExamples } from '../helpers/garbled-extensions.js'
import { issueCertificate } from '../helpers/pki.js'
import { assertProblem, putCertificate, putEncryptor, snapshot } from '../helpers/requests.js'

const DAY = 86_400_000

/** The certificate with its first UTCTime replaced by a GeneralizedTime that holds letters. */
function garbleTime(der: Buffer): Buffer {
  const out = Buffer.from(der)
  const at = out.indexOf(Buffer.from([0x17, 0x0d])) // UTCTime, 13 bytes
  out[at] = 0x18
  out.write('ABCDEFGHIJKLZ', at + 2, 'latin1')
  return out
}

t.test('create, read, replace (kept in history), download and delete a certificate', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  const first = await issueCertificate('partner-a')
  const second = await issueCertificate('partner-a-2027')

  const created = await putCertificate(app, 'partner-a', first)
  t.equal(created.statusCode, 201)
  t.equal(created.headers.etag, '"1"')
  t.equal(created.headers.location, '/keystore/entries/partner-a')
  const entry = created.json()
  t.match(entry, {
    alias: 'partner-a',
    subject: 'CN=partner-a',
    issuer: 'CN=cms-encryptor Test CA',
    publicKey: { algorithm: 'RSA', bits: 2048 },
    version: 1,
    notYetValid: false,
  })
  t.match(entry.sha256Fingerprint, /^[0-9a-f]{64}$/)
  t.ok(entry.daysUntilExpiry >= 363 && entry.daysUntilExpiry <= 365)

  const same = await putCertificate(app, 'partner-a', first)
  t.equal(same.statusCode, 200, 'the same certificate again is a no-op')
  t.equal(same.json().version, 1)

  const replaced = await putCertificate(app, 'partner-a', second, { 'if-match': '"1"' })
  t.equal(replaced.statusCode, 200)
  t.equal(replaced.headers.etag, '"2"')

  const details = (await asRole('monitor').get('/keystore/entries/partner-a')).json()
  t.equal(details.sha256Fingerprint, replaced.json().sha256Fingerprint)
  t.equal(details.history.length, 1)
  t.match(details.history[0], { version: 1, sha256Fingerprint: entry.sha256Fingerprint, reason: 'replaced' })
  t.same(details.usedBy, [])

  const pem = await asRole('integration-flow').get('/keystore/entries/partner-a/certificate')
  t.equal(pem.statusCode, 200)
  t.equal(pem.headers['content-type'], 'application/x-pem-file')
  t.equal(pem.body, second.pem)

  const json = await asRole('tenant-admin').put('/keystore/entries/partner-b', { certificate: first.pem })
  t.equal(json.statusCode, 201, 'JSON {"certificate"} is accepted')
  const der = await asRole('tenant-admin').put('/keystore/entries/partner-c', first.der, {
    'content-type': 'application/pkix-cert',
  })
  t.equal(der.statusCode, 201, 'DER is accepted')
  const text = await asRole('tenant-admin').put('/keystore/entries/partner-d', first.pem, {
    'content-type': 'text/plain',
  })
  t.equal(text.statusCode, 201, 'text/plain PEM is accepted')

  const list = (await asRole('integration-developer').get('/keystore/entries')).json()
  t.same(
    list.entries.map((e: { alias: string }) => e.alias),
    ['partner-a', 'partner-b', 'partner-c', 'partner-d'],
  )

  const deleted = await asRole('tenant-admin').delete('/keystore/entries/partner-b')
  t.equal(deleted.statusCode, 204)
  const gone = await asRole('monitor').get('/keystore/entries/partner-b')
  assertProblem(t, gone, 404, 'CMS_ALIAS_NOT_FOUND')
  const again = await putCertificate(app, 'partner-b', second)
  t.equal(again.json().version, 2, 'versions keep counting after a delete, so an old ETag never matches')
})

t.test('a not-yet-valid certificate is accepted and flagged; expiring entries can be filtered', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  const future = await issueCertificate('future', {
    notBefore: new Date(Date.now() + 10 * DAY),
    notAfter: new Date(Date.now() + 400 * DAY),
  })
  const soon = await issueCertificate('soon', { notAfter: new Date(Date.now() + 5 * DAY) })
  t.equal((await putCertificate(app, 'future', future)).json().notYetValid, true)
  await putCertificate(app, 'soon', soon)
  const res = await asRole('monitor').get('/keystore/entries?expiringWithinDays=30')
  t.same(
    res.json().entries.map((e: { alias: string }) => e.alias),
    ['soon'],
  )
})

t.test('250-character aliases work; 251 are refused', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  const cert = await issueCertificate('long')
  const alias = 'a'.repeat(250)
  t.equal((await putCertificate(app, alias, cert)).statusCode, 201)
  t.equal((await asRole('monitor').get(`/keystore/entries/${alias}`)).statusCode, 200)
  assertProblem(t, await putCertificate(app, alias + 'a', cert), 400, 'CMS_VALIDATION_FAILED')
})

t.test('bad input is refused with a precise problem and changes nothing', async (t) => {
  const app = await buildTestApp(t)
  const asRole = asRoleOn(app)
  const valid = await issueCertificate('valid')
  const other = await issueCertificate('other')
  const noSki = await issueCertificate('no-ski', { subjectKeyIdentifier: false })
  t.equal((await putCertificate(app, 'existing', valid)).statusCode, 201)
  t.equal((await putCertificate(app, 'in-use', other)).statusCode, 201)
  t.equal(
    (await putEncryptor(app, 'flow-1', { receiverAliases: ['in-use'], recipientIdentifier: 'subject-key-identifier' }))
      .statusCode,
    201,
  )

  const pkcs8 = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  const keyPem = pkcs8.export({ type: 'pkcs8', format: 'pem' }) as string
  const certs = {
    expired: await issueCertificate('expired', {
      notBefore: new Date(Date.now() - 400 * DAY),
      notAfter: new Date(Date.now() - DAY),
    }),
    weak: await issueCertificate('weak', { key: 'rsa-1024' }),
    dsa: await issueCertificate('dsa', { key: 'dsa' }),
    ed25519: await issueCertificate('ed25519', { key: 'ed25519', keyUsage: null }),
    secp256k1: await issueCertificate('k1', { key: 'ec-secp256k1' }),
    caOnly: await issueCertificate('ca-only', { keyUsage: ['keyCertSign', 'cRLSign'] }),
    signOnly: await issueCertificate('sign-only', { keyUsage: ['digitalSignature'] }),
    ecNoAgreement: await issueCertificate('ec-no-agreement', { key: 'ec-p256', keyUsage: ['keyEncipherment'] }),
  }
  const garbled = await Promise.all(
    garbledExtensionExamples().map(async ({ name, options }) => ({
      name,
      cert: await issueCertificate('garbled', options),
    })),
  )
  const pem = (type: string, payload: string | Buffer) => ({ 'content-type': type, payload })
  const cases: Array<{
    name: string
    alias?: string
    method?: 'PUT' | 'DELETE'
    headers?: Record<string, string>
    body?: ReturnType<typeof pem> | { json: unknown }
    status: number
    code: string
  }> = [
    {
      name: 'garbage DER',
      body: pem('application/pkix-cert', Buffer.from('not a certificate at all')),
      status: 400,
      code: 'CMS_CERTIFICATE_MALFORMED',
    },
    {
      name: 'truncated DER',
      body: pem('application/pkix-cert', valid.der.subarray(0, 300)),
      status: 400,
      code: 'CMS_CERTIFICATE_MALFORMED',
    },
    // Found by `npm run fuzz`: asn1js throws (instead of reporting) on a garbled time; it was a 500.
    {
      name: 'a GeneralizedTime that is not a time',
      body: pem('application/pkix-cert', garbleTime(valid.der)),
      status: 400,
      code: 'CMS_CERTIFICATE_MALFORMED',
    },
    {
      name: 'DER with trailing bytes',
      body: pem('application/pkix-cert', Buffer.concat([valid.der, Buffer.from([0])])),
      status: 400,
      code: 'CMS_CERTIFICATE_MALFORMED',
    },
    // Signed certificates whose keyUsage or subjectKeyIdentifier holds garbage: a 500 or let through before.
    ...garbled.map(({ name, cert }) => ({
      name,
      body: pem('application/x-pem-file', cert.pem),
      status: 400,
      code: 'CMS_CERTIFICATE_MALFORMED',
    })),
    {
      name: 'PEM with bad base64',
      body: pem('application/x-pem-file', '-----BEGIN CERTIFICATE-----\n!!!notbase64***\n-----END CERTIFICATE-----\n'),
      status: 400,
      code: 'CMS_CERTIFICATE_MALFORMED',
    },
    {
      name: 'PEM holding garbage',
      body: pem('application/x-pem-file', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'),
      status: 400,
      code: 'CMS_CERTIFICATE_MALFORMED',
    },
    {
      name: 'two certificates',
      body: pem('application/x-pem-file', valid.pem + other.pem),
      status: 400,
      code: 'CMS_CERTIFICATE_COUNT',
    },
    {
      name: 'unterminated PEM',
      body: pem('application/x-pem-file', '-----BEGIN CERTIFICATE-----\nMIIB\n'),
      status: 400,
      code: 'CMS_CERTIFICATE_COUNT',
    },
    {
      name: 'a private key alone',
      body: pem('application/x-pem-file', keyPem),
      status: 400,
      code: 'CMS_PRIVATE_KEY_IN_BODY',
    },
    {
      name: 'certificate and private key',
      body: pem('application/x-pem-file', valid.pem + keyPem),
      status: 400,
      code: 'CMS_PRIVATE_KEY_IN_BODY',
    },
    {
      name: 'DER private key',
      body: pem('application/pkix-cert', pkcs8.export({ type: 'pkcs8', format: 'der' })),
      status: 400,
      code: 'CMS_PRIVATE_KEY_IN_BODY',
    },
    {
      name: 'private key in JSON',
      body: { json: { certificate: keyPem } },
      status: 400,
      code: 'CMS_PRIVATE_KEY_IN_BODY',
    },
    {
      name: 'expired',
      body: pem('application/x-pem-file', certs.expired.pem),
      status: 422,
      code: 'CMS_CERTIFICATE_EXPIRED',
    },
    { name: 'RSA 1024', body: pem('application/x-pem-file', certs.weak.pem), status: 422, code: 'CMS_KEY_TOO_WEAK' },
    {
      name: 'DSA',
      body: pem('application/x-pem-file', certs.dsa.pem),
      status: 422,
      code: 'CMS_KEY_ALGORITHM_UNSUPPORTED',
    },
    {
      name: 'Ed25519',
      body: pem('application/x-pem-file', certs.ed25519.pem),
      status: 422,
      code: 'CMS_KEY_ALGORITHM_UNSUPPORTED',
    },
    {
      name: 'EC secp256k1',
      body: pem('application/x-pem-file', certs.secp256k1.pem),
      status: 422,
      code: 'CMS_KEY_ALGORITHM_UNSUPPORTED',
    },
    {
      name: 'CA-only keyUsage',
      body: pem('application/x-pem-file', certs.caOnly.pem),
      status: 422,
      code: 'CMS_KEY_USAGE_FORBIDS_ENCRYPTION',
    },
    {
      name: 'RSA without keyEncipherment',
      body: pem('application/x-pem-file', certs.signOnly.pem),
      status: 422,
      code: 'CMS_KEY_USAGE_FORBIDS_ENCRYPTION',
    },
    {
      name: 'EC without keyAgreement',
      body: pem('application/x-pem-file', certs.ecNoAgreement.pem),
      status: 422,
      code: 'CMS_KEY_USAGE_FORBIDS_ENCRYPTION',
    },
    {
      name: 'no SKI for an encryptor that needs it',
      alias: 'in-use',
      body: pem('application/x-pem-file', noSki.pem),
      status: 409,
      code: 'CMS_SUBJECT_KEY_IDENTIFIER_MISSING',
    },
    {
      name: 'empty DER body',
      body: pem('application/pkix-cert', Buffer.alloc(0)),
      status: 400,
      code: 'CMS_EMPTY_BODY',
    },
    { name: 'empty JSON body', body: pem('application/json', ''), status: 400, code: 'CMS_EMPTY_BODY' },
    { name: 'broken JSON', body: pem('application/json', '{"certificate": '), status: 400, code: 'CMS_MALFORMED_JSON' },
    { name: 'JSON without certificate', body: { json: {} }, status: 400, code: 'CMS_VALIDATION_FAILED' },
    {
      name: 'JSON with an unknown property',
      body: { json: { certificate: valid.pem, note: 'x' } },
      status: 400,
      code: 'CMS_VALIDATION_FAILED',
    },
    { name: 'JSON with a wrong type', body: { json: { certificate: 42 } }, status: 400, code: 'CMS_VALIDATION_FAILED' },
    {
      name: 'unsupported media type',
      body: pem('application/xml', '<cert/>'),
      status: 415,
      code: 'CMS_UNSUPPORTED_MEDIA_TYPE',
    },
    {
      name: 'body over BODY_LIMIT',
      body: pem('application/x-pem-file', 'A'.repeat(1024 * 1024 + 1)),
      status: 413,
      code: 'CMS_BODY_TOO_LARGE',
    },
    { name: 'alias "."', alias: '.', status: 400, code: 'CMS_VALIDATION_FAILED' },
    // URL parsers resolve a ".." segment (even percent-encoded) before routing: it never names an alias.
    { name: 'alias ".."', alias: '%2E%2E', status: 404, code: 'CMS_ROUTE_NOT_FOUND' },
    { name: 'alias "..x"', alias: '..x', status: 400, code: 'CMS_VALIDATION_FAILED' },
    { name: 'alias starting with "-"', alias: '-x', status: 400, code: 'CMS_VALIDATION_FAILED' },
    { name: 'alias with a space', alias: 'a%20b', status: 400, code: 'CMS_VALIDATION_FAILED' },
    { name: 'alias with an encoded slash', alias: 'a%2Fb', status: 400, code: 'CMS_VALIDATION_FAILED' },
    { name: 'alias with unicode', alias: '%C3%A4rger', status: 400, code: 'CMS_VALIDATION_FAILED' },
    {
      name: 'alias with SQL',
      alias: "x'%3B%20DROP%20TABLE%20keystore_entries%3B--",
      status: 400,
      code: 'CMS_VALIDATION_FAILED',
    },
    {
      name: 'If-Match on another version',
      alias: 'existing',
      headers: { 'if-match': '"7"' },
      body: pem('application/x-pem-file', other.pem),
      status: 412,
      code: 'CMS_PRECONDITION_FAILED',
    },
    {
      name: 'If-None-Match * on an existing alias',
      alias: 'existing',
      headers: { 'if-none-match': '*' },
      body: pem('application/x-pem-file', other.pem),
      status: 412,
      code: 'CMS_PRECONDITION_FAILED',
    },
    {
      name: 'If-Match on a missing alias',
      alias: 'missing',
      headers: { 'if-match': '"1"' },
      body: pem('application/x-pem-file', other.pem),
      status: 412,
      code: 'CMS_PRECONDITION_FAILED',
    },
    {
      name: 'no token',
      headers: { authorization: '' },
      body: pem('application/x-pem-file', valid.pem),
      status: 401,
      code: 'CMS_UNAUTHENTICATED',
    },
    {
      name: 'a bad token',
      headers: { authorization: 'Bearer nope' },
      body: pem('application/x-pem-file', valid.pem),
      status: 401,
      code: 'CMS_UNAUTHENTICATED',
    },
    {
      name: 'not a bearer token',
      headers: { authorization: 'Basic dXNlcjpwdw==' },
      body: pem('application/x-pem-file', valid.pem),
      status: 401,
      code: 'CMS_UNAUTHENTICATED',
    },
    ...(['integration-developer', 'integration-flow', 'monitor'] as const).map((role) => ({
      name: `role ${role}`,
      headers: auth(role),
      body: pem('application/x-pem-file', valid.pem),
      status: 403,
      code: 'CMS_FORBIDDEN',
    })),
    {
      name: 'delete of an unknown alias',
      method: 'DELETE',
      alias: 'missing',
      status: 404,
      code: 'CMS_ALIAS_NOT_FOUND',
    },
    {
      name: 'delete of an alias an encryptor needs',
      method: 'DELETE',
      alias: 'in-use',
      status: 409,
      code: 'CMS_ALIAS_IN_USE',
    },
    {
      name: 'delete with a stale If-Match',
      method: 'DELETE',
      alias: 'existing',
      headers: { 'if-match': '"9"' },
      status: 412,
      code: 'CMS_PRECONDITION_FAILED',
    },
    {
      name: 'delete by integration-developer',
      method: 'DELETE',
      alias: 'existing',
      headers: auth('integration-developer'),
      status: 403,
      code: 'CMS_FORBIDDEN',
    },
  ]

  const before = await snapshot(app)
  for (const c of cases) {
    const body =
      c.body && 'json' in c.body
        ? { payload: c.body.json as object }
        : c.body
          ? { payload: c.body.payload }
          : { payload: c.method === 'DELETE' ? undefined : valid.pem }
    const contentType =
      c.body && 'json' in c.body ? {} : { 'content-type': c.body?.['content-type'] ?? 'application/x-pem-file' }
    const res = await app.inject({
      method: c.method ?? 'PUT',
      url: `/keystore/entries/${c.alias ?? 'new-alias'}`,
      headers: { ...auth('tenant-admin'), ...(c.method === 'DELETE' ? {} : contentType), ...c.headers },
      ...body,
    })
    assertProblem(t, res, c.status, c.code, c.name)
  }
  t.same(await snapshot(app), before, 'the store is unchanged')
  t.equal((await asRole('monitor').get('/keystore/entries/missing')).statusCode, 404)
})
