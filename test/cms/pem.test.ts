import fc from 'fast-check'
import t from 'tap'
import { decodeCertificateUpload, findPemBlocks } from '../../src/cms/pem.js'
import { pemPieces } from '../helpers/pem-cases.js'

/**
 * The expression findPemBlocks replaced: the reference for what a block is. It is quadratic (from
 * every BEGIN it searches to the end for the END), so it only ever sees the short texts below.
 */
const OLD_PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g
const oldBlocks = (text: string) => [...text.matchAll(OLD_PEM_BLOCK)].map((m) => ({ label: m[1]!, body: m[2]! }))

const codeOf = (body: string) => {
  try {
    decodeCertificateUpload(Buffer.from(body, 'latin1'))
    return 'ok'
  } catch (err) {
    return (err as { code?: string }).code
  }
}

t.test('finds the blocks the old expression found, on texts made of marker pieces', async (t) => {
  const cases: Array<[string, string]> = [
    ['one block', '-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n'],
    ['two blocks', '-----BEGIN A-----x-----END A----------BEGIN B-----y-----END B-----'],
    ['an END of another label first', '-----BEGIN A-----x-----END B-----y-----END A-----'],
    ['a BEGIN inside a block', '-----BEGIN A-----x-----BEGIN B-----y-----END A-----z-----END B-----'],
    ['an unclosed BEGIN, then a block', '-----BEGIN A-----x-----BEGIN B-----y-----END B-----'],
    ['BEGIN markers that share their dashes', '-----BEGIN A-----BEGIN A-----END A-----'],
    ['six dashes', '------BEGIN A------x------END A------'],
    ['a label with spaces', '-----BEGIN X509 CRL-----x-----END X509 CRL-----'],
    ['a lower-case label', '-----BEGIN a-----x-----END a-----'],
    ['an empty label', '-----BEGIN -----x-----END -----'],
    ['an END with a longer label', '-----BEGIN A-----x-----END AB-----'],
    ['an END before its BEGIN', '-----END A----------BEGIN A-----x'],
    ['an empty body', '-----BEGIN A----------END A-----'],
    ['four closing dashes', '-----BEGIN A----x-----END A-----'],
    ['an END sharing the dashes that close the BEGIN', '-----BEGIN A---------END A-----'],
    ['an END right after the BEGIN', '-----BEGIN A----------END A-----'],
    ['a BEGIN sharing the dashes that close an END', '-----BEGIN A-----x-----END A-----BEGIN B-----y-----END B-----'],
    ['nothing', ''],
  ]
  for (const [name, text] of cases) t.same(findPemBlocks(text), oldBlocks(text), name)

  const differing: string[] = []
  fc.assert(
    fc.property(pemPieces(64), (text) => {
      if (JSON.stringify(findPemBlocks(text)) !== JSON.stringify(oldBlocks(text))) differing.push(text)
    }),
    { numRuns: 3000, seed: 20261125 },
  )
  t.same(differing, [], 'texts of marker pieces where the two differ')
})

t.test('a block decodes to the bytes of its base64 stripped of whitespace, as it did', async (t) => {
  const base64Text = fc
    .array(
      fc.constantFrom(
        ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/==',
        ' ',
        '\r\n',
        '\t',
        '\xa0',
      ),
      {
        minLength: 1,
        maxLength: 80,
      },
    )
    .map((chars) => chars.join(''))
  const differing: string[] = []
  fc.assert(
    fc.property(base64Text, (body) => {
      const before = Buffer.from(body.replace(/\s+/g, ''), 'base64')
      const upload = Buffer.from(`-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`, 'latin1')
      let now: Buffer | string
      try {
        now = decodeCertificateUpload(upload)
      } catch (err) {
        now = (err as { code: string }).code
      }
      const expected = before.length ? before : 'CMS_CERTIFICATE_MALFORMED'
      if (JSON.stringify(now) !== JSON.stringify(expected)) differing.push(body)
    }),
    { numRuns: 3000, seed: 20261125 },
  )
  t.same(differing, [], 'bodies that decode otherwise')
})

t.test('the error codes of the PEM path are those it had', async (t) => {
  const cert = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'
  const cases: Array<[string, string, string]> = [
    ['no complete block', '-----BEGIN CERTIFICATE-----\nMIIB\n', 'CMS_CERTIFICATE_COUNT'],
    ['two certificates', cert + cert, 'CMS_CERTIFICATE_COUNT'],
    ['a certificate and another block', cert + '-----BEGIN X-----\n-----END X-----\n', 'CMS_CERTIFICATE_COUNT'],
    ['only another block', '-----BEGIN X-----\nQUJD\n-----END X-----\n', 'CMS_CERTIFICATE_COUNT'],
    ['a private key marker anywhere', cert + '-----END RSA PRIVATE KEY-----', 'CMS_PRIVATE_KEY_IN_BODY'],
    ['not base64', '-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----', 'CMS_CERTIFICATE_MALFORMED'],
    ['an empty block', '-----BEGIN CERTIFICATE-----\n \n-----END CERTIFICATE-----', 'CMS_CERTIFICATE_MALFORMED'],
  ]
  for (const [name, body, code] of cases) t.equal(codeOf(body), code, name)
})
