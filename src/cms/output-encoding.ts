import { Transform } from 'node:stream'

/** How a ContentInfo is written out: raw DER/BER, base64 on one line, or PEM as OpenSSL writes it. */
export const OUTPUT_ENCODINGS = ['der', 'base64', 'pem'] as const
export type OutputEncoding = (typeof OUTPUT_ENCODINGS)[number]

const PEM_HEADER = Buffer.from('-----BEGIN CMS-----\n')
const PEM_FOOTER = Buffer.from('-----END CMS-----\n')
/** 48 input bytes make one full 64-character PEM line. */
const PEM_LINE_INPUT = 48

export function mediaType(encoding: OutputEncoding, authenticated: boolean): string {
  if (encoding === 'base64') return 'text/plain; charset=us-ascii'
  if (encoding === 'pem') return 'application/x-pem-file'
  return `application/pkcs7-mime; smime-type=${authenticated ? 'authEnveloped-data' : 'enveloped-data'}`
}

/** Length of the encoded output for `length` bytes of DER. */
export function encodedLength(encoding: OutputEncoding, length: number): number {
  const base64 = 4 * Math.ceil(length / 3)
  if (encoding === 'der') return length
  if (encoding === 'base64') return base64
  return PEM_HEADER.length + base64 + Math.ceil(base64 / 64) + PEM_FOOTER.length
}

/** Encodes a whole message held in memory. */
export function encodeWhole(encoding: OutputEncoding, der: Buffer): Buffer {
  if (encoding === 'der') return der
  if (encoding === 'base64') return Buffer.from(der.toString('base64'), 'latin1')
  return Buffer.concat([PEM_HEADER, wrapLines(der), PEM_FOOTER])
}

/** base64 in 64-character lines, each ended by a newline. */
function wrapLines(bytes: Buffer): Buffer {
  const base64 = Buffer.from(bytes.toString('base64'), 'latin1')
  const lines = Math.ceil(base64.length / 64)
  const out = Buffer.allocUnsafe(base64.length + lines)
  for (let line = 0, at = 0; line < lines; line++) {
    at += base64.copy(out, at, line * 64, Math.min(base64.length, line * 64 + 64))
    out[at++] = 0x0a
  }
  return out
}

/**
 * A stream that encodes DER as base64 or PEM while it flows: it emits whole 3-byte groups (whole
 * 48-byte lines for PEM) as they arrive and keeps at most one group's remainder back.
 */
export function createOutputEncoder(encoding: Exclude<OutputEncoding, 'der'>): Transform {
  const group = encoding === 'pem' ? PEM_LINE_INPUT : 3
  let rest: Buffer = Buffer.alloc(0)
  let started = false
  const encode = (bytes: Buffer) =>
    encoding === 'pem' ? wrapLines(bytes) : Buffer.from(bytes.toString('base64'), 'latin1')
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (!started && encoding === 'pem') this.push(PEM_HEADER)
      started = true
      const data = rest.length ? Buffer.concat([rest, chunk]) : chunk
      const usable = data.length - (data.length % group)
      rest = Buffer.from(data.subarray(usable))
      callback(null, usable ? encode(data.subarray(0, usable)) : undefined)
    },
    flush(callback) {
      if (!started && encoding === 'pem') this.push(PEM_HEADER)
      if (rest.length) this.push(encode(rest))
      callback(null, encoding === 'pem' ? PEM_FOOTER : undefined)
    },
  })
}
