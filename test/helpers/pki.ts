import * as asn1js from 'asn1js'
import * as pkijs from 'pkijs'
import { createHash, generateKeyPairSync, randomBytes, webcrypto, type KeyObject } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * Test certificates, made here and never committed: a throwaway CA signs receiver certificates with
 * whatever key, validity and extensions a test needs (expired, DSA, weak RSA, no SKI, ...).
 */
const engine = new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as never })
/** One directory per test process for the keys and certificates OpenSSL reads; gone when the process exits. */
const dir = mkdtempSync(join(tmpdir(), 'cms-test-pki-'))
process.once('exit', () => rmSync(dir, { recursive: true, force: true }))

export type KeySpec =
  | 'rsa-1024'
  | 'rsa-2048'
  | 'rsa-3072'
  | 'rsa-4096'
  | 'ec-p256'
  | 'ec-p384'
  | 'ec-p521'
  | 'ec-secp256k1'
  | 'dsa'
  | 'ed25519'

export interface TestCertificate {
  name: string
  der: Buffer
  pem: string
  certPath: string
  /** Private key PEM file, for openssl cms -decrypt. */
  keyPath: string
  keyPem: string
}

export interface CertificateOptions {
  key?: KeySpec
  keyUsage?: string[] | null
  subjectKeyIdentifier?: boolean
  notBefore?: Date
  notAfter?: Date
  /**
   * Extensions added as given, after those the options above make: the value is the extnValue's
   * content, any bytes, so a test can sign a certificate whose extension holds garbage.
   */
  rawExtensions?: RawExtension[]
}

export interface RawExtension {
  extnID: string
  critical?: boolean
  value: Uint8Array
}

const keyCache = new Map<KeySpec, { publicKey: KeyObject; privateKey: KeyObject }>()

/** Slow kinds are generated once per test process; every other certificate gets its own key. */
const SLOW_KEYS: KeySpec[] = ['rsa-3072', 'rsa-4096', 'dsa']

function keyPair(spec: KeySpec) {
  const fresh = !SLOW_KEYS.includes(spec)
  const cached = keyCache.get(spec)
  if (cached && !fresh) return cached
  const [kind, size] = spec.split('-') as [string, string]
  const pair =
    kind === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: Number(size) })
      : kind === 'ec'
        ? generateKeyPairSync('ec', {
            namedCurve: { p256: 'prime256v1', p384: 'secp384r1', p521: 'secp521r1', secp256k1: 'secp256k1' }[size]!,
          })
        : kind === 'dsa'
          ? generateKeyPairSync('dsa', { modulusLength: 2048, divisorLength: 256 })
          : generateKeyPairSync('ed25519')
  if (!fresh) keyCache.set(spec, pair)
  return pair
}

let ca: Promise<{ key: webcrypto.CryptoKey; name: pkijs.RelativeDistinguishedNames }> | undefined
function testCa() {
  ca ??= (async () => {
    const { privateKey } = keyPair('rsa-2048')
    const key = await webcrypto.subtle.importKey(
      'pkcs8',
      privateKey.export({ type: 'pkcs8', format: 'der' }),
      { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      false,
      ['sign'],
    )
    return { key, name: distinguishedName('cms-encryptor Test CA') }
  })()
  return ca
}

function distinguishedName(cn: string) {
  return new pkijs.RelativeDistinguishedNames({
    typesAndValues: [new pkijs.AttributeTypeAndValue({ type: '2.5.4.3', value: new asn1js.Utf8String({ value: cn }) })],
  })
}

const KEY_USAGE_BITS = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
]

function keyUsageExtension(names: string[]) {
  const bits = names.map((n) => KEY_USAGE_BITS.indexOf(n))
  const highest = Math.max(...bits, 0)
  const bytes = new Uint8Array(Math.floor(highest / 8) + 1)
  for (const b of bits) bytes[b >> 3]! |= 0x80 >> (b & 7)
  const unusedBits = bits.length ? 7 - (highest % 8) : 0
  return new pkijs.Extension({
    extnID: '2.5.29.15',
    critical: true,
    extnValue: new asn1js.BitString({ valueHex: bytes, unusedBits }).toBER(false),
  })
}

const DAY = 86_400_000
let serial = 1

/** Issues a certificate for `name`; the default is a valid RSA-2048 receiver with keyEncipherment and an SKI. */
export async function issueCertificate(name: string, options: CertificateOptions = {}): Promise<TestCertificate> {
  const spec = options.key ?? 'rsa-2048'
  const { publicKey, privateKey } = keyPair(spec)
  const authority = await testCa()
  const spki = publicKey.export({ type: 'spki', format: 'der' })
  const cert = new pkijs.Certificate()
  cert.version = 2
  const serialBytes = randomBytes(12)
  serialBytes[0] = (serialBytes[0]! & 0x7f) | 0x01
  serialBytes.writeUInt32BE(serial++, 8)
  cert.serialNumber = new asn1js.Integer({ valueHex: serialBytes })
  cert.issuer = authority.name
  cert.subject = distinguishedName(name)
  cert.notBefore.value = options.notBefore ?? new Date(Date.now() - DAY)
  cert.notAfter.value = options.notAfter ?? new Date(Date.now() + 365 * DAY)
  cert.subjectPublicKeyInfo = pkijs.PublicKeyInfo.fromBER(spki)
  const extensions: pkijs.Extension[] = []
  if (options.subjectKeyIdentifier !== false) {
    const ski = createHash('sha1').update(cert.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView).digest()
    extensions.push(
      new pkijs.Extension({ extnID: '2.5.29.14', extnValue: new asn1js.OctetString({ valueHex: ski }).toBER(false) }),
    )
  }
  const usage =
    options.keyUsage === undefined ? (spec.startsWith('ec') ? ['keyAgreement'] : ['keyEncipherment']) : options.keyUsage
  if (usage) extensions.push(keyUsageExtension(usage))
  for (const raw of options.rawExtensions ?? []) {
    extensions.push(
      new pkijs.Extension({
        extnID: raw.extnID,
        critical: raw.critical ?? false,
        extnValue: Uint8Array.from(raw.value).buffer,
      }),
    )
  }
  if (extensions.length) cert.extensions = extensions
  await cert.sign(authority.key, 'SHA-256', engine)

  const der = Buffer.from(cert.toSchema().toBER(false))
  const pem = `-----BEGIN CERTIFICATE-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END CERTIFICATE-----\n`
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
  const file = `${name}-${serial}`
  const certPath = join(dir, `${file}.crt`)
  const keyPath = join(dir, `${file}.key.pem`)
  writeFileSync(certPath, pem)
  writeFileSync(keyPath, keyPem, { mode: 0o600 })
  return { name, der, pem, certPath, keyPath, keyPem }
}

export const testPkiDir = dir
