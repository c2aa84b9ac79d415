import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import type { Role } from '../../src/auth/tokens.js'
import { asRoleOn } from './as-role.js'
import { opensslDecrypt } from './openssl.js'
import type { TestCertificate } from './pki.js'
import { encrypt } from './requests.js'

export async function startRenewal(app: FastifyInstance, body: Record<string, unknown>) {
  return asRoleOn(app)('tenant-admin').post('/renewals', body)
}

export async function takeStep(app: FastifyInstance, id: string, step: string, role: Role, comment?: string) {
  return asRoleOn(app)(role).post(`/renewals/${id}/steps/${step}`, comment ? { comment } : undefined)
}

/**
 * Encrypts one message and proves what the receiver can do with it right now: every key it holds
 * decrypts it (OpenSSL), and the keys it no longer has (or does not have yet) are not addressed.
 */
export async function assertReceiverDecrypts(
  t: Test,
  app: FastifyInstance,
  encryptorId: string,
  holds: TestCertificate[],
  lacks: TestCertificate[] = [],
  label = '',
) {
  const payload = `message ${label} ${Math.random()}`
  const res = await encrypt(app, encryptorId, payload)
  t.equal(res.statusCode, 200, `${label}: encrypted`)
  for (const key of holds)
    t.equal((await opensslDecrypt(res.rawPayload, key)).toString(), payload, `${label}: ${key.name} decrypts`)
  for (const key of lacks)
    await t.rejects(opensslDecrypt(res.rawPayload, key), `${label}: not encrypted for ${key.name}`)
}
