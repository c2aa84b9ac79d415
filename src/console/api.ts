import { session } from './session'

/** An RFC 9457 problem as the API answers it; shown to people with its title, detail and code. */
export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly code: string,
    /** Validation errors: the JSON pointer of each invalid value (e.g. "/newAlias"). */
    readonly errors: Array<{ path: string; message: string }> = [],
  ) {
    super(`${title}: ${detail}`)
  }

  /**
   * What this problem says about the request field `name`, or null when it concerns another: a
   * validation error by its JSON pointer, a domain error by the field its code is about.
   */
  about(name: string): string | null {
    const invalid = this.errors.find((e) => e.path === `/${name}` || e.path.startsWith(`/${name}/`))
    if (invalid) return invalid.message
    return FIELD_OF_CODE[this.code] === name ? this.detail : null
  }
}

/**
 * The request field a domain error is about (errors.ts codes), so the console shows it beside that
 * field. Certificates are sent as `certificate` (renewals) or as the body (uploads, also `certificate`).
 */
const FIELD_OF_CODE: Record<string, string> = {
  CMS_EMPTY_BODY: 'certificate',
  CMS_CERTIFICATE_MALFORMED: 'certificate',
  CMS_CERTIFICATE_COUNT: 'certificate',
  CMS_PRIVATE_KEY_IN_BODY: 'certificate',
  CMS_KEY_ALGORITHM_UNSUPPORTED: 'certificate',
  CMS_KEY_TOO_WEAK: 'certificate',
  CMS_KEY_USAGE_FORBIDS_ENCRYPTION: 'certificate',
  // A signer-key renewal's new signer certificate must allow signing.
  CMS_KEY_USAGE_FORBIDS_SIGNING: 'certificate',
  CMS_CERTIFICATE_EXPIRED: 'certificate',
  CMS_SUBJECT_KEY_IDENTIFIER_MISSING: 'certificate',
  CMS_ENCRYPTOR_NOT_FOUND: 'encryptorId',
  CMS_ALIAS_ALREADY_LISTED: 'alias',
  CMS_TOO_MANY_ALIASES: 'alias',
  CMS_ALIAS_NOT_FOUND: 'alias',
  CMS_WEBHOOK_URL_REFUSED: 'url',
  CMS_WEBHOOK_EVENT_UNKNOWN: 'events',
}

export interface Sent {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  /** JSON to send; or a string / bytes with `type`. */
  json?: unknown
  body?: string | ArrayBuffer
  type?: string
  headers?: Record<string, string>
  /** A token to use instead of the session's (signing in). */
  token?: string
}

export interface Answer<T> {
  data: T
  etag: string | null
  headers: Headers
}

/**
 * One call to the API with the session's bearer token. Every non-2xx answer is thrown as a Problem
 * (the service answers problem+json; anything else, e.g. a proxy's error page, still gets one).
 */
export async function call<T>(path: string, sent: Sent = {}): Promise<Answer<T>> {
  const token = sent.token ?? session.token()
  const headers: Record<string, string> = { accept: 'application/json', ...sent.headers }
  if (token) headers.authorization = `Bearer ${token}`
  let body: BodyInit | undefined
  if (sent.json !== undefined) {
    headers['content-type'] = 'application/json'
    body = JSON.stringify(sent.json)
  } else if (sent.body !== undefined) {
    headers['content-type'] = sent.type ?? 'application/octet-stream'
    body = sent.body
  }
  let response: Response
  try {
    response = await fetch(path, { method: sent.method ?? 'GET', headers, body, cache: 'no-store' })
  } catch (err) {
    throw new Problem(0, 'No answer', `The service could not be reached (${(err as Error).message}).`, 'NETWORK')
  }
  const type = response.headers.get('content-type') ?? ''
  if (!response.ok) {
    if (type.includes('json')) {
      const p = (await response.json()) as Partial<Problem> & { errors?: Problem['errors'] }
      throw new Problem(
        response.status,
        p.title ?? response.statusText,
        p.detail ?? '',
        p.code ?? `HTTP_${response.status}`,
        p.errors ?? [],
      )
    }
    throw new Problem(response.status, response.statusText, await response.text(), `HTTP_${response.status}`)
  }
  const data = (type.includes('json') ? await response.json() : await response.text()) as T
  return { data, etag: response.headers.get('etag'), headers: response.headers }
}

export const get = async <T>(path: string): Promise<T> => (await call<T>(path)).data

/** Path segments are aliases and ids chosen by people: always escaped. */
export const seg = (value: string) => encodeURIComponent(value)

/** Saves a PEM the API serves as a file: the token is a header, so a plain link could not fetch it. */
export async function downloadPem(path: string, filename: string): Promise<void> {
  const { data } = await call<string>(path, { headers: { accept: 'application/x-pem-file' } })
  const url = URL.createObjectURL(new Blob([data], { type: 'application/x-pem-file' }))
  const link = document.createElement('a')
  link.href = url
  link.download = filename
  document.body.append(link)
  link.click()
  link.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}
