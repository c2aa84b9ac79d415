import http from 'node:http'
import https from 'node:https'
import type { LookupFunction } from 'node:net'
import { checkUrl, resolveTarget, type Lookup } from './address-policy.js'

/** What is kept of a response body: enough to see "502 Bad Gateway" or a receiver's error message, no more. */
export const RESPONSE_PREFIX_CHARS = 200
/** Read at most this much of a body, then hang up: a receiver cannot make us buffer megabytes. */
const RESPONSE_READ_BYTES = 4096

export interface PostOptions {
  timeoutMs: number
  allowHttp: boolean
  allowPrivate: boolean
  /** DNS, replaceable in tests. */
  lookup?: Lookup
}

export interface PostResult {
  /** The HTTP status, or null when no response came. */
  status: number | null
  /** 2xx: delivered. */
  ok: boolean
  durationMs: number
  /** Why it was not delivered, in words (no secret, no body beyond the prefix). */
  error: string | null
  responsePrefix: string | null
}

/**
 * POSTs one signed webhook. The URL is checked again and its host resolved here, at delivery time, and the
 * connection goes to exactly the address that was checked (the lookup answers it and nothing else), so a DNS
 * answer that changes between the check and the connect reaches nothing the check refused. Redirects are
 * not followed (node:http never does): a 3xx is a failed attempt. One deadline covers connect, TLS, the
 * request and the response head.
 */
export async function postWebhook(
  rawUrl: string,
  headers: Record<string, string>,
  body: string,
  options: PostOptions,
): Promise<PostResult> {
  const started = performance.now()
  const took = () => Math.round(performance.now() - started)
  const refused = (error: string): PostResult => ({
    status: null,
    ok: false,
    durationMs: took(),
    error,
    responsePrefix: null,
  })
  const checked = checkUrl(rawUrl, { allowHttp: options.allowHttp })
  if (!checked.ok) return refused(`URL refused: ${checked.reason}`)
  const { url } = checked
  const target = await resolveTarget(url.hostname, { allowPrivate: options.allowPrivate, lookup: options.lookup })
  if (!target.ok) return refused(`address refused: ${target.reason}`)
  const pinned: LookupFunction = (_hostname, lookupOptions, callback) => {
    if (lookupOptions.all) callback(null, [{ address: target.address, family: target.family }])
    else callback(null, target.address, target.family)
  }
  const client = url.protocol === 'https:' ? https : http
  return new Promise<PostResult>((resolve) => {
    let settled = false
    const finish = (result: Omit<PostResult, 'durationMs'>) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve({ ...result, durationMs: took() })
    }
    const request = client.request(url, {
      method: 'POST',
      lookup: pinned,
      agent: false,
      headers: {
        ...headers,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'user-agent': 'cms-encryptor-webhooks',
      },
    })
    const timer = setTimeout(() => {
      finish({ status: null, ok: false, error: `no response within ${options.timeoutMs} ms`, responsePrefix: null })
      request.destroy()
    }, options.timeoutMs)
    request.on('error', (err: NodeJS.ErrnoException) =>
      finish({ status: null, ok: false, error: err.code ?? err.message, responsePrefix: null }),
    )
    request.on('response', (response) => {
      const status = response.statusCode ?? 0
      const ok = status >= 200 && status < 300
      const chunks: Buffer[] = []
      let read = 0
      const done = () => {
        const text = Buffer.concat(chunks).toString('utf8').slice(0, RESPONSE_PREFIX_CHARS)
        finish({
          status,
          ok,
          error: ok ? null : status >= 300 && status < 400 ? `redirect (${status}) not followed` : `HTTP ${status}`,
          responsePrefix: text === '' ? null : text,
        })
        response.destroy()
      }
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk)
        read += chunk.length
        if (read >= RESPONSE_READ_BYTES) done()
      })
      response.on('end', done)
      response.on('error', done)
    })
    request.end(body)
  })
}
