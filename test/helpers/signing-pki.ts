import * as asn1js from 'asn1js'
import * as pkijs from 'pkijs'
import { generateKeyPairSync, randomBytes, webcrypto, type KeyObject } from 'node:crypto'

/**
 * Certificate chains for signer tests: a root, an intermediate and a signer, each with its own key,
 * made here with PKI.js. The shared test CA (pki.ts) does not hand out its own certificate, so a
 * chain a test can verify end to end is built here instead.
 */
const engine = new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as never })
const DAY = 86_400_000
let serial = 1

export interface ChainCertificate {
  name: string
  der: Buffer
  pem: string
  privateKey: KeyObject
  keyPem: string
}

export interface ChainOptions {
  signerKey?: 'rsa-2048' | 'ec-p256'
  signerKeyUsage?: string[] | null
}

/** A signer certificate issued by an intermediate issued by a self-signed root. */
export async function issueChain(options: ChainOptions = {}) {
  const root = await issue('Signer Test Root', { ca: true })
  const intermediate = await issue('Signer Test Intermediate', { ca: true, issuer: root })
  const signer = await issue('Signer', {
    issuer: intermediate,
    key: options.signerKey ?? 'rsa-2048',
    keyUsage: options.signerKeyUsage === undefined ? ['digitalSignature'] : options.signerKeyUsage,
  })
  return { root, intermediate, signer }
}

interface IssueOptions {
  ca?: boolean
  issuer?: ChainCertificate
  key?: 'rsa-2048' | 'ec-p256'
  keyUsage?: string[] | null
}

const KEY_USAGE_BITS = ['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement']

async function issue(name: string, options: IssueOptions): Promise<ChainCertificate> {
  const { privateKey, publicKey } =
    options.key === 'ec-p256'
      ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 })
  const cert = new pkijs.Certificate()
  cert.version = 2
  const serialBytes = randomBytes(12)
  serialBytes[0] = (serialBytes[0]! & 0x7f) | 0x01
  serialBytes.writeUInt32BE(serial++, 8)
  cert.serialNumber = new asn1js.Integer({ valueHex: serialBytes })
  cert.subject = distinguishedName(name)
  cert.issuer = options.issuer ? pkijs.Certificate.fromBER(options.issuer.der).subject : distinguishedName(name)
  cert.notBefore.value = new Date(Date.now() - DAY)
  cert.notAfter.value = new Date(Date.now() + 365 * DAY)
  cert.subjectPublicKeyInfo = pkijs.PublicKeyInfo.fromBER(publicKey.export({ type: 'spki', format: 'der' }))
  const extensions: pkijs.Extension[] = []
  if (options.ca) {
    extensions.push(
      new pkijs.Extension({
        extnID: '2.5.29.19',
        critical: true,
        extnValue: new pkijs.BasicConstraints({ cA: true }).toSchema().toBER(false),
        parsedValue: new pkijs.BasicConstraints({ cA: true }),
      }),
      keyUsage([], 0x06), // keyCertSign, cRLSign
    )
  } else if (options.keyUsage) {
    extensions.push(keyUsage(options.keyUsage.map((n) => KEY_USAGE_BITS.indexOf(n))))
  }
  if (extensions.length) cert.extensions = extensions
  const signingKey = options.issuer?.privateKey ?? privateKey
  const key = await webcrypto.subtle.importKey(
    'pkcs8',
    signingKey.export({ type: 'pkcs8', format: 'der' }),
    { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    false,
    ['sign'],
  )
  await cert.sign(key, 'SHA-256', engine)
  const der = Buffer.from(cert.toSchema().toBER(false))
  return {
    name,
    der,
    pem: toPem(der),
    privateKey,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  }
}

/** A keyUsage BIT STRING (RFC 5280 4.2.1.3): the bits listed, plus `firstByteBits` (0x06: keyCertSign, cRLSign). */
function keyUsage(bits: number[], firstByteBits = 0) {
  let byte = firstByteBits
  for (const b of bits) byte |= 0x80 >> b
  return new pkijs.Extension({
    extnID: '2.5.29.15',
    critical: true,
    extnValue: new asn1js.BitString({ valueHex: Uint8Array.of(byte), unusedBits: 0 }).toBER(false),
  })
}

function distinguishedName(cn: string) {
  return new pkijs.RelativeDistinguishedNames({
    typesAndValues: [new pkijs.AttributeTypeAndValue({ type: '2.5.4.3', value: new asn1js.Utf8String({ value: cn }) })],
  })
}

export function toPem(der: Buffer, label = 'CERTIFICATE'): string {
  return `-----BEGIN ${label}-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END ${label}-----\n`
}
