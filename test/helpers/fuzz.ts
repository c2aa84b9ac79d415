import { Readable } from 'node:stream'
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import { CONTENT_ENCRYPTIONS, KEY_TRANSPORTS, RECIPIENT_IDENTIFIERS } from '../../src/cms/algorithms.js'
import { OUTPUT_ENCODINGS } from '../../src/cms/output-encoding.js'
import {} from './app.js'
import { asRoleOn } from './as-role.js'
import { garbledExtensionCertificates } from './garbled-extensions.js'
import { opensslDecrypt } from './openssl.js'
import { pemPieces } from './pem-cases.js'
import { issueCertificate, type TestCertificate } from './pki.js'
import { encrypt } from './requests.js'

/** Bytes that look like a certificate gone wrong: random, or a valid DER with edits. */
export function certificateUploads(valid: Buffer) {
  const mutated = fc
    .record({
      flips: fc.array(fc.record({ at: fc.nat(valid.length - 1), value: fc.integer({ min: 0, max: 255 }) }), {
        minLength: 1,
        maxLength: 8,
      }),
      cut: fc.option(fc.nat(valid.length), { nil: undefined }),
      extra: fc.uint8Array({ maxLength: 16 }),
    })
    .map(({ flips, cut, extra }) => {
      const bytes = Buffer.from(valid)
      for (const f of flips) bytes[f.at] = f.value
      return Buffer.concat([cut === undefined ? bytes : bytes.subarray(0, cut), extra])
    })
  const pemAround = fc
    .tuple(pemPieces(40), fc.boolean(), pemPieces(40))
    .map(([before, withValid, after]) => Buffer.from(before + (withValid ? toPemText(valid) : '') + after, 'latin1'))
  return fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 4096 }).map((a) => Buffer.from(a)),
    mutated,
    pemAround,
  )
}

function toPemText(der: Buffer): string {
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64')}\n-----END CERTIFICATE-----\n`
}

/**
 * Signs one certificate per case and PUTs it: every garbled extension is a 400 CMS_CERTIFICATE_MALFORMED
 * (before, asn1js threw on some, a 500, and PKI.js let others pass as an absent keyUsage). Returns failures.
 */
export async function garbledExtensionProperty(app: FastifyInstance, runs: number, seed: number): Promise<string[]> {
  const failures: string[] = []
  await fc.assert(
    fc.asyncProperty(garbledExtensionCertificates(), async ({ what, options }) => {
      const cert = await issueCertificate('garbled', options)
      const res = await asRoleOn(app)('tenant-admin').put('/keystore/entries/garbled', cert.pem, {
        'content-type': 'application/x-pem-file',
      })
      const ok = res.statusCode === 400 && res.json().code === 'CMS_CERTIFICATE_MALFORMED'
      if (!ok) failures.push(`${what}: ${res.statusCode} ${res.body.slice(0, 200)}`)
      return ok
    }),
    { numRuns: runs, seed, endOnFailure: true },
  )
  return failures
}

/** PUTs each upload; the answer must be a success or a catalogue 4xx, never a 5xx. Returns failures. */
export async function uploadProperty(
  app: FastifyInstance,
  valid: Buffer,
  runs: number,
  seed: number,
): Promise<string[]> {
  const failures: string[] = []
  let i = 0
  await fc.assert(
    fc.asyncProperty(
      certificateUploads(valid),
      fc.constantFrom('application/pkix-cert', 'application/x-pem-file'),
      async (body, type) => {
        const res = await asRoleOn(app)('tenant-admin').put(`/keystore/entries/fuzz-${i++ % 5}`, body, {
          'content-type': type,
        })
        const ok = res.statusCode < 300 || (res.statusCode < 500 && String(res.json().code).startsWith('CMS_'))
        if (!ok) failures.push(`${type} ${body.toString('base64')}: ${res.statusCode} ${res.body.slice(0, 200)}`)
        return ok
      },
    ),
    { numRuns: runs, seed, endOnFailure: true },
  )
  return failures
}

/** Random option combinations and payloads: every encrypt succeeds and every receiver decrypts it. */
export async function encryptProperty(
  app: FastifyInstance,
  receivers: Record<string, TestCertificate>,
  runs: number,
  seed: number,
): Promise<string[]> {
  const failures: string[] = []
  let n = 0
  const aliases = Object.keys(receivers)
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...CONTENT_ENCRYPTIONS),
      fc.constantFrom(...KEY_TRANSPORTS),
      fc.constantFrom(...RECIPIENT_IDENTIFIERS),
      fc.constantFrom(...OUTPUT_ENCODINGS),
      fc.subarray(aliases, { minLength: 1 }),
      fc.uint8Array({ minLength: 1, maxLength: 5000 }),
      // Streamed (chunked, no Content-Length) takes the cipher-thread path; repeats reach past one batch.
      fc.record({
        streamed: fc.boolean(),
        repeat: fc.constantFrom(1, 1, 1, 300),
        pieces: fc.integer({ min: 1, max: 7 }),
      }),
      async (contentEncryption, keyTransport, recipientIdentifier, encoding, chosen, bytes, transfer) => {
        const id = `fuzz-${n++}`
        const put = await asRoleOn(app)('integration-developer').put(`/encryptors/${id}`, {
          receiverAliases: chosen,
          contentEncryption,
          keyTransport,
          recipientIdentifier,
          encoding,
        })
        if (put.statusCode !== 201) {
          failures.push(`${id}: PUT ${put.statusCode} ${put.body}`)
          return false
        }
        const payload = Buffer.concat(Array.from({ length: transfer.repeat }, () => Buffer.from(bytes)))
        const step = Math.ceil(payload.length / transfer.pieces)
        const res = transfer.streamed
          ? await asRoleOn(app)('integration-flow').post(
              `/encryptors/${id}/encrypt`,
              Readable.from(
                Array.from({ length: transfer.pieces }, (_, k) => payload.subarray(k * step, (k + 1) * step)).filter(
                  (c) => c.length,
                ),
              ),
              { 'content-type': 'application/octet-stream' },
            )
          : await encrypt(app, id, payload)
        if (res.statusCode !== 200) {
          failures.push(`${id}: encrypt ${res.statusCode} ${res.body.slice(0, 200)}`)
          return false
        }
        for (const alias of chosen) {
          const plain = await opensslDecrypt(res.rawPayload, receivers[alias]!, encoding).catch((e: Error) => e)
          if (!(plain instanceof Buffer) || !plain.equals(payload)) {
            failures.push(
              `${id} ${contentEncryption}/${keyTransport}/${recipientIdentifier}/${encoding}, ` +
                `${payload.length} bytes${transfer.streamed ? ' streamed' : ''}: ${alias} cannot decrypt`,
            )
            return false
          }
        }
        return true
      },
    ),
    { numRuns: runs, seed, endOnFailure: true },
  )
  return failures
}
