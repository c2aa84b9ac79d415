import t from 'tap'
import { createPrivateKey, generateKeyPairSync, sign, verify } from 'node:crypto'
import { parseKeyPairUpload, type KeyPairUpload } from '../../src/cms/key-pair.js'
import { issueCertificate, type CertificateOptions } from '../helpers/pki.js'
import { issueChain, toPem } from '../helpers/signing-pki.js'

const DAY = 86_400_000
const signing = { keyUsage: ['digitalSignature'] }

/** The outcome of an import: 'ok' or the error's code, status and message. */
function outcome(upload: KeyPairUpload, now?: Date) {
  try {
    parseKeyPairUpload(upload, now)
    return { code: 'ok', status: 0, message: '' }
  } catch (err) {
    const { code, statusCode, message } = err as { code: string; statusCode: number; message: string }
    return { code, status: statusCode, message }
  }
}

async function pemUpload(options: CertificateOptions = signing) {
  const cert = await issueCertificate('signer', options)
  return { privateKey: cert.keyPem, certificateChain: cert.pem }
}

t.test('an RSA key and its certificate import, and the key signs what the certificate verifies', async (t) => {
  const pair = parseKeyPairUpload(await pemUpload())
  t.same(pair.keyType, { algorithm: 'RSA', bits: 2048 })
  t.same(pair.chain, [])
  t.match(pair.certificate.subject, /CN=signer/)
  const signature = sign('sha256', Buffer.from('payload'), pair.privateKey)
  t.ok(verify('sha256', Buffer.from('payload'), pair.certificate.keyObject, signature))
})

t.test('each unencrypted PEM label of a private key is read', async (t) => {
  const rsa = await issueCertificate('rsa', signing)
  const ec = await issueCertificate('ec', { key: 'ec-p384', keyUsage: ['digitalSignature'] })
  const as = (pem: string, type: 'pkcs1' | 'sec1') => createPrivateKey(pem).export({ type, format: 'pem' }) as string
  const cases: Array<[string, string, string]> = [
    ['RSA PRIVATE KEY (PKCS#1)', as(rsa.keyPem, 'pkcs1'), rsa.pem],
    ['EC PRIVATE KEY (SEC 1)', as(ec.keyPem, 'sec1'), ec.pem],
    ['PRIVATE KEY (PKCS#8), EC', ec.keyPem, ec.pem],
  ]
  for (const [name, privateKey, certificateChain] of cases) {
    const pair = parseKeyPairUpload({ privateKey, certificateChain })
    const signature = sign('sha256', Buffer.from('x'), pair.privateKey)
    t.ok(verify('sha256', Buffer.from('x'), pair.certificate.keyObject, signature), name)
  }
  t.same(parseKeyPairUpload({ privateKey: ec.keyPem, certificateChain: ec.pem }).keyType, {
    algorithm: 'EC',
    curve: 'P-384',
  })
})

t.test('text around the PEM blocks (as openssl prints it) is ignored', async (t) => {
  const { privateKey, certificateChain } = await pemUpload()
  const pair = parseKeyPairUpload({
    privateKey: `Bag Attributes\n    friendlyName: signer\n${privateKey}`,
    certificateChain: `subject=CN = signer\n${certificateChain}\n`,
  })
  t.ok(pair.privateKey)
})

t.test('a chain in order imports: the signer first, then each issuer', async (t) => {
  const { root, intermediate, signer } = await issueChain()
  const pair = parseKeyPairUpload({
    privateKey: signer.keyPem,
    certificateChain: signer.pem + intermediate.pem + root.pem,
  })
  t.same(pair.certificate.der, signer.der)
  t.same(pair.chain, [intermediate.der, root.der])
  const ec = await issueChain({ signerKey: 'ec-p256' })
  const ecPair = parseKeyPairUpload({
    privateKey: ec.signer.keyPem,
    certificateChain: ec.signer.pem + ec.intermediate.pem,
  })
  t.same(ecPair.keyType, { algorithm: 'EC', curve: 'P-256' })
  t.same(ecPair.chain, [ec.intermediate.der])
})

t.test('400 CMS_KEY_PAIR_MALFORMED: a private key that cannot be read as sent', async (t) => {
  const { privateKey, certificateChain } = await pemUpload()
  const key = createPrivateKey(privateKey)
  const encryptedPkcs8 = key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' })
  const encryptedPkcs1 = key.export({ type: 'pkcs1', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' })
  const body = privateKey.split('\n').slice(1, -2).join('\n')
  const cases: Array<[string, string, RegExp]> = [
    ['encrypted PKCS#8', encryptedPkcs8 as string, /encrypted; send it unencrypted .* or as PKCS#12 .*password/],
    ['encrypted with DEK-Info', encryptedPkcs1 as string, /encrypted \(a DEK-Info header\); send it unencrypted/],
    ['no PEM block', body, /exactly one PEM block .* it holds 0/],
    ['two keys', privateKey + privateKey, /exactly one PEM block .* it holds 2/],
    ['a certificate instead', certificateChain, /a CERTIFICATE block, not PRIVATE KEY/],
    ['not base64', privateKey.replace(body.slice(10, 14), '!!!!'), /not valid base64/],
    ['not a key', toPem(Buffer.from('garbage'), 'PRIVATE KEY'), /not a private key Node can read/],
    [
      'a PKCS#1 body under a PKCS#8 label',
      createPrivateKey(privateKey)
        .export({ type: 'pkcs1', format: 'pem' })
        .toString()
        .replace(/RSA PRIVATE KEY/g, 'PRIVATE KEY'),
      /not a private key/,
    ],
  ]
  for (const [name, privateKey, message] of cases) {
    const result = outcome({ privateKey, certificateChain })
    t.match(result, { code: 'CMS_KEY_PAIR_MALFORMED', status: 400, message }, name)
    t.notMatch(result.message, /pw/, `${name}: no passphrase echoed`)
  }
})

t.test('400: a certificate chain that cannot be read', async (t) => {
  const { privateKey, certificateChain } = await pemUpload()
  const cases: Array<[string, string, string, RegExp]> = [
    ['no certificate', '', 'CMS_KEY_PAIR_MALFORMED', /no CERTIFICATE block; send the signer certificate first/],
    [
      'a key among the certificates',
      certificateChain + privateKey,
      'CMS_KEY_PAIR_MALFORMED',
      /only CERTIFICATE blocks; it also holds PRIVATE KEY/,
    ],
    [
      'not base64',
      toPem(Buffer.from('x')).replace('eA==', 'e!=='),
      'CMS_KEY_PAIR_MALFORMED',
      /certificate 1 of certificateChain is not valid base64/,
    ],
    [
      'garbage signer',
      toPem(Buffer.from('garbage')),
      'CMS_CERTIFICATE_MALFORMED',
      /the signer certificate: not valid DER/,
    ],
    [
      'garbage issuer',
      certificateChain + toPem(Buffer.from('garbage')),
      'CMS_CERTIFICATE_MALFORMED',
      /certificate 2 of the chain: not valid DER/,
    ],
  ]
  for (const [name, chain, code, message] of cases) {
    t.match(outcome({ privateKey, certificateChain: chain }), { code, status: 400, message }, name)
  }
})

t.test("422 CMS_KEY_PAIR_MISMATCH: a key that is not the certificate's", async (t) => {
  const { certificateChain } = await pemUpload()
  const other = await issueCertificate('other', signing)
  t.match(outcome({ privateKey: other.keyPem, certificateChain }), {
    code: 'CMS_KEY_PAIR_MISMATCH',
    status: 422,
    message: /does not belong to the certificate "CN=signer"/,
  })
  const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey
  t.match(
    outcome({ privateKey: ec.export({ type: 'pkcs8', format: 'pem' }) as string, certificateChain }),
    {
      code: 'CMS_KEY_PAIR_MISMATCH',
    },
    'another algorithm',
  )
})

t.test('422: a key too weak or of an algorithm that cannot sign here', async (t) => {
  const cases: Array<[NonNullable<CertificateOptions['key']>, string, RegExp]> = [
    ['rsa-1024', 'CMS_KEY_TOO_WEAK', /1024 bits; at least 2048/],
    ['ec-secp256k1', 'CMS_KEY_ALGORITHM_UNSUPPORTED', /curve secp256k1 is not supported for signing/],
    ['ed25519', 'CMS_KEY_ALGORITHM_UNSUPPORTED', /ED25519 keys cannot sign here/],
    ['dsa', 'CMS_KEY_ALGORITHM_UNSUPPORTED', /DSA keys cannot sign here/],
  ]
  for (const [key, code, message] of cases) {
    t.match(outcome(await pemUpload({ key, keyUsage: ['digitalSignature'] })), { code, status: 422, message }, key)
  }
  const weak = await issueCertificate('weak', { key: 'rsa-1024', keyUsage: ['digitalSignature'] })
  const other = await issueCertificate('other', signing)
  t.equal(
    outcome({ privateKey: other.keyPem, certificateChain: weak.pem }).code,
    'CMS_KEY_PAIR_MISMATCH',
    'the match is checked before the key',
  )
})

t.test('422 CMS_KEY_USAGE_FORBIDS_SIGNING: a keyUsage without digitalSignature', async (t) => {
  for (const keyUsage of [['keyEncipherment'], ['nonRepudiation'], []]) {
    t.match(
      outcome(await pemUpload({ keyUsage })),
      {
        code: 'CMS_KEY_USAGE_FORBIDS_SIGNING',
        status: 422,
        message: /does not allow digitalSignature/,
      },
      keyUsage.join() || 'empty',
    )
  }
  t.equal(outcome(await pemUpload({ keyUsage: null })).code, 'ok', 'no keyUsage: any use')
  t.equal(outcome(await pemUpload({ keyUsage: ['digitalSignature', 'nonRepudiation'] })).code, 'ok')
  t.equal(
    outcome(await pemUpload({ key: 'rsa-1024', keyUsage: ['keyEncipherment'] })).code,
    'CMS_KEY_TOO_WEAK',
    'the key is judged before its keyUsage',
  )
})

t.test('422 CMS_CERTIFICATE_EXPIRED: a certificate outside its validity, saying which side', async (t) => {
  const now = Date.now()
  const expired = await pemUpload({ ...signing, notBefore: new Date(now - 10 * DAY), notAfter: new Date(now - DAY) })
  t.match(outcome(expired), { code: 'CMS_CERTIFICATE_EXPIRED', status: 422, message: /expired on/ })
  const future = await pemUpload({ ...signing, notBefore: new Date(now + DAY) })
  t.match(outcome(future), { code: 'CMS_CERTIFICATE_EXPIRED', status: 422, message: /not valid yet: not before/ })
  t.equal(outcome(future, new Date(now + 2 * DAY)).code, 'ok', 'judged at the `now` given')
  t.equal(outcome(expired, new Date(now - 2 * DAY)).code, 'ok')
  const expiredNoSigning = await pemUpload({ keyUsage: ['keyEncipherment'], notAfter: new Date(now - DAY) })
  t.equal(outcome(expiredNoSigning).code, 'CMS_KEY_USAGE_FORBIDS_SIGNING', 'keyUsage before validity')
})

t.test('400 CMS_KEY_PAIR_MALFORMED: a chain out of order or not signed by the next, naming the position', async (t) => {
  const { root, intermediate, signer } = await issueChain()
  const other = await issueChain()
  const cases: Array<[string, string, RegExp]> = [
    [
      'root before intermediate',
      signer.pem + root.pem + intermediate.pem,
      /issuer of the signer certificate is not the subject of certificate 2 of the chain/,
    ],
    [
      'a stranger after the intermediate',
      signer.pem + intermediate.pem + (await issueCertificate('x')).pem,
      /issuer of certificate 2 of the chain is not the subject of certificate 3 of the chain/,
    ],
    [
      'an intermediate of the same name, another key',
      signer.pem + other.intermediate.pem,
      /signature of the signer certificate does not verify with the key of certificate 2 of the chain/,
    ],
    [
      'a root of the same name, another key',
      signer.pem + intermediate.pem + other.root.pem,
      /signature of certificate 2 of the chain does not verify with the key of certificate 3/,
    ],
  ]
  for (const [name, certificateChain, message] of cases) {
    t.match(
      outcome({ privateKey: signer.keyPem, certificateChain }),
      { code: 'CMS_KEY_PAIR_MALFORMED', status: 400, message },
      name,
    )
  }
  const expired = outcome(
    { privateKey: signer.keyPem, certificateChain: signer.pem + root.pem },
    new Date(Date.now() + 400 * DAY),
  )
  t.equal(expired.code, 'CMS_CERTIFICATE_EXPIRED', 'validity before the chain')
})
