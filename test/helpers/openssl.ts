import { execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { testPkiDir, type TestCertificate } from './pki.js'

const run = promisify(execFile)
let seq = 0

export type Encoding = 'der' | 'base64' | 'pem'

/**
 * Decrypts with the OpenSSL CLI, the implementation we did not write. `-recip` makes OpenSSL find
 * the RecipientInfo by the certificate's identifier, so a wrong rid fails too.
 */
export async function opensslDecrypt(
  cms: Buffer,
  receiver: TestCertificate,
  encoding: Encoding = 'der',
): Promise<Buffer> {
  const input = join(testPkiDir, `msg-${process.pid}-${seq++}`)
  try {
    return await decryptFile(input, cms, receiver, encoding)
  } finally {
    await Promise.all([rm(input, { force: true }), rm(input + '.b64', { force: true })])
  }
}

async function decryptFile(input: string, cms: Buffer, receiver: TestCertificate, encoding: Encoding) {
  // base64 on one line: OpenSSL's own base64 decoder (-A) turns it into DER first.
  if (encoding === 'base64') {
    await writeFile(input + '.b64', cms)
    await run('openssl', ['base64', '-d', '-A', '-in', input + '.b64', '-out', input], { maxBuffer: 1 << 30 })
  } else {
    await writeFile(input, cms)
  }
  const { stdout } = await run(
    'openssl',
    [
      'cms',
      '-decrypt',
      '-binary',
      '-inform',
      encoding === 'pem' ? 'PEM' : 'DER',
      '-in',
      input,
      '-inkey',
      receiver.keyPath,
      '-recip',
      receiver.certPath,
    ],
    { encoding: 'buffer', maxBuffer: 1 << 30 },
  )
  return stdout
}

/** Decrypts a file too large to hold twice, returning the SHA-256 of the plaintext. */
export function opensslDecryptFileHash(path: string, receiver: TestCertificate): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', [
      'cms',
      '-decrypt',
      '-binary',
      '-inform',
      'DER',
      '-in',
      path,
      '-inkey',
      receiver.keyPath,
      '-recip',
      receiver.certPath,
    ])
    const hash = createHash('sha256')
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => hash.update(d))
    child.stderr.on('data', (d: Buffer) => {
      stderr += d
    })
    child.on('error', reject)
    child.on('close', (code) =>
      code === 0 ? resolve(hash.digest('hex')) : reject(new Error(`openssl exited ${code}: ${stderr}`)),
    )
  })
}
