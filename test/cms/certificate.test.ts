import t from 'tap'
import { parseReceiverCertificate } from '../../src/cms/certificate.js'
import { garbledExtensionExamples } from '../helpers/garbled-extensions.js'
import { issueCertificate } from '../helpers/pki.js'

const codeAndMessage = (der: Buffer) => {
  try {
    parseReceiverCertificate(der)
    return { code: 'parsed', message: '' }
  } catch (err) {
    const { code, message } = err as { code: string; message: string }
    return { code, message }
  }
}

t.test('a garbled keyUsage or subjectKeyIdentifier is CMS_CERTIFICATE_MALFORMED, naming the extension', async (t) => {
  for (const { name, options } of garbledExtensionExamples()) {
    const { der } = await issueCertificate('garbled', options)
    const extension = name.split(' ')[0]!
    const { code, message } = codeAndMessage(der)
    t.equal(code, 'CMS_CERTIFICATE_MALFORMED', name)
    t.match(message, name.endsWith('twice') ? /extension 2\.5\.29\.15 appears twice/ : extension, `${name}: detail`)
  }
})

t.test('structural faults come before the key is judged', async (t) => {
  const [garbled] = garbledExtensionExamples()
  const { der } = await issueCertificate('dsa', { ...garbled!.options, key: 'dsa' })
  t.equal(codeAndMessage(der).code, 'CMS_CERTIFICATE_MALFORMED', 'a DSA key and a garbled keyUsage: 400, not 422')
})

t.test('any extension twice is refused (RFC 5280 4.2), one we do not read included', async (t) => {
  const basicConstraints = { extnID: '2.5.29.19', value: Uint8Array.from([0x30, 0x00]) }
  const { der } = await issueCertificate('twice', { rawExtensions: [basicConstraints, basicConstraints] })
  t.match(codeAndMessage(der), { code: 'CMS_CERTIFICATE_MALFORMED', message: /2\.5\.29\.19 appears twice/ })
})

t.test('an extension we do not read is not judged, garbled or not', async (t) => {
  const garbage = { extnID: '2.5.29.19', value: Uint8Array.from([0x18, 0x0d, ...Buffer.from('ABCDEFGHIJKLZ')]) }
  const { der } = await issueCertificate('other-extension', { rawExtensions: [garbage] })
  t.equal(codeAndMessage(der).code, 'parsed')
})

t.test('well-formed extensions read as before', async (t) => {
  const rsa = parseReceiverCertificate((await issueCertificate('rsa')).der)
  t.same(rsa.keyUsage, ['keyEncipherment'])
  t.equal(rsa.subjectKeyIdentifier?.length, 20)
  const ec = parseReceiverCertificate((await issueCertificate('ec', { key: 'ec-p256' })).der)
  t.same(ec.keyUsage, ['keyAgreement'])
  const bare = parseReceiverCertificate(
    (await issueCertificate('bare', { keyUsage: null, subjectKeyIdentifier: false })).der,
  )
  t.equal(bare.keyUsage, undefined, 'no keyUsage: any use')
  t.equal(bare.subjectKeyIdentifier, undefined)
})
