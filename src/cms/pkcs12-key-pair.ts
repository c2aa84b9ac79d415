import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto'
import * as asn1js from 'asn1js'
import { Certificate } from 'pkijs'
import { Errors } from '../errors.js'
import type { KeyPairCandidate } from './key-pair.js'
import { readPkcs12, type Pkcs12Contents } from './pkcs12.js'

/**
 * The key pair of a PKCS#12 file: its one private key (or the one whose friendlyName is `alias`), the
 * certificate of that key, and the path from that certificate up through its issuers among the others.
 * Certificates off that path (other keys', unrelated CAs) are left out. Checks come after, as for PEM.
 */
export function readPkcs12KeyPair(der: Buffer, password: string, alias?: string): KeyPairCandidate {
  const contents = readPkcs12(der, password)
  const key = chooseKey(contents.keys, alias)
  const certificates = contents.certificates.flatMap((c) => {
    const parsed = readCertificate(c.der)
    return parsed ? [{ ...c, ...parsed }] : [] // one that does not parse is no one's issuer or signer
  })
  if (certificates.length === 0) {
    throw new Errors.KEY_PAIR_MALFORMED("the PKCS#12 file holds no certificate; export it with the key's certificate")
  }
  const spki = spkiOf(key.privateKey)
  const sameId = (c: { localKeyId?: Buffer }) => !!key.localKeyId && !!c.localKeyId?.equals(key.localKeyId)
  const ofKey = certificates.filter((c) => c.spki.equals(spki))
  // No certificate of this key: the one tied to it by localKeyId (or the first), so the checks name it in the mismatch.
  const signer = ofKey.find(sameId) ?? ofKey[0] ?? certificates.find(sameId) ?? certificates[0]!
  return { privateKey: key.privateKey, certificates: pathUpFrom(signer, certificates).map((c) => c.der) }
}

function chooseKey(keys: Pkcs12Contents['keys'], alias: string | undefined) {
  if (keys.length === 1) return keys[0]!
  if (keys.length === 0) {
    throw new Errors.PKCS12_KEY_COUNT(
      'The PKCS#12 file holds no private key; export it with the signing key and its certificate.',
    )
  }
  const named = alias === undefined ? [] : keys.filter((k) => k.friendlyName === alias)
  if (named.length === 1) return named[0]!
  throw new Errors.PKCS12_KEY_COUNT(
    `The PKCS#12 file holds ${keys.length} private keys, and ${named.length ? named.length : 'none'} of them ` +
      'has a friendlyName equal to the alias; give the one to import that friendlyName (openssl pkcs12 -export ' +
      '-name <alias>), or export that key alone.',
  )
}

interface FileCertificate {
  der: Buffer
  spki: Buffer
  subject: Buffer
  issuer: Buffer
  x509: X509Certificate
}

function readCertificate(der: Buffer): Omit<FileCertificate, 'der'> | undefined {
  try {
    const cert = new Certificate({ schema: asn1js.fromBER(der).result })
    const x509 = new X509Certificate(der)
    return {
      spki: spkiOf(x509.publicKey),
      subject: Buffer.from(cert.subject.valueBeforeDecode),
      issuer: Buffer.from(cert.issuer.valueBeforeDecode),
      x509,
    }
  } catch {
    return undefined
  }
}

/**
 * From the signer up: each next certificate is one whose subject is the current issuer (the one whose
 * key verifies the current signature, if several), until a self-issued certificate or no issuer.
 */
function pathUpFrom(signer: FileCertificate, all: FileCertificate[]): FileCertificate[] {
  const path = [signer]
  const unused = new Set(all.filter((c) => c !== signer))
  for (let current = signer; !current.issuer.equals(current.subject);) {
    const issuers = [...unused].filter((c) => c.subject.equals(current.issuer))
    const issuer = issuers.find((c) => verifies(current.x509, c.x509)) ?? issuers[0]
    if (!issuer) break
    path.push(issuer)
    unused.delete(issuer)
    current = issuer
  }
  return path
}

function verifies(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.verify(issuer.publicKey)
  } catch {
    return false
  }
}

function spkiOf(key: KeyObject): Buffer {
  return (key.type === 'private' ? createPublicKey(key) : key).export({ type: 'spki', format: 'der' })
}
