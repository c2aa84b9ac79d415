import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * What a leaked private key looks like, for scanning a store or a log for it: the key's encodings
 * (PEM, DER, its raw secret numbers), each in the forms bytes take when a program writes them down
 * (as they are, hex, base64 at any byte offset, JSON-escaped text). A needle is searched as bytes in
 * a haystack of bytes; nothing is decoded, so a scan finds what is there, wherever in a file it is.
 */
export interface Needle {
  /** What it is, to name in a finding: "sig-ec PKCS#8 PEM line 2 (text)". */
  name: string
  bytes: Buffer
}

const hex = (b: Buffer) => [b.toString('hex'), b.toString('hex').toUpperCase()]

/**
 * The base64 text of `b` wherever it sits in a longer run of bytes: for each of the three offsets
 * modulo 3, the characters that depend on `b`'s bytes alone (the first and last characters of a
 * base64 run also take bits of the bytes around it).
 */
function base64Anywhere(b: Buffer, alphabet: 'base64' | 'base64url'): string[] {
  return [0, 1, 2].map((shift) => {
    const total = shift + b.length
    const text = Buffer.concat([Buffer.alloc(shift), b])
      .toString(alphabet)
      .replace(/=+$/, '')
    const head = [0, 2, 3][shift]!
    const tail = total % 3 === 0 ? 0 : 1
    return text.slice(head, text.length - tail)
  })
}

/** A binary secret in every form it is searched in. */
function binaryForms(name: string, b: Buffer): Needle[] {
  return [
    { name: `${name} (bytes)`, bytes: b },
    ...hex(b).map((h, i) => ({ name: `${name} (hex${i ? ', upper case' : ''})`, bytes: Buffer.from(h) })),
    ...(['base64', 'base64url'] as const).flatMap((alphabet) =>
      base64Anywhere(b, alphabet).map((text, shift) => ({
        name: `${name} (${alphabet}, offset ${shift} mod 3)`,
        bytes: Buffer.from(text),
      })),
    ),
  ]
}

/** A PEM in every form it is searched in: whole, JSON-escaped, and each body line that is secret. */
function pemForms(name: string, pem: string, isPublic: (der: Buffer) => boolean): Needle[] {
  const lines = pem.split(/\r?\n/).filter((line) => line && !line.startsWith('-----'))
  return [
    { name: `${name} (whole PEM)`, bytes: Buffer.from(pem) },
    { name: `${name} (whole PEM, JSON-escaped)`, bytes: Buffer.from(JSON.stringify(pem).slice(1, -1)) },
    { name: `${name} (whole PEM, CRLF)`, bytes: Buffer.from(pem.replace(/\r?\n/g, '\r\n')) },
    ...lines.flatMap((line, i) =>
      // A line whose bytes are public (the RSA modulus, the EC public point: both also in the
      // certificate) is no secret: the store holds it in the certificate anyway.
      isPublic(Buffer.from(line, 'base64')) ? [] : [{ name: `${name} line ${i + 1}`, bytes: Buffer.from(line) }],
    ),
  ]
}

/**
 * Every needle of one private key, its public parts (`certificatePem`'s DER, the key's SPKI) taken
 * out: a PEM line that only encodes bytes of the certificate is no finding.
 */
export function keyNeedles(label: string, key: KeyObject, certificatePem: string): Needle[] {
  const certificate = new X509Certificate(certificatePem).raw
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' })
  const isPublic = (der: Buffer) => certificate.includes(der) || spki.includes(der)
  const der = (type: 'pkcs8' | 'pkcs1' | 'sec1') => key.export({ type, format: 'der' })
  const pem = (type: 'pkcs8' | 'pkcs1' | 'sec1') => key.export({ type, format: 'pem' }) as string
  const jwk = key.export({ format: 'jwk' })
  const number = (field: string | undefined) => Buffer.from(field!, 'base64url')
  const needles = [
    ...pemForms(`${label} PKCS#8`, pem('pkcs8'), isPublic),
    ...binaryForms(`${label} PKCS#8 DER`, der('pkcs8')),
  ]
  if (key.asymmetricKeyType === 'rsa') {
    needles.push(
      ...pemForms(`${label} PKCS#1`, pem('pkcs1'), isPublic),
      ...binaryForms(`${label} PKCS#1 DER`, der('pkcs1')),
      ...binaryForms(`${label} private exponent d`, number(jwk.d)),
      ...binaryForms(`${label} prime p`, number(jwk.p)),
      ...binaryForms(`${label} prime q`, number(jwk.q)),
    )
  } else if (key.asymmetricKeyType === 'ec') {
    needles.push(
      ...pemForms(`${label} SEC1`, pem('sec1'), isPublic),
      ...binaryForms(`${label} SEC1 DER`, der('sec1')),
      ...binaryForms(`${label} private scalar d`, number(jwk.d)),
    )
  } else {
    throw new Error(`no needles for a ${key.asymmetricKeyType} key`)
  }
  return needles
}

/** A secret string (a password): as it is, and JSON-escaped. */
export function textNeedles(label: string, text: string): Needle[] {
  const escaped = JSON.stringify(text).slice(1, -1)
  return [
    { name: `${label} (text)`, bytes: Buffer.from(text) },
    ...(escaped !== text ? [{ name: `${label} (JSON-escaped)`, bytes: Buffer.from(escaped) }] : []),
  ]
}

/** What was scanned: a name (a file, "pg_dump --format=plain", "log") and its bytes. */
export interface Haystack {
  name: string
  bytes: Buffer
}

/** Each needle found, as "needle in haystack". */
export function scan(haystacks: Haystack[], needles: Needle[]): string[] {
  const found: string[] = []
  for (const h of haystacks)
    for (const n of needles) if (n.bytes.length && h.bytes.includes(n.bytes)) found.push(`${n.name} in ${h.name}`)
  return found
}

/** Every file below `dir`, as bytes (a SQLite data directory: the database, its WAL and SHM, the key files). */
export async function filesBelow(dir: string): Promise<Haystack[]> {
  const out: Haystack[] = []
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue
    const path = join(entry.parentPath, entry.name)
    out.push({ name: path.slice(dir.length + 1), bytes: await readFile(path) })
  }
  return out
}
