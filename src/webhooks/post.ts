import http from 'node:http'
import https from 'node:https'
import type { LookupFunction } from 'node:net'
import { checkUrl, resolveTarget, type Lookup, type ResolvedAddress } from './address-policy.js'

/** What is kept of a response body: enough to see "502 Bad Gateway" or a receiver's error message, no more. */
export const RESPONSE_PREFIX_CHARS = 200
/** Read at most this much of a body, then hang up: a receiver cannot make us buffer megabytes. */
const RESPONSE_READ_BYTES = 4096
/** Once the status is in, the body prefix gets this long at most: a 2xx is a 2xx however slow its body. */
const BODY_GRACE_MS = 1000

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
 * Text a receiver sent, made fit to store and show: control characters (a NUL, which PostgreSQL text
 * refuses; terminal escapes) become U+FFFD, tabs and line breaks stay.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '\ufffd')
}

/**
 * POSTs one signed webhook. The URL is checked again and its host resolved here, at delivery time, and the
 * connection goes to exactly the address that was checked (the lookup answers it and nothing else), so a DNS
 * answer that changes between the check and the connect reaches nothing the check refused. Redirects are
 * not followed (node:http never does): a 3xx is a failed attempt. One deadline covers DNS, connect, TLS,
 * the request and the response head; the status decides, and the body prefix gets a short grace after it.
 */
export async function postWebhook(
  rawUrl: string,
  headers: Record<string, string>,
  body: string,
  options: PostOptions,
): Promise<PostResult> {
  const started = performance.now()
  const took = () => Math.round(performance.now() - started)
  const failed = (error: string, status: number | null = null, responsePrefix: string | null = null): PostResult => ({
    status,
    ok: false,
    durationMs: took(),
    error,
    responsePrefix,
  })
  const checked = checkUrl(rawUrl, { allowHttp: options.allowHttp })
  if (!checked.ok) return failed(`URL refused: ${checked.reason}`)
  const { url } = checked
  const deadline = `no response within ${options.timeoutMs} ms`
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<'expired'>((resolve) => {
    timer = setTimeout(() => resolve('expired'), options.timeoutMs)
  })
  try {
    // A name server that never answers runs into the same deadline (the lookup goes on in the background).
    const target = await Promise.race([
      resolveTarget(url.hostname, { allowPrivate: options.allowPrivate, lookup: options.lookup }),
      expired,
    ])
    if (target === 'expired') return failed(deadline)
    if (!target.ok) return failed(`address refused: ${printable(target.reason)}`)
    const request = send(url, target, headers, body)
    const outcome = await Promise.race([request.head, expired])
    if (outcome === 'expired') {
      request.abort()
      return failed(deadline)
    }
    if (outcome instanceof Error) return failed(printable((outcome as NodeJS.ErrnoException).code ?? outcome.message))
    clearTimeout(timer)
    const { status, prefix } = outcome
    const text = printable(await prefix)
    const responsePrefix = text === '' ? null : text
    if (status >= 200 && status < 300) return { status, ok: true, durationMs: took(), error: null, responsePrefix }
    const error = status >= 300 && status < 400 ? `redirect (${status}) not followed` : `HTTP ${status}`
    return failed(error, status, responsePrefix)
  } finally {
    clearTimeout(timer)
  }
}

interface Sent {
  /** The status once the response head is in (with the body prefix to come), or the request's error. */
  head: Promise<{ status: number; prefix: Promise<string> } | Error>
  abort(): void
}

function send(url: URL, target: ResolvedAddress, headers: Record<string, string>, body: string): Sent {
  const pinned: LookupFunction = (_hostname, lookupOptions, callback) => {
    if (lookupOptions.all) callback(null, [{ address: target.address, family: target.family }])
    else callback(null, target.address, target.family)
  }
  const client = url.protocol === 'https:' ? https : http
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
  const head = new Promise<{ status: number; prefix: Promise<string> } | Error>((resolve) => {
    request.on('error', (err) => resolve(err))
    request.on('response', (response) => {
      const prefix = new Promise<string>((done) => {
        const chunks: Buffer[] = []
        let read = 0
        const finish = () => {
          clearTimeout(grace)
          done(Buffer.concat(chunks).toString('utf8').slice(0, RESPONSE_PREFIX_CHARS))
          response.destroy()
        }
        const grace = setTimeout(finish, BODY_GRACE_MS)
        response.on('data', (chunk: Buffer) => {
          chunks.push(chunk)
          read += chunk.length
          if (read >= RESPONSE_READ_BYTES) finish()
        })
        response.on('end', finish)
        response.on('error', finish)
      })
      resolve({ status: response.statusCode ?? 0, prefix })
    })
  })
  request.end(body)
  return { head, abort: () => request.destroy() }
}
