import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { Role } from '../../src/auth/tokens.js'
import { auth } from './app.js'

type Headers = Record<string, string>
/** A JSON body (object), or raw bytes sent as they are (give the content-type in `headers`). */
type Body = object | string | Buffer

/** Requests injected into one app with one role's bearer token. */
export interface RoleRequests {
  get(url: string, headers?: Headers): Promise<LightMyRequestResponse>
  delete(url: string, headers?: Headers): Promise<LightMyRequestResponse>
  /** `body` undefined sends no body at all (not `{}`). */
  post(url: string, body?: Body, headers?: Headers): Promise<LightMyRequestResponse>
  put(url: string, body?: Body, headers?: Headers): Promise<LightMyRequestResponse>
  patch(url: string, body?: Body, headers?: Headers): Promise<LightMyRequestResponse>
}

/**
 * Binds requests to `app`, for a role each (fastify/demo's `injectWithLogin`):
 *
 *     const asRole = asRoleOn(app)
 *     await asRole('tenant-admin').put('/keystore/entries/a', pem, { 'content-type': 'application/x-pem-file' })
 *
 * `headers` are merged over the token, so a test can still send a wrong or missing one on purpose.
 */
export function asRoleOn(app: FastifyInstance): (role: Role) => RoleRequests {
  return (role) => {
    const send = (
      method: 'GET' | 'DELETE' | 'POST' | 'PUT' | 'PATCH',
      url: string,
      body?: Body,
      headers: Headers = {},
    ) =>
      app.inject({
        method,
        url,
        headers: { ...auth(role), ...headers },
        ...(body === undefined ? {} : { payload: body }),
      })
    return {
      get: (url, headers) => send('GET', url, undefined, headers),
      delete: (url, headers) => send('DELETE', url, undefined, headers),
      post: (url, body, headers) => send('POST', url, body, headers),
      put: (url, body, headers) => send('PUT', url, body, headers),
      patch: (url, body, headers) => send('PATCH', url, body, headers),
    }
  }
}
