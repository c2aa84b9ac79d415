import { createCipheriv, createHash } from 'node:crypto'
import { request, type IncomingHttpHeaders } from 'node:http'
import { Readable, type Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'

export interface HttpResult {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
  /** True when the server cut the response short (the status line was already out). */
  aborted: boolean
}

/** A real HTTP request on a socket (not inject), optionally streaming the response into `sink`. */
export function httpRequest(options: {
  port: number
  method: string
  path: string
  headers?: Record<string, string | number>
  body?: Buffer | Readable
  sink?: Writable
}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port: options.port,
      method: options.method,
      path: options.path,
      headers: options.headers,
    })
    req.on('error', reject)
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      let aborted = false
      res.on('aborted', () => {
        aborted = true
      })
      const done = () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks),
          aborted: aborted || !res.complete,
        })
      if (options.sink) {
        pipeline(res, options.sink).then(done, () => {
          aborted = true
          done()
        })
      } else {
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', done)
        res.on('error', () => {
          aborted = true
          done()
        })
        res.on('close', () => {
          if (!res.complete) {
            aborted = true
            done()
          }
        })
      }
    })
    if (options.body instanceof Readable) options.body.on('error', (e) => req.destroy(e)).pipe(req)
    else req.end(options.body)
  })
}

/**
 * `size` bytes of deterministic pseudo-random data (AES-CTR keystream) in 64 KiB chunks, and the
 * SHA-256 of what was produced, known once the stream ended.
 */
export function generatedPayload(size: number, seed = 1) {
  const keystream = createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16))
  const hash = createHash('sha256')
  const zeros = Buffer.alloc(64 * 1024)
  let left = size
  const stream = new Readable({
    read() {
      if (left === 0) return this.push(null)
      const n = Math.min(left, zeros.length)
      const chunk = keystream.update(zeros.subarray(0, n))
      hash.update(chunk)
      left -= n
      this.push(chunk)
    },
  })
  return { stream, sha256: () => hash.digest('hex') }
}
