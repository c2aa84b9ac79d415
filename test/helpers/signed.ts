import * as asn1js from 'asn1js'
import { execFile } from 'node:child_process'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { opensslDecrypt } from './openssl.js'
import { testPkiDir, type TestCertificate } from './pki.js'

const run = promisify(execFile)
let seq = 0

/** A definite-length DER header (tag, length) for a value of `length` bytes. */
function header(tag: number, length: number): Buffer {
  if (length < 0x80) return Buffer.from([tag, length])
  const octets: number[] = []
  for (let n = length; n > 0; n = Math.floor(n / 256)) octets.unshift(n % 256)
  return Buffer.from([tag, 0x80 | octets.length, ...octets])
}

const SIGNED_DATA_OID = Buffer.from(new asn1js.ObjectIdentifier({ value: '1.2.840.113549.1.7.2' }).toBER())

/**
 * What an enveloped SignedData decrypts to is the SignedData itself (RFC 5652 6.3: the content, not a
 * ContentInfo); openssl cms -verify reads a ContentInfo, so a receiver wraps it:
 * ContentInfo ::= SEQUENCE { id-signedData, [0] EXPLICIT SignedData }.
 */
export function asContentInfo(signedData: Buffer): Buffer {
  const explicit = Buffer.concat([header(0xa0, signedData.length), signedData])
  const body = Buffer.concat([SIGNED_DATA_OID, explicit])
  return Buffer.concat([header(0x30, body.length), body])
}

export interface Trust {
  /**
   * The CA certificates the receiver trusts (PEM files): the root, and the intermediate when the message
   * leaves the chain out (OpenSSL 3.0's cms -certfile helps find the signer, not build its chain).
   */
  ca: string[]
  /** The signer's certificate, when the message carries none. */
  certfiles?: string[]
}

/** openssl cms -verify on a SignedData: the payload when the signature and the chain verify, else a throw. */
export async function opensslVerify(signedData: Buffer, trust: Trust): Promise<Buffer> {
  const input = join(testPkiDir, `signed-${process.pid}-${seq++}`)
  const caFile = `${input}.ca`
  const certfile = trust.certfiles?.length ? `${input}.certs` : undefined
  const concat = async (files: string[]) => (await Promise.all(files.map((f) => readFile(f, 'utf8')))).join('')
  try {
    await writeFile(input, asContentInfo(signedData))
    await writeFile(caFile, await concat(trust.ca))
    if (certfile) await writeFile(certfile, await concat(trust.certfiles!))
    const { stdout } = await run(
      'openssl',
      [
        'cms',
        '-verify',
        '-binary',
        '-inform',
        'DER',
        '-in',
        input,
        '-CAfile',
        caFile,
        ...(certfile ? ['-certfile', certfile] : []),
      ],
      { encoding: 'buffer', maxBuffer: 1 << 30 },
    )
    return stdout
  } finally {
    await Promise.all([input, caFile, certfile].map((f) => f && rm(f, { force: true })))
  }
}

/** What a receiver does with a signed-then-enveloped message: decrypt, then verify; the payload. */
export async function decryptAndVerify(cms: Buffer, receiver: TestCertificate, trust: Trust): Promise<Buffer> {
  return opensslVerify(await opensslDecrypt(cms, receiver), trust)
}
