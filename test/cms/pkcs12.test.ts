import t from 'tap'
import { execFileSync } from 'node:child_process'
import { createPrivateKey, sign, verify } from 'node:crypto'
import { parseKeyPairUpload } from '../../src/cms/key-pair.js'
import { encodePassword, pkcs12Kdf } from '../../src/cms/pkcs12-pbe.js'
import { buildPfx, opensslEncryptedPkcs8, opensslPkcs12, pkcs12PbeKey, type BagSpec } from '../helpers/pkcs12-files.js'
import { issueCertificate, type CertificateOptions } from '../helpers/pki.js'
import { issueChain } from '../helpers/signing-pki.js'

/** Spawns openssl: PKCS#12 files made by the OpenSSL 3 CLI, and keys it encrypted. */
const PASSWORD = 'S3cret-pässwörd€'
const signing: CertificateOptions = { keyUsage: ['digitalSignature'] }

/** The outcome of an import: 'ok' or the error's code, status and message; never the password in it. */
function outcome(pkcs12: string, password = PASSWORD, alias?: string) {
  try {
    const pair = parseKeyPairUpload({ pkcs12, password }, undefined, alias)
    const signature = sign('sha256', Buffer.from('payload'), pair.privateKey)
    if (!verify('sha256', Buffer.from('payload'), pair.certificate.keyObject, signature)) throw new Error('no verify')
    return { code: 'ok', status: 0, message: '', pair }
  } catch (err) {
    const { code, statusCode, message } = err as { code: string; statusCode: number; message: string }
    if (password && message.includes(password)) throw new Error('the password is in the error message', { cause: err })
    return { code, status: statusCode, message, pair: undefined }
  }
}

async function signerFile(options: string[], password = PASSWORD, certificate: CertificateOptions = signing) {
  const cert = await issueCertificate('p12-signer', certificate)
  return { cert, pkcs12: await opensslPkcs12({ keyPem: cert.keyPem, certPems: [cert.pem] }, password, options) }
}

const legacyProvider = (() => {
  try {
    execFileSync('openssl', ['list', '-providers', '-provider', 'legacy'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()

t.test('the PKCS#12 KDF gives the published test vectors (RFC 7292 B.2)', async (t) => {
  const bmp = (s: string) => encodePassword(s).bmp
  const hex = (s: string) => Buffer.from(s, 'hex')
  t.equal(
    pkcs12Kdf('sha1', bmp('smeg'), hex('0A58CF64530D823F'), 1, 1, 24).toString('hex'),
    '8aaae6297b6cb04642ab5b077851284eb7128f1a2a7fbca3',
  )
  t.equal(pkcs12Kdf('sha1', bmp('smeg'), hex('0A58CF64530D823F'), 1, 2, 8).toString('hex'), '79993dfe048d3b76')
  t.equal(
    pkcs12Kdf('sha1', bmp('queeg'), hex('1682C0FC5B3F7EC5'), 1000, 1, 24).toString('hex'),
    '483dd6e919d7de2e8e648ba8f862f3fbfbdc2bcb2c02957f',
  )
  t.equal(
    pkcs12Kdf('sha1', bmp('smeg'), hex('3D83C0E4546AC140'), 1, 3, 20).toString('hex'),
    '8d967d88f6caa9d714800ab3d48051d63f73a312',
  )
})

t.test('an OpenSSL 3 default export imports with its chain ordered upward, strangers left out', async (t) => {
  const { root, intermediate, signer } = await issueChain()
  const stranger = await issueCertificate('stranger')
  const pkcs12 = await opensslPkcs12(
    { keyPem: signer.keyPem, certPems: [signer.pem], extraCertPems: [root.pem, stranger.pem, intermediate.pem] },
    PASSWORD,
    ['-name', 'signing-key'],
  )
  const { code, pair } = outcome(pkcs12)
  t.equal(code, 'ok')
  t.same(pair?.certificate.der, signer.der)
  t.same(pair?.chain, [intermediate.der, root.der])
})

t.test('each supported cipher, MAC and password encoding imports', async (t) => {
  const cases: Array<[string, string[], string?, CertificateOptions?]> = [
    ['defaults: AES-256-CBC, PBKDF2, SHA-256 MAC', []],
    ['3DES PKCS#12 PBE, SHA-1 MAC', ['-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES', '-macalg', 'sha1']],
    ['2-key 3DES PKCS#12 PBE', ['-keypbe', 'PBE-SHA1-2DES', '-certpbe', 'PBE-SHA1-2DES']],
    ['AES-128 and AES-192, SHA-512 MAC', ['-keypbe', 'AES-128-CBC', '-certpbe', 'AES-192-CBC', '-macalg', 'sha512']],
    ['PBES2 3DES, SHA-384 MAC', ['-keypbe', 'DES-EDE3-CBC', '-certpbe', 'AES-256-CBC', '-macalg', 'sha384']],
    ['SHA-224 MAC', ['-macalg', 'sha224']],
    ['no MAC', ['-nomac']],
    ['no MAC, 3DES', ['-nomac', '-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES']],
    ['nothing encrypted, no MAC', ['-nomac', '-keypbe', 'NONE', '-certpbe', 'NONE']],
    ['nothing encrypted, a MAC', ['-keypbe', 'NONE', '-certpbe', 'NONE']],
    ['an empty password', [], ''],
    ['an empty password, 3DES', ['-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES'], ''],
    ['an ASCII password', ['-macalg', 'sha1'], 'plain'],
    ['an EC P-256 key', [], PASSWORD, { key: 'ec-p256', keyUsage: ['digitalSignature'] }],
  ]
  for (const [name, options, password = PASSWORD, certificate] of cases) {
    const { cert, pkcs12 } = await signerFile(options, password, certificate)
    const result = outcome(pkcs12, password)
    t.equal(result.code, 'ok', `${name}: ${result.message}`)
    t.same(result.pair?.certificate.der, cert.der, `${name}: the signer certificate`)
  }
})

t.test('422 CMS_PKCS12_PASSWORD_INCORRECT: a wrong password, by the MAC or by the decryption', async (t) => {
  const cases: Array<[string, string[]]> = [
    ['the MAC', []],
    ['the MAC, SHA-1', ['-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES', '-macalg', 'sha1']],
    ['no MAC, AES', ['-nomac']],
    ['no MAC, 3DES', ['-nomac', '-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES']],
    ['no MAC, only the key encrypted', ['-nomac', '-certpbe', 'NONE']],
  ]
  for (const [name, options] of cases) {
    const { pkcs12 } = await signerFile(options)
    for (const wrong of ['wrong-password', '', PASSWORD.slice(0, -1)]) {
      t.match(outcome(pkcs12, wrong), { code: 'CMS_PKCS12_PASSWORD_INCORRECT', status: 422 }, `${name}: "${wrong}"`)
    }
  }
})

t.test(
  '422 CMS_PKCS12_UNSUPPORTED: legacy ciphers, named, with how to re-export',
  { skip: !legacyProvider },
  async (t) => {
    const cases: Array<[string, string[], RegExp]> = [
      ['-legacy (RC2-40 certificates)', ['-legacy'], /pbewithSHAAnd40BitRC2-CBC \(1\.2\.840\.113549\.1\.12\.1\.6\)/],
      ['RC2-128 key', ['-legacy', '-keypbe', 'PBE-SHA1-RC2-128', '-certpbe', 'NONE'], /pbeWithSHAAnd128BitRC2-CBC/],
      ['RC4-128 key', ['-legacy', '-keypbe', 'PBE-SHA1-RC4-128', '-certpbe', 'NONE'], /pbeWithSHAAnd128BitRC4/],
      ['RC4-40 certificates', ['-legacy', '-certpbe', 'PBE-SHA1-RC4-40'], /pbeWithSHAAnd40BitRC4/],
      // OpenSSL leaves the certificates unencrypted without a MAC: the key carries the legacy cipher here.
      ['RC2-40 key, no MAC', ['-legacy', '-keypbe', 'PBE-SHA1-RC2-40', '-nomac'], /pbewithSHAAnd40BitRC2-CBC/],
    ]
    for (const [name, options, cipher] of cases) {
      const { pkcs12 } = await signerFile(options)
      const result = outcome(pkcs12)
      t.match(result, { code: 'CMS_PKCS12_UNSUPPORTED', status: 422, message: cipher }, name)
      t.match(result.message, /legacy cipher.*openssl pkcs12 -export/, `${name}: how to re-export`)
    }
    const { pkcs12 } = await signerFile(['-legacy'])
    t.equal(outcome(pkcs12, 'wrong').code, 'CMS_PKCS12_PASSWORD_INCORRECT', 'the MAC is checked first')
  },
)

t.test('422 CMS_PKCS12_UNSUPPORTED: key derivations and iteration counts not read here', async (t) => {
  const cert = await issueCertificate('kdf', signing)
  const key = createPrivateKey(cert.keyPem)
  const scrypt = await opensslEncryptedPkcs8(key, PASSWORD, ['-scrypt'])
  t.match(outcome(buildPfx([{ encryptedKey: scrypt }, { certificate: cert.der }])), {
    code: 'CMS_PKCS12_UNSUPPORTED',
    message: /with scrypt key derivation/,
  })
  t.match(outcome(buildPfx([{ encryptedKey: pkcs12PbeKey(50_000_000) }, { certificate: cert.der }])), {
    code: 'CMS_PKCS12_UNSUPPORTED',
    message: /50000000 iterations; at most 1000000/,
  })
})

t.test('each PBKDF2 PRF and PBES2 cipher of a shrouded key bag', async (t) => {
  const cert = await issueCertificate('prf', signing)
  const key = createPrivateKey(cert.keyPem)
  const cases = [
    ['-v2', 'aes-256-cbc', '-v2prf', 'hmacWithSHA1'],
    ['-v2', 'aes-128-cbc', '-v2prf', 'hmacWithSHA224'],
    ['-v2', 'aes-192-cbc', '-v2prf', 'hmacWithSHA384'],
    ['-v2', 'des3', '-v2prf', 'hmacWithSHA512'],
    ['-v1', 'PBE-SHA1-3DES'],
  ]
  for (const options of cases) {
    const pkcs12 = buildPfx([
      { encryptedKey: await opensslEncryptedPkcs8(key, PASSWORD, options) },
      { certificate: cert.der },
    ])
    t.equal(outcome(pkcs12).code, 'ok', options.join(' '))
    t.equal(outcome(pkcs12, 'wrong').code, 'CMS_PKCS12_PASSWORD_INCORRECT', `${options.join(' ')}, a wrong password`)
  }
})

t.test('422 CMS_PKCS12_KEY_COUNT: no key, or several and no friendlyName equal to the alias', async (t) => {
  const cert = await issueCertificate('no-key', signing)
  t.match(outcome(await opensslPkcs12({ certPems: [cert.pem] }, PASSWORD)), {
    code: 'CMS_PKCS12_KEY_COUNT',
    status: 422,
    message: /holds no private key/,
  })
  const [a, b] = [await issueCertificate('a', signing), await issueCertificate('b', signing)]
  const encryptedB = await opensslEncryptedPkcs8(createPrivateKey(b.keyPem), PASSWORD, [])
  const bags: BagSpec[] = [
    { key: createPrivateKey(a.keyPem), friendlyName: 'first', localKeyId: Buffer.from([1]) },
    { certificate: a.der, localKeyId: Buffer.from([1]) },
    { encryptedKey: encryptedB, friendlyName: 'second', localKeyId: Buffer.from([2]) },
    { certificate: b.der, localKeyId: Buffer.from([2]) },
  ]
  const two = buildPfx(bags)
  for (const alias of [undefined, 'third']) {
    t.match(
      outcome(two, PASSWORD, alias),
      {
        code: 'CMS_PKCS12_KEY_COUNT',
        status: 422,
        message: /holds 2 private keys, and none of them has a friendlyName equal to the alias/,
      },
      `alias ${alias}`,
    )
  }
  t.same(outcome(two, PASSWORD, 'second').pair?.certificate.der, b.der, 'the friendlyName chooses the key')
  t.same(outcome(two, PASSWORD, 'first').pair?.certificate.der, a.der)
  const sameName = buildPfx(bags.map((bag) => ('certificate' in bag ? bag : { ...bag, friendlyName: 'x' })))
  t.match(outcome(sameName, PASSWORD, 'x'), { code: 'CMS_PKCS12_KEY_COUNT', message: /2 of them has a friendlyName/ })
})

t.test('the checks of every key pair apply to PKCS#12 too', async (t) => {
  const [a, b] = [await issueCertificate('a', signing), await issueCertificate('b', signing)]
  t.match(outcome(buildPfx([{ key: createPrivateKey(a.keyPem) }, { certificate: b.der }])), {
    code: 'CMS_KEY_PAIR_MISMATCH',
    status: 422,
    message: /certificate "CN=b"/,
  })
  t.match(outcome(buildPfx([{ key: createPrivateKey(a.keyPem) }])), {
    code: 'CMS_KEY_PAIR_MALFORMED',
    message: /holds no certificate/,
  })
  const { pkcs12 } = await signerFile([], PASSWORD, { keyUsage: ['keyEncipherment'] })
  t.match(outcome(pkcs12), { code: 'CMS_KEY_USAGE_FORBIDS_SIGNING', status: 422 })
  const weak = await signerFile([], PASSWORD, { key: 'rsa-1024', keyUsage: ['digitalSignature'] })
  t.match(outcome(weak.pkcs12), { code: 'CMS_KEY_TOO_WEAK', status: 422 })
  const expired = await signerFile([], PASSWORD, { ...signing, notAfter: new Date(Date.now() - 1000) })
  t.match(outcome(expired.pkcs12), { code: 'CMS_CERTIFICATE_EXPIRED', status: 422, message: /expired on/ })
})

t.test('400 CMS_KEY_PAIR_MALFORMED: not a PKCS#12 file', async (t) => {
  const cert = await issueCertificate('not-p12', signing)
  const { pkcs12 } = await signerFile([])
  const cases: Array<[string, string, RegExp]> = [
    ['not base64', 'not base64!', /not base64/],
    ['empty', '', /pkcs12 is empty/],
    ['garbage', Buffer.from('garbage bytes').toString('base64'), /not a PKCS#12 file|cannot be read/],
    ['a certificate', cert.der.toString('base64'), /pkcs12 \(a PFX\) cannot be read/],
    [
      'bytes after the file',
      Buffer.concat([Buffer.from(pkcs12, 'base64'), Buffer.from([0])]).toString('base64'),
      /bytes after the PKCS#12 file/,
    ],
  ]
  for (const [name, text, message] of cases) {
    t.match(outcome(text), { code: 'CMS_KEY_PAIR_MALFORMED', status: 400, message }, name)
  }
})
