import { createPrivateKey } from 'node:crypto'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import t from 'tap'
import { CONTENT_ENCRYPTION } from '../../src/cms/algorithms.js'
import { parseReceiverCertificate } from '../../src/cms/certificate.js'
import { EnvelopeEncryptStream } from '../../src/cms/encrypt-stream.js'
import { EnvelopeTemplate } from '../../src/cms/enveloped-data.js'
import { findPemBlocks } from '../../src/cms/pem.js'
import { prepareRecipient } from '../../src/cms/recipient-info.js'
import { SignStream } from '../../src/cms/sign-stream.js'
import {
  CERTIFICATE_INCLUSIONS,
  SIGNER_DIGESTS,
  SIGNER_IDENTIFIERS,
  type SignerOptions,
} from '../../src/cms/signature-algorithms.js'
import { SignedDataTemplate, type Signer } from '../../src/cms/signed-data.js'
import { issueCertificate, type TestCertificate } from '../helpers/pki.js'
import { decryptAndVerify, type Trust } from '../helpers/signed.js'
import { signerPki, type TestSigner } from '../helpers/signer-pki.js'

const content = CONTENT_ENCRYPTION['aes-256-cbc']

function signerOf(test: TestSigner, options: SignerOptions): Signer {
  const [cert, ...chain] = findPemBlocks(test.certPem + test.chainPem).map((b) => Buffer.from(b.body, 'base64'))
  return {
    alias: test.name,
    certificate: parseReceiverCertificate(cert!),
    chain,
    privateKey: createPrivateKey(test.keyPem),
    options,
  }
}

function envelopeFor(receivers: TestCertificate[]) {
  return new EnvelopeTemplate(
    receivers.map((r) =>
      prepareRecipient(r.name, parseReceiverCertificate(r.der), {
        keyTransport: 'rsa-oaep-sha256',
        recipientIdentifier: 'issuer-serial',
        content,
      }),
    ),
    content,
    'signedData',
  )
}

/** What the receiver must hold to verify: the root, plus what the message leaves out. */
async function trustFor(signer: TestSigner, includeCertificates: SignerOptions['includeCertificates']): Promise<Trust> {
  const pki = await signerPki()
  if (includeCertificates === 'chain') return { ca: [pki.rootPath] }
  if (includeCertificates === 'signer') return { ca: [pki.rootPath, pki.intermediatePath] }
  return { ca: [pki.rootPath, pki.intermediatePath], certfiles: [signer.certPath] }
}

async function streamed(template: SignedDataTemplate, envelope: EnvelopeTemplate, payload: Buffer, declared: boolean) {
  const signed = template.start()
  const signing = new SignStream(signed, declared ? payload.length : undefined, 1 << 30)
  const signedLength = declared ? signed.encodedLength(payload.length) : undefined
  const encrypting = new EnvelopeEncryptStream(envelope.start(), signedLength, Number.MAX_SAFE_INTEGER)
  const out: Buffer[] = []
  const chunks = [payload.subarray(0, 1000), payload.subarray(1000)]
  await pipeline(
    Readable.from(chunks),
    signing,
    encrypting,
    new Writable({
      write(c: Buffer, _e, cb) {
        out.push(c)
        cb()
      },
    }),
  )
  return { cms: Buffer.concat(out), definite: signedLength !== undefined }
}

t.test(
  'every digest × certificate inclusion × identifier, RSA PKCS#1 v1.5, PSS and ECDSA: decrypts and verifies',
  async (t) => {
    const pki = await signerPki()
    const receivers = [
      await issueCertificate('receiver-a'),
      await issueCertificate('receiver-b', { key: 'ec-p256', keyUsage: ['keyAgreement'] }),
    ]
    const envelope = envelopeFor(receivers)
    const rsa = await pki.issue('signer-rsa')
    const ec = await pki.issue('signer-ec', { key: 'ec-p256' })
    const payload = Buffer.from('an EDI interchange '.repeat(200))
    const cases: Array<{ signer: TestSigner; options: SignerOptions }> = []
    for (const [signer, signature] of [
      [rsa, 'rsa-pkcs1-v1_5'],
      [rsa, 'rsa-pss'],
      [ec, 'ecdsa'],
    ] as const)
      for (const digest of SIGNER_DIGESTS)
        for (const includeCertificates of CERTIFICATE_INCLUSIONS)
          for (const signerIdentifier of SIGNER_IDENTIFIERS)
            cases.push({ signer, options: { digest, signature, includeCertificates, signerIdentifier } })
    for (const { signer, options } of cases) {
      const template = new SignedDataTemplate(signerOf(signer, options))
      const trust = await trustFor(signer, options.includeCertificates)
      const name = `${options.signature} ${options.digest} ${options.includeCertificates} ${options.signerIdentifier}`
      const whole = envelope.start().seal(await template.start().whole(payload))
      for (const receiver of receivers)
        t.same(await decryptAndVerify(whole, receiver, trust), payload, `${name}, buffered, ${receiver.name}`)
      const { cms, definite } = await streamed(template, envelope, payload, true)
      t.equal(definite, options.signature !== 'ecdsa', `${name}: DER exactly when the signature length is fixed`)
      t.same(await decryptAndVerify(cms, receivers[0]!, trust), payload, `${name}, streamed with a length`)
      const chunked = await streamed(template, envelope, payload, false)
      t.same(
        await decryptAndVerify(chunked.cms, receivers[1]!, trust),
        payload,
        `${name}, streamed without a length (BER)`,
      )
    }
  },
)

t.test('one byte of the signed payload changed inside the envelope (re-encrypted): verification fails', async (t) => {
  const pki = await signerPki()
  const receiver = await issueCertificate('receiver-tamper')
  const envelope = envelopeFor([receiver])
  const signer = await pki.issue('signer-tamper')
  const options: SignerOptions = {
    digest: 'sha256',
    signature: 'rsa-pkcs1-v1_5',
    includeCertificates: 'chain',
    signerIdentifier: 'issuer-serial',
  }
  const payload = Buffer.from('PAY 100.00 EUR TO DE89370400440532013000')
  const signedData = await new SignedDataTemplate(signerOf(signer, options)).start().whole(payload)
  const trust = await trustFor(signer, 'chain')
  t.same(await decryptAndVerify(envelope.start().seal(signedData), receiver, trust), payload, 'untouched: verifies')
  const at = signedData.indexOf(Buffer.from('100.00'))
  t.ok(at > 0, 'the payload sits in the SignedData as it is')
  const tampered = Buffer.from(signedData)
  tampered[at] = '9'.charCodeAt(0)
  await t.rejects(
    decryptAndVerify(envelope.start().seal(tampered), receiver, trust),
    /Verification failure|digest failure/i,
  )
})
