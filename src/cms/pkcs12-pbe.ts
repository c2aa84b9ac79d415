import { createDecipheriv, createHash, createHmac, pbkdf2Sync, timingSafeEqual } from 'node:crypto'
import * as asn1js from 'asn1js'
import { PBES2Params, PBKDF2Params, type AlgorithmIdentifier, type MacData } from 'pkijs'
import { Errors } from '../errors.js'

/**
 * The password-based cryptography of PKCS#12 files: the PKCS#12 key derivation (RFC 7292 Appendix B),
 * the MAC it keys (RFC 7292 section 5), the PKCS#12 PBE schemes (Appendix C) and PBES2 (RFC 8018 6.2).
 */

/** The password in the two encodings PKCS#12 files use; zero both with `wipePassword` when done. */
export interface Pkcs12Password {
  /** BMPString with its terminating zero pair (RFC 7292 B.1), for the PKCS#12 KDF. */
  bmp: Buffer
  /** UTF-8, for PBES2: what OpenSSL feeds PBKDF2. */
  utf8: Buffer
}

export function encodePassword(password: string): Pkcs12Password {
  const bmp = Buffer.alloc(password.length * 2 + 2)
  for (let i = 0; i < password.length; i++) bmp.writeUInt16BE(password.charCodeAt(i), i * 2)
  return { bmp, utf8: Buffer.from(password, 'utf8') }
}

export function wipePassword(password: Pkcs12Password): void {
  password.bmp.fill(0)
  password.utf8.fill(0)
}

/**
 * A bound on iteration counts, so an upload cannot hold the event loop for minutes; far above what
 * exporters use (OpenSSL 2048, Windows 2000, Java keytool 10000).
 */
export const MAX_ITERATIONS = 1_000_000

/** Digests of the PKCS#12 KDF: output size u and block size v, in bytes (RFC 7292 B.2). */
const KDF_HASHES: Record<string, { name: string; u: number; v: number }> = {
  '1.3.14.3.2.26': { name: 'sha1', u: 20, v: 64 },
  '2.16.840.1.101.3.4.2.4': { name: 'sha224', u: 28, v: 64 },
  '2.16.840.1.101.3.4.2.1': { name: 'sha256', u: 32, v: 64 },
  '2.16.840.1.101.3.4.2.2': { name: 'sha384', u: 48, v: 128 },
  '2.16.840.1.101.3.4.2.3': { name: 'sha512', u: 64, v: 128 },
}

/** Purposes of derived material (RFC 7292 B.3): ID 1 a key, 2 an IV, 3 a MAC key. */
export type KdfPurpose = 1 | 2 | 3

/** The PKCS#12 key derivation (RFC 7292 B.2), with the BMPString password. */
export function pkcs12Kdf(
  hash: 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512',
  password: Buffer,
  salt: Buffer,
  iterations: number,
  id: KdfPurpose,
  length: number,
): Buffer {
  const { u, v } = Object.values(KDF_HASHES).find((h) => h.name === hash)!
  // S and P: salt and password repeated to a whole number of v-byte blocks (an empty one stays empty).
  const repeated = (source: Buffer, to: number) => {
    const out = Buffer.alloc(to)
    for (let i = 0; i < to; i++) out[i] = source[i % source.length]!
    return out
  }
  const blocksOf = (source: Buffer) => v * Math.ceil(source.length / v)
  const diversifier = Buffer.alloc(v, id)
  const input = Buffer.concat([repeated(salt, blocksOf(salt)), repeated(password, blocksOf(password))])
  const rounds = Math.ceil(length / u)
  const out = Buffer.alloc(rounds * u)
  for (let round = 0; round < rounds; round++) {
    let a = createHash(hash).update(diversifier).update(input).digest()
    for (let i = 1; i < iterations; i++) a = createHash(hash).update(a).digest()
    a.copy(out, round * u)
    if (round + 1 === rounds) break
    // I_j = (I_j + B + 1) mod 2^(8v) for each v-byte block of I, B being A repeated to v bytes.
    const b = repeated(a, v)
    for (let j = 0; j < input.length; j += v) {
      let carry = 1
      for (let k = v - 1; k >= 0; k--) {
        const sum = input[j + k]! + b[k]! + carry
        input[j + k] = sum & 0xff
        carry = sum >> 8
      }
    }
  }
  input.fill(0) // it holds the password
  return out.subarray(0, length)
}

/**
 * Whether the MAC of `content` checks with `password` (RFC 7292 section 5, HMAC keyed by the KDF with ID 3).
 * `iterations` is read from the DER by the caller: PKI.js reads an INTEGER of four bytes or more as 0.
 */
export function macMatches(mac: { macData: MacData; iterations: bigint }, content: Buffer, password: Buffer): boolean {
  const { macData } = mac
  const oid = macData.mac.digestAlgorithm.algorithmId
  const hash = KDF_HASHES[oid]
  if (!hash) {
    const name = oid === '1.2.840.113549.1.5.14' ? 'PBMAC1' : oid === '1.2.840.113549.2.5' ? 'MD5' : oid
    throw new Errors.PKCS12_UNSUPPORTED(
      `The PKCS#12 integrity check uses ${name}, which is not supported here (SHA-1, SHA-224, SHA-256, SHA-384 ` +
        `and SHA-512 are). ${REEXPORT}`,
    )
  }
  const iterations = iterationCount(mac.iterations, 'the integrity check')
  const key = pkcs12Kdf(hash.name as 'sha1', password, octets(macData.macSalt), iterations, 3, hash.u)
  const computed = createHmac(hash.name, key).update(content).digest()
  key.fill(0)
  const expected = octets(macData.mac.digest)
  return expected.length === computed.length && timingSafeEqual(expected, computed)
}

/** How to turn a file we refuse into one we read, with OpenSSL 3 defaults (AES-256-CBC, PBKDF2, SHA-256 MAC). */
export const REEXPORT =
  'Re-export it with OpenSSL 3 defaults (AES-256-CBC, PBKDF2, SHA-256 MAC): ' +
  '`openssl pkcs12 -legacy -in old.p12 -nodes -out pair.pem`, then `openssl pkcs12 -export -in pair.pem -out new.p12`.'

/** A decryption that failed: a wrong password, unless the MAC proved the password right. */
export class DecryptionFailed extends Error {}

/** PKCS#12 PBE schemes (RFC 7292 Appendix C) that OpenSSL 3 reads without its legacy provider. */
const PKCS12_PBE: Record<string, { cipher: string; keyLength: number }> = {
  '1.2.840.113549.1.12.1.3': { cipher: 'des-ede3-cbc', keyLength: 24 },
  '1.2.840.113549.1.12.1.4': { cipher: 'des-ede-cbc', keyLength: 16 },
}

/** Ciphers refused by name: those OpenSSL 3 reads only with its legacy provider. */
const LEGACY: Record<string, string> = {
  '1.2.840.113549.1.12.1.1': 'pbeWithSHAAnd128BitRC4',
  '1.2.840.113549.1.12.1.2': 'pbeWithSHAAnd40BitRC4',
  '1.2.840.113549.1.12.1.5': 'pbeWithSHAAnd128BitRC2-CBC',
  '1.2.840.113549.1.12.1.6': 'pbewithSHAAnd40BitRC2-CBC',
  '1.2.840.113549.1.5.1': 'pbeWithMD2AndDES-CBC',
  '1.2.840.113549.1.5.3': 'pbeWithMD5AndDES-CBC',
  '1.2.840.113549.1.5.4': 'pbeWithMD2AndRC2-CBC',
  '1.2.840.113549.1.5.6': 'pbeWithMD5AndRC2-CBC',
  '1.2.840.113549.1.5.10': 'pbeWithSHA1AndDES-CBC',
  '1.2.840.113549.1.5.11': 'pbeWithSHA1AndRC2-CBC',
  '1.3.14.3.2.7': 'DES-CBC',
  '1.2.840.113549.3.2': 'RC2-CBC',
}

const PBES2 = '1.2.840.113549.1.5.13'
const PBKDF2 = '1.2.840.113549.1.5.12'

/** PBKDF2 pseudo-random functions (RFC 8018 B.1.1, B.1.2). */
const PRFS: Record<string, string> = {
  '1.2.840.113549.2.7': 'sha1',
  '1.2.840.113549.2.8': 'sha224',
  '1.2.840.113549.2.9': 'sha256',
  '1.2.840.113549.2.10': 'sha384',
  '1.2.840.113549.2.11': 'sha512',
}

/** PBES2 encryption schemes (RFC 8018 B.2, RFC 3565 4.1): the IV is the parameter. */
const PBES2_CIPHERS: Record<string, { cipher: string; keyLength: number; ivLength: number }> = {
  '2.16.840.1.101.3.4.1.2': { cipher: 'aes-128-cbc', keyLength: 16, ivLength: 16 },
  '2.16.840.1.101.3.4.1.22': { cipher: 'aes-192-cbc', keyLength: 24, ivLength: 16 },
  '2.16.840.1.101.3.4.1.42': { cipher: 'aes-256-cbc', keyLength: 32, ivLength: 16 },
  '1.2.840.113549.3.7': { cipher: 'des-ede3-cbc', keyLength: 24, ivLength: 8 },
}

/**
 * Decrypts what a PKCS#12 file encrypted with a password (a shrouded key bag or an EncryptedData).
 * Throws PKCS12_UNSUPPORTED for a scheme not read here, KEY_PAIR_MALFORMED for parameters that are not
 * what the scheme defines, and DecryptionFailed when the cipher refuses the result (its padding).
 */
export function decryptWithPassword(
  algorithm: AlgorithmIdentifier,
  encrypted: Buffer,
  password: Pkcs12Password,
  what: string,
): Buffer {
  const oid = algorithm.algorithmId
  const pbe = PKCS12_PBE[oid]
  if (pbe) {
    // pkcs-12PbeParams ::= SEQUENCE { salt OCTET STRING, iterations INTEGER }
    const params = algorithm.algorithmParams as asn1js.BaseBlock | undefined
    const [salt, iterations] = params instanceof asn1js.Sequence ? params.valueBlock.value : []
    if (!(salt instanceof asn1js.OctetString) || !(iterations instanceof asn1js.Integer)) {
      throw new Errors.KEY_PAIR_MALFORMED(`the PKCS#12 PBE parameters of ${what} are not a salt and an iteration count`)
    }
    const count = iterationCount(iterations.toBigInt(), what)
    const key = pkcs12Kdf('sha1', password.bmp, octets(salt), count, 1, pbe.keyLength)
    const iv = pkcs12Kdf('sha1', password.bmp, octets(salt), count, 2, 8)
    return decipher(pbe.cipher, key, iv, encrypted)
  }
  if (oid === PBES2) return decryptPbes2(algorithm, encrypted, password.utf8, what)
  throw unsupported(oid, what)
}

function decryptPbes2(algorithm: AlgorithmIdentifier, encrypted: Buffer, password: Buffer, what: string): Buffer {
  let params: PBES2Params
  try {
    params = new PBES2Params({ schema: algorithm.algorithmParams })
  } catch {
    throw new Errors.KEY_PAIR_MALFORMED(`the PBES2 parameters of ${what} cannot be read`)
  }
  if (params.keyDerivationFunc.algorithmId !== PBKDF2) {
    const kdf = params.keyDerivationFunc.algorithmId === '1.3.6.1.4.1.11591.4.11' ? 'scrypt' : 'this'
    throw new Errors.PKCS12_UNSUPPORTED(
      `${what} derives its key with ${kdf} key derivation (${params.keyDerivationFunc.algorithmId}), ` +
        `which is not supported here; PBKDF2 is. ${REEXPORT}`,
    )
  }
  const scheme = PBES2_CIPHERS[params.encryptionScheme.algorithmId]
  if (!scheme) throw unsupported(params.encryptionScheme.algorithmId, what)
  let kdf: PBKDF2Params
  try {
    kdf = new PBKDF2Params({ schema: params.keyDerivationFunc.algorithmParams })
  } catch {
    throw new Errors.KEY_PAIR_MALFORMED(`the PBKDF2 parameters of ${what} cannot be read`)
  }
  if (!(kdf.salt instanceof asn1js.OctetString)) {
    throw new Errors.PKCS12_UNSUPPORTED(`${what} takes its PBKDF2 salt from another source, which is not supported.`)
  }
  const prfOid = kdf.prf?.algorithmId ?? '1.2.840.113549.2.7' // hmacWithSHA1 is the DEFAULT (RFC 8018 A.2)
  const prf = PRFS[prfOid]
  if (!prf) throw unsupported(prfOid, what)
  if (kdf.keyLength !== undefined && kdf.keyLength !== scheme.keyLength) {
    throw new Errors.KEY_PAIR_MALFORMED(`the PBKDF2 key length of ${what} does not fit ${scheme.cipher}`)
  }
  const iv: unknown = params.encryptionScheme.algorithmParams
  if (!(iv instanceof asn1js.OctetString) || iv.valueBlock.valueHexView.length !== scheme.ivLength) {
    throw new Errors.KEY_PAIR_MALFORMED(`the IV of ${what} is not ${scheme.ivLength} bytes`)
  }
  // PKI.js reads INTEGERs of four bytes or more as 0: the count from the parameters' own element.
  const countElement = (params.keyDerivationFunc.algorithmParams as asn1js.Sequence).valueBlock.value[1]
  if (!(countElement instanceof asn1js.Integer)) {
    throw new Errors.KEY_PAIR_MALFORMED(`the PBKDF2 parameters of ${what} cannot be read`)
  }
  const count = iterationCount(countElement.toBigInt(), what)
  const key = pbkdf2Sync(password, octets(kdf.salt), count, scheme.keyLength, prf)
  return decipher(scheme.cipher, key, octets(iv), encrypted)
}

function decipher(cipher: string, key: Buffer, iv: Buffer, encrypted: Buffer): Buffer {
  try {
    const d = createDecipheriv(cipher, key, iv)
    return Buffer.concat([d.update(encrypted), d.final()])
  } catch {
    throw new DecryptionFailed()
  } finally {
    key.fill(0)
  }
}

function unsupported(oid: string, what: string) {
  const name = LEGACY[oid]
  return new Errors.PKCS12_UNSUPPORTED(
    name
      ? `${what} is encrypted with ${name} (${oid}), a legacy cipher that is not supported here. ${REEXPORT}`
      : `${what} is encrypted with an algorithm not supported here (${oid}). ${REEXPORT}`,
  )
}

function iterationCount(count: bigint, what: string): number {
  if (count < 1n) {
    throw new Errors.KEY_PAIR_MALFORMED(`the iteration count of ${what} is not a positive integer`)
  }
  if (count > BigInt(MAX_ITERATIONS)) {
    throw new Errors.PKCS12_UNSUPPORTED(
      `${what} uses ${count} iterations; at most ${MAX_ITERATIONS} are accepted. ${REEXPORT}`,
    )
  }
  return Number(count)
}

/** The bytes of an OCTET STRING, primitive or constructed (BER, as some exporters write). */
export function octets(value: asn1js.OctetString): Buffer {
  return Buffer.from(value.getValue())
}
