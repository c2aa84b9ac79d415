import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import type { Role } from '../../src/auth/tokens.js'
import { auth } from './app.js'
import type { TestCertificate } from './pki.js'

export async function putCertificate(
  app: FastifyInstance,
  alias: string,
  cert: TestCertificate,
  headers: Record<string, string> = {},
) {
  return app.inject({
    method: 'PUT',
    url: `/keystore/entries/${alias}`,
    headers: { ...auth('tenant-admin'), 'content-type': 'application/x-pem-file', ...headers },
    payload: cert.pem,
  })
}

export async function putEncryptor(
  app: FastifyInstance,
  id: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
) {
  return app.inject({
    method: 'PUT',
    url: `/encryptors/${id}`,
    headers: { ...auth('integration-developer'), ...headers },
    payload: body,
  })
}

export async function encrypt(
  app: FastifyInstance,
  id: string,
  payload: Buffer | string,
  query = '',
  role: Role = 'integration-flow',
) {
  return app.inject({
    method: 'POST',
    url: `/encryptors/${id}/encrypt${query}`,
    headers: { ...auth(role), 'content-type': 'application/octet-stream' },
    payload,
  })
}

/** Everything a client can read, to prove that a refused request changed nothing. */
export async function snapshot(app: FastifyInstance) {
  const get = async (url: string) => (await app.inject({ method: 'GET', url, headers: auth('monitor') })).json()
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
