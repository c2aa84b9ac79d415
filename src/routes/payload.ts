import type { Readable } from 'node:stream'
import { Errors } from '../errors.js'

/** Reads a body of known length into one preallocated buffer (no concat of chunks). */
export async function readExactly(stream: Readable, length: number): Promise<Buffer> {
  const out = Buffer.allocUnsafe(length)
  let at = 0
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (at + chunk.length > length) throw new Errors.PAYLOAD_LENGTH_MISMATCH(at + chunk.length, length)
      chunk.copy(out, at)
      at += chunk.length
    }
  } catch (err) {
    if ((err as { code?: string }).code?.startsWith('CMS_')) throw err
    throw new Errors.REQUEST_ABORTED()
  }
  if (at !== length) throw new Errors.PAYLOAD_LENGTH_MISMATCH(at, length)
  return out
}

/**
 * Waits for the first bytes of a body of unknown length and puts them back, so an empty body can
 * still be refused with a 400 before the 200 status line is committed.
 */
export function hasPayload(stream: Readable): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const done = (result: boolean | Error) => {
      stream.off('readable', onReadable).off('end', onEnd).off('error', onError)
      if (result instanceof Error) reject(result)
      else resolve(result)
    }
    const onReadable = () => {
      const chunk = stream.read() as Buffer | null
      if (chunk === null) return
      stream.unshift(chunk)
      done(true)
    }
    const onEnd = () => done(false)
    const onError = () => done(new Errors.REQUEST_ABORTED())
    stream.on('readable', onReadable).on('end', onEnd).on('error', onError)
  })
}
