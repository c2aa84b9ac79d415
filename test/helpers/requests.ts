import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import type { Role } from '../../src/auth/tokens.js'
import { asRoleOn } from './as-role.js'
import type { TestCertificate } from './pki.js'

export async function putCertificate(
  app: FastifyInstance,
  alias: string,
  cert: TestCertificate,
  headers: Record<string, string> = {},
) {
  return asRoleOn(app)('tenant-admin').put(`/keystore/entries/${alias}`, cert.pem, {
    'content-type': 'application/x-pem-file',
    ...headers,
  })
}

export async function putEncryptor(
  app: FastifyInstance,
  id: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
) {
  return asRoleOn(app)('integration-developer').put(`/encryptors/${id}`, body, headers)
}

export async function encrypt(
  app: FastifyInstance,
  id: string,
  payload: Buffer | string,
  query = '',
  role: Role = 'integration-flow',
) {
  return asRoleOn(app)(role).post(`/encryptors/${id}/encrypt${query}`, payload, {
    'content-type': 'application/octet-stream',
  })
}

/** Everything a client can read, to prove that a refused request changed nothing. */
export async function snapshot(app: FastifyInstance) {
  const get = async (url: string) => (await asRoleOn(app)('monitor').get(url)).json()
  const entries = (await get('/keystore/entries')).entries as Array<{ alias: string }>
  const details = await Promise.all(entries.map((e) => get(`/keystore/entries/${e.alias}`)))
  return { details, encryptors: await get('/encryptors') }
}

/** Asserts an RFC 9457 problem with the expected status and catalogue code. */
export function assertProblem(t: Test, res: LightMyRequestResponse, status: number, code: string, label = '') {
  t.equal(res.statusCode, status, `${label} status`)
  t.match(res.headers['content-type'], /^application\/problem\+json/, `${label} problem+json`)
  const body = res.json()
  t.equal(body.code, code, `${label} code`)
  t.equal(body.status, status, `${label} body status`)
  t.type(body.detail, 'string')
  t.type(body.type, 'string')
}
