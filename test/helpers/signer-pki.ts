import { execFile } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { testPkiDir } from './pki.js'

/**
 * Signer certificates for sign-then-encrypt tests, made with the OpenSSL CLI: a root CA (what a
 * receiver trusts), an intermediate CA, and signers it issues. Files live in the test process's
 * PKI directory, removed when the process exits.
 */
const run = promisify(execFile)
let seq = 0

export interface TestSigner {
  name: string
  certPem: string
  certPath: string
  keyPem: string
  /** The intermediate CA's certificate, PEM: the chain after the signer's. */
  chainPem: string
}

export interface SignerPki {
  rootPath: string
  intermediatePath: string
  issue(name: string, options?: SignerOptions): Promise<TestSigner>
}

export interface SignerOptions {
  key?: 'rsa-2048' | 'rsa-3072' | 'ec-p256' | 'ec-p384' | 'ec-p521'
  /** openssl -addext lines for the signer; default keyUsage digitalSignature and an SKI. */
  extensions?: string[]
  days?: number
}

function newKey(spec: NonNullable<SignerOptions['key']>): string {
  const [kind, size] = spec.split('-') as [string, string]
  const pair =
    kind === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: Number(size) })
      : generateKeyPairSync('ec', { namedCurve: { p256: 'prime256v1', p384: 'secp384r1', p521: 'secp521r1' }[size]! })
  return pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
}

async function file(name: string, content: string): Promise<string> {
  const path = join(testPkiDir, `signer-${process.pid}-${seq++}-${name}`)
  await writeFile(path, content, { mode: 0o600 })
  return path
}

async function certify(
  subject: string,
  keyPath: string,
  issuer: { cert: string; key: string } | null,
  ext: string[],
  days: number,
) {
  const out = await file('cert.pem', '')
  if (!issuer) {
    await run('openssl', [
      'req',
      '-x509',
      '-new',
      '-key',
      keyPath,
      '-subj',
      subject,
      '-days',
      String(days),
      '-out',
      out,
      ...ext.flatMap((e) => ['-addext', e]),
    ])
    return out
  }
  const csr = await file('req.pem', '')
  await run('openssl', ['req', '-new', '-key', keyPath, '-subj', subject, '-out', csr])
  const extFile = await file('ext.cnf', ext.map((e) => e.replace('=', ' = ')).join('\n') + '\n')
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    issuer.cert,
    '-CAkey',
    issuer.key,
    '-CAcreateserial',
    '-days',
    String(days),
    '-extfile',
    extFile,
    '-out',
    out,
  ])
  return out
}

const CA_EXTENSIONS = [
  'basicConstraints=critical,CA:TRUE',
  'keyUsage=critical,keyCertSign,cRLSign',
  'subjectKeyIdentifier=hash',
]

let pki: Promise<SignerPki> | undefined

/** The one signer PKI of this test process. */
export function signerPki(): Promise<SignerPki> {
  pki ??= (async () => {
    const rootKey = await file('root.key', newKey('rsa-2048'))
    const rootPath = await certify('/CN=cms-encryptor Test Signing Root', rootKey, null, CA_EXTENSIONS, 3650)
    const intermediateKey = await file('intermediate.key', newKey('ec-p256'))
    const intermediatePath = await certify(
      '/CN=cms-encryptor Test Signing CA',
      intermediateKey,
      { cert: rootPath, key: rootKey },
      CA_EXTENSIONS,
      3650,
    )
    const chainPem = await readFile(intermediatePath, 'utf8')
    return {
      rootPath,
      intermediatePath,
      async issue(name, options = {}) {
        const keyPem = newKey(options.key ?? 'rsa-2048')
        const keyPath = await file(`${name}.key`, keyPem)
        const certPath = await certify(
          `/CN=${name}`,
          keyPath,
          { cert: intermediatePath, key: intermediateKey },
          options.extensions ?? ['keyUsage=critical,digitalSignature', 'subjectKeyIdentifier=hash'],
          options.days ?? 365,
        )
        return { name, certPem: await readFile(certPath, 'utf8'), certPath, keyPem, chainPem }
      },
    }
  })()
  return pki
}
