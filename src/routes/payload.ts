import type { Readable } from 'node:stream'
import { Errors } from '../errors.js'

/** Reads a body of known length into one preallocated buffer (no concat of chunks, no async iterator). */
export function readExactly(stream: Readable, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out = Buffer.allocUnsafe(length)
    let at = 0
    const fail = (err: Error) => {
      cleanup()
      stream.resume() // discard what is left rather than leave the socket stuck
      reject(err)
    }
    const onData = (chunk: Buffer) => {
      if (at + chunk.length > length) return fail(new Errors.PAYLOAD_LENGTH_MISMATCH(at + chunk.length, length))
      chunk.copy(out, at)
      at += chunk.length
    }
    const onEnd = () => {
      cleanup()
      if (at === length) resolve(out)
      else reject(new Errors.PAYLOAD_LENGTH_MISMATCH(at, length))
    }
    const onError = () => fail(new Errors.REQUEST_ABORTED())
    const onClose = () => {
      if (!stream.readableEnded) fail(new Errors.REQUEST_ABORTED())
    }
    const cleanup = () => stream.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose)
    stream.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose)
  })
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
