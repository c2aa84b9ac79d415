import { createPrivateKey, type KeyObject } from 'node:crypto'
import * as asn1js from 'asn1js'
import {
  AuthenticatedSafe,
  CertBag,
  EncryptedData,
  PFX,
  PKCS8ShroudedKeyBag,
  PrivateKeyInfo,
  SafeContents,
  type Attribute,
  type ContentInfo,
  type SafeBag,
} from 'pkijs'
import { Errors } from '../errors.js'
import {
  DecryptionFailed,
  decryptWithPassword,
  encodePassword,
  macMatches,
  octets,
  REEXPORT,
  wipePassword,
  type Pkcs12Password,
} from './pkcs12-pbe.js'

/** What a PKCS#12 file holds that a key pair is made of, with the attributes that tie them (RFC 7292 4.2). */
export interface Pkcs12Contents {
  keys: Array<Pkcs12BagAttributes & { privateKey: KeyObject }>
  /** DER X.509 certificates, in the file's order. */
  certificates: Array<Pkcs12BagAttributes & { der: Buffer }>
}

export interface Pkcs12BagAttributes {
  friendlyName?: string
  localKeyId?: Buffer
}

const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  envelopedData: '1.2.840.113549.1.7.3',
  encryptedData: '1.2.840.113549.1.7.6',
  keyBag: '1.2.840.113549.1.12.10.1.1',
  pkcs8ShroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  safeContentsBag: '1.2.840.113549.1.12.10.1.6',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
} as const

/** Nesting of safeContentsBags we follow; exporters write none. */
const MAX_DEPTH = 4

/**
 * Reads a PFX (RFC 7292) in password integrity and privacy modes. The MAC, when there is one, is
 * checked before anything is decrypted: it is what tells a wrong password from a damaged file. Without
 * it, any decryption whose result does not read is taken for a wrong password.
 */
export function readPkcs12(der: Buffer, passwordText: string): Pkcs12Contents {
  const { pfx, macIterations } = parsePfx(der)
  const authSafe = contentOctets(pfx.authSafe, 'the authenticated safe')
  const candidates = passwordText === '' ? emptyPasswords() : [encodePassword(passwordText)]
  try {
    let password = candidates[0]!
    if (pfx.macData) {
      const mac = { macData: pfx.macData, iterations: macIterations }
      const matching = candidates.find((p) => macMatches(mac, authSafe, p.bmp))
      if (!matching) throw new Errors.PKCS12_PASSWORD_INCORRECT()
      password = matching
    }
    const reader = new BagReader(password, pfx.macData !== undefined)
    for (const info of parseOrMalformed(() => AuthenticatedSafe.fromBER(authSafe), 'the authenticated safe')
      .safeContents) {
      reader.readSafeContents(info)
    }
    return reader.contents
  } finally {
    candidates.forEach(wipePassword)
  }
}

/**
 * An empty password has two encodings: OpenSSL writes the BMPString of "" (two zero bytes) and reads,
 * failing that, no bytes at all, as other exporters write it; RFC 7292 B.1 leaves it open.
 */
function emptyPasswords(): Pkcs12Password[] {
  return [encodePassword(''), { bmp: Buffer.alloc(0), utf8: Buffer.alloc(0) }]
}

function parsePfx(der: Buffer): { pfx: PFX; macIterations: bigint } {
  let asn1: ReturnType<typeof asn1js.fromBER>
  try {
    asn1 = asn1js.fromBER(der)
  } catch {
    throw new Errors.KEY_PAIR_MALFORMED('pkcs12 is not a PKCS#12 file (not valid BER)')
  }
  if (asn1.offset === -1) throw new Errors.KEY_PAIR_MALFORMED('pkcs12 is not a PKCS#12 file (not valid BER)')
  if (asn1.offset !== der.length) throw new Errors.KEY_PAIR_MALFORMED('pkcs12 has bytes after the PKCS#12 file')
  const pfx = parseOrMalformed(() => new PFX({ schema: asn1.result }), 'pkcs12 (a PFX)')
  if (pfx.version !== 3) throw new Errors.PKCS12_UNSUPPORTED(`The PKCS#12 file is version ${pfx.version}, not 3.`)
  if (pfx.authSafe.contentType === OID.signedData) {
    throw new Errors.PKCS12_UNSUPPORTED(
      'The PKCS#12 file uses public-key integrity mode (a signature, no password MAC), which is not supported. ' +
        REEXPORT,
    )
  }
  // MacData ::= SEQUENCE { mac DigestInfo, macSalt OCTET STRING, iterations INTEGER DEFAULT 1 }, read here
  // because PKI.js reads an INTEGER of four bytes or more as 0.
  const macData = (asn1.result as asn1js.Sequence).valueBlock.value[2]
  const iterations = macData instanceof asn1js.Sequence ? macData.valueBlock.value[2] : undefined
  return { pfx, macIterations: iterations instanceof asn1js.Integer ? iterations.toBigInt() : 1n }
}

class BagReader {
  readonly contents: Pkcs12Contents = { keys: [], certificates: [] }
  constructor(
    private readonly password: Pkcs12Password,
    /** The MAC proved the password: a decryption that fails now is a damaged file, not a wrong password. */
    private readonly passwordVerified: boolean,
  ) {}

  readSafeContents(info: ContentInfo): void {
    if (info.contentType === OID.data) {
      const bytes = contentOctets(info, 'a SafeContents')
      this.readBags(
        parseOrMalformed(() => SafeContents.fromBER(bytes), 'a SafeContents'),
        0,
      )
    } else if (info.contentType === OID.encryptedData) {
      const plain = this.decrypted(() => {
        const eci = new EncryptedData({ schema: info.content }).encryptedContentInfo
        return { algorithm: eci.contentEncryptionAlgorithm, encrypted: Buffer.from(eci.getEncryptedContent()) }
      }, 'the encrypted certificates')
      this.readBags(
        this.readDecrypted(() => SafeContents.fromBER(plain), 'the encrypted certificates'),
        0,
      )
    } else if (info.contentType === OID.envelopedData) {
      throw new Errors.PKCS12_UNSUPPORTED(
        'The PKCS#12 file uses public-key privacy mode (contents encrypted to a certificate), which is not ' +
          `supported. ${REEXPORT}`,
      )
    } else {
      throw new Errors.KEY_PAIR_MALFORMED(`the PKCS#12 file holds contents of type ${info.contentType}`)
    }
  }

  private readBags(safeContents: SafeContents, depth: number): void {
    for (const bag of safeContents.safeBags) {
      const attributes = bagAttributes(bag)
      if (bag.bagId === OID.keyBag) {
        const der = Buffer.from((bag.bagValue as PrivateKeyInfo).toSchema().toBER(false))
        this.addKey(der, attributes, false)
      } else if (bag.bagId === OID.pkcs8ShroudedKeyBag) {
        const shrouded = bag.bagValue as PKCS8ShroudedKeyBag
        const der = this.decrypted(
          () => ({ algorithm: shrouded.encryptionAlgorithm, encrypted: octets(shrouded.encryptedData) }),
          'the private key',
        )
        this.addKey(der, attributes, true)
      } else if (bag.bagId === OID.certBag) {
        const cert = bag.bagValue as CertBag
        if (cert.certId !== OID.x509Certificate || !(cert.certValue instanceof asn1js.OctetString)) continue
        this.contents.certificates.push({ der: octets(cert.certValue), ...attributes })
      } else if (bag.bagId === OID.safeContentsBag && depth < MAX_DEPTH) {
        this.readBags(bag.bagValue as SafeContents, depth + 1)
      }
      // CRLs and secrets are not part of a key pair
    }
  }

  private addKey(der: Buffer, attributes: Pkcs12BagAttributes, wasEncrypted: boolean): void {
    const read = () => createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
    try {
      const privateKey = wasEncrypted ? this.readDecrypted(read, 'the private key') : read()
      this.contents.keys.push({ privateKey, ...attributes })
    } catch (err) {
      if (wasEncrypted) throw err
      throw new Errors.KEY_PAIR_MALFORMED('a private key of the PKCS#12 file is not a PKCS#8 key Node can read')
    } finally {
      der.fill(0) // the key's bytes live on only inside the KeyObject
    }
  }

  /** Decrypts what `locate` finds; a failure is a wrong password unless the MAC said otherwise. */
  private decrypted(
    locate: () => { algorithm: PKCS8ShroudedKeyBag['encryptionAlgorithm']; encrypted: Buffer },
    what: string,
  ) {
    const { algorithm, encrypted } = parseOrMalformed(locate, what)
    try {
      return decryptWithPassword(algorithm, encrypted, this.password, what)
    } catch (err) {
      if (!(err instanceof DecryptionFailed)) throw err
      if (!this.passwordVerified) throw new Errors.PKCS12_PASSWORD_INCORRECT()
      throw new Errors.KEY_PAIR_MALFORMED(`${what} does not decrypt with the password its MAC accepts`)
    }
  }

  /** Reads a decrypted structure: garbage after a wrong password without MAC is the password's fault. */
  private readDecrypted<T>(read: () => T, what: string): T {
    try {
      return read()
    } catch {
      if (!this.passwordVerified) throw new Errors.PKCS12_PASSWORD_INCORRECT()
      throw new Errors.KEY_PAIR_MALFORMED(`${what} cannot be read once decrypted`)
    }
  }
}

function bagAttributes(bag: SafeBag): Pkcs12BagAttributes {
  const out: Pkcs12BagAttributes = {}
  const first = (attribute: Attribute | undefined): unknown => attribute?.values[0]
  const attributes = bag.bagAttributes ?? []
  const name = first(attributes.find((a) => a.type === OID.friendlyName))
  if (name instanceof asn1js.BmpString) out.friendlyName = name.valueBlock.value
  const id = first(attributes.find((a) => a.type === OID.localKeyId))
  if (id instanceof asn1js.OctetString) out.localKeyId = octets(id)
  return out
}

/** The bytes of a ContentInfo of type data (RFC 5652 4): an OCTET STRING, maybe in BER pieces. */
function contentOctets(info: ContentInfo, what: string): Buffer {
  if (info.contentType !== OID.data || !(info.content instanceof asn1js.OctetString)) {
    throw new Errors.KEY_PAIR_MALFORMED(`${what} is not data (an OCTET STRING)`)
  }
  return octets(info.content)
}

function parseOrMalformed<T>(parse: () => T, what: string): T {
  try {
    return parse()
  } catch (err) {
    if (err instanceof Error && 'code' in err && typeof err.code === 'string' && err.code.startsWith('CMS_')) throw err
    throw new Errors.KEY_PAIR_MALFORMED(`${what} cannot be read`)
  }
}
