import * as asn1js from 'asn1js'
import { execFile } from 'node:child_process'
import type { KeyObject } from 'node:crypto'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { testPkiDir } from './pki.js'

/**
 * PKCS#12 files for import tests: made by the OpenSSL 3 CLI (the exporter we did not write), or
 * assembled here from parts OpenSSL made, for what its CLI cannot write (two keys, a chosen PBKDF2
 * PRF, a key that is not the certificate's). Files live in the test process's PKI directory.
 */
const run = promisify(execFile)
let seq = 0

/** `openssl pkcs12 -export` of the given PEM key and certificates, with extra options; the file as base64. */
export async function opensslPkcs12(
  parts: { keyPem?: string; certPems: string[]; extraCertPems?: string[] },
  password: string,
  options: string[] = [],
): Promise<string> {
  const base = join(testPkiDir, `p12-${process.pid}-${seq++}`)
  const files = { key: `${base}.key.pem`, certs: `${base}.crt`, extra: `${base}.extra.crt`, out: `${base}.p12` }
  try {
    await writeFile(files.certs, parts.certPems.join(''))
    const args = ['pkcs12', '-export', '-in', files.certs, '-out', files.out, '-passout', `pass:${password}`]
    if (parts.keyPem) {
      await writeFile(files.key, parts.keyPem, { mode: 0o600 })
      args.push('-inkey', files.key)
    } else {
      args.push('-nokeys')
    }
    if (parts.extraCertPems?.length) {
      await writeFile(files.extra, parts.extraCertPems.join(''))
      args.push('-certfile', files.extra)
    }
    await run('openssl', [...args, ...options])
    return (await readFile(files.out)).toString('base64')
  } finally {
    await Promise.all(Object.values(files).map((f) => rm(f, { force: true })))
  }
}

/** `openssl pkcs8 -topk8` of a key with the given options: the DER EncryptedPrivateKeyInfo (RFC 5958 3). */
export async function opensslEncryptedPkcs8(key: KeyObject, password: string, options: string[]): Promise<Buffer> {
  const base = join(testPkiDir, `p8-${process.pid}-${seq++}`)
  try {
    await writeFile(`${base}.pem`, key.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
    await run('openssl', [
      'pkcs8',
      '-topk8',
      '-in',
      `${base}.pem`,
      '-outform',
      'DER',
      '-out',
      `${base}.der`,
      '-passout',
      `pass:${password}`,
      ...options,
    ])
    return await readFile(`${base}.der`)
  } finally {
    await Promise.all([rm(`${base}.pem`, { force: true }), rm(`${base}.der`, { force: true })])
  }
}

export type BagSpec = ({ key: KeyObject } | { encryptedKey: Buffer } | { certificate: Buffer }) & {
  friendlyName?: string
  localKeyId?: Buffer
}

/**
 * A PFX without MAC holding `bags` in one plain SafeContents (RFC 7292 4):
 *
 *     PFX ::= SEQUENCE { version INTEGER {v3(3)}, authSafe ContentInfo, macData MacData OPTIONAL }
 *     AuthenticatedSafe ::= SEQUENCE OF ContentInfo      -- each of type data here
 *     SafeContents ::= SEQUENCE OF SafeBag
 *     SafeBag ::= SEQUENCE {
 *       bagId OBJECT IDENTIFIER, bagValue [0] EXPLICIT ANY, bagAttributes SET OF Attribute OPTIONAL }
 *     CertBag ::= SEQUENCE { certId OBJECT IDENTIFIER, certValue [0] EXPLICIT OCTET STRING }
 */
export function buildPfx(bags: BagSpec[]): string {
  const safeBags = bags.map((bag) => {
    const [bagId, value] =
      'key' in bag
        ? ['1.2.840.113549.1.12.10.1.1', fromDer(bag.key.export({ type: 'pkcs8', format: 'der' }))]
        : 'encryptedKey' in bag
          ? ['1.2.840.113549.1.12.10.1.2', fromDer(bag.encryptedKey)]
          : [
              '1.2.840.113549.1.12.10.1.3',
              new asn1js.Sequence({
                value: [
                  new asn1js.ObjectIdentifier({ value: '1.2.840.113549.1.9.22.1' }),
                  explicit(new asn1js.OctetString({ valueHex: bag.certificate })),
                ],
              }),
            ]
    const attributes = []
    if (bag.friendlyName !== undefined) {
      attributes.push(attribute('1.2.840.113549.1.9.20', new asn1js.BmpString({ value: bag.friendlyName })))
    }
    if (bag.localKeyId)
      attributes.push(attribute('1.2.840.113549.1.9.21', new asn1js.OctetString({ valueHex: bag.localKeyId })))
    return new asn1js.Sequence({
      value: [
        new asn1js.ObjectIdentifier({ value: bagId as string }),
        explicit(value as asn1js.BaseBlock),
        ...(attributes.length ? [new asn1js.Set({ value: attributes })] : []),
      ],
    })
  })
  const safeContents = new asn1js.Sequence({ value: safeBags }).toBER()
  const authSafe = new asn1js.Sequence({ value: [dataContentInfo(safeContents)] }).toBER()
  const pfx = new asn1js.Sequence({ value: [new asn1js.Integer({ value: 3 }), dataContentInfo(authSafe)] })
  return Buffer.from(pfx.toBER()).toString('base64')
}

/** An EncryptedPrivateKeyInfo under pbeWithSHAAnd3-KeyTripleDES-CBC with `iterations`, and no real key inside. */
export function pkcs12PbeKey(iterations: number): Buffer {
  const info = new asn1js.Sequence({
    value: [
      new asn1js.Sequence({
        value: [
          new asn1js.ObjectIdentifier({ value: '1.2.840.113549.1.12.1.3' }),
          new asn1js.Sequence({
            value: [
              new asn1js.OctetString({ valueHex: Buffer.alloc(8, 1) }),
              new asn1js.Integer({ value: iterations }),
            ],
          }),
        ],
      }),
      new asn1js.OctetString({ valueHex: Buffer.alloc(64, 7) }),
    ],
  })
  return Buffer.from(info.toBER())
}

function dataContentInfo(content: ArrayBuffer) {
  return new asn1js.Sequence({
    value: [
      new asn1js.ObjectIdentifier({ value: '1.2.840.113549.1.7.1' }),
      explicit(new asn1js.OctetString({ valueHex: content })),
    ],
  })
}

function attribute(type: string, value: asn1js.BaseBlock) {
  return new asn1js.Sequence({
    value: [new asn1js.ObjectIdentifier({ value: type }), new asn1js.Set({ value: [value] })],
  })
}

function explicit(value: asn1js.BaseBlock) {
  return new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [value] })
}

function fromDer(der: Buffer): asn1js.BaseBlock {
  return asn1js.fromBER(der).result
}
