/**
 * The content cipher of streamed messages, on a thread of its own, so AES runs while the main
 * thread moves bytes between sockets. Requests for one message arrive in order and are answered in
 * order. Buffers travel as transferred ArrayBuffers (no copy).
 */
import { createCipheriv, type CipherGCM } from 'node:crypto'
import { parentPort } from 'node:worker_threads'
import type { CipherReply, CipherRequest } from './cipher-protocol.js'

/** The ArrayBuffer to transfer for `bytes`: its own when it spans all of it, else a copy. */
function transferable(bytes: Buffer): ArrayBuffer {
  const whole =
    bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer
  return whole ? (bytes.buffer as ArrayBuffer) : (Uint8Array.prototype.slice.call(bytes).buffer as ArrayBuffer)
}

export type ReplyPort = (reply: CipherReply, transfer: ArrayBuffer[]) => void

/** One worker's messages in progress: a request at a time, replies through `reply`. Exported for tests. */
export function cipherRequestHandler(reply: ReplyPort): (request: CipherRequest) => void {
  const ciphers = new Map<number, CipherGCM>()
  return (request) => {
    const { id } = request
    try {
      switch (request.op) {
        case 'start': {
          // The key arrived by transfer: this is the only copy in JS memory, wiped whatever happens.
          // OpenSSL keeps its own (the key schedule), cleared when the context is freed at final().
          const key = new Uint8Array(request.key)
          try {
            const options = request.authTagLength ? { authTagLength: request.authTagLength } : undefined
            const iv = Buffer.from(request.iv)
            ciphers.set(
              id,
              createCipheriv(request.cipher as 'aes-256-gcm', key, iv, options as { authTagLength: number }),
            )
          } finally {
            key.fill(0)
          }
          return
        }
        case 'update': {
          const out = transferable(ciphers.get(id)!.update(Buffer.from(request.data, 0, request.length)))
          // The plaintext buffer goes back too, to carry the stream's next batch. Dropped here, it would
          // be garbage of this thread's heap, which V8 collects only once 64 MB of it have piled up.
          reply({ id, data: out, spare: request.data }, [out, request.data])
          return
        }
        case 'final': {
          const cipher = ciphers.get(id)!
          ciphers.delete(id)
          const out = transferable(cipher.final())
          const authTag = request.authTag ? transferable(cipher.getAuthTag()) : undefined
          reply({ id, data: out, authTag }, authTag ? [out, authTag] : [out])
          return
        }
        case 'drop':
          endCipher(ciphers, id)
      }
    } catch (err) {
      endCipher(ciphers, id)
      reply({ id, error: (err as Error).message }, [])
    }
  }
}

/** Forgets an aborted message's cipher, ending it first so OpenSSL frees its key schedule now, not at GC. */
function endCipher(ciphers: Map<number, CipherGCM>, id: number) {
  const cipher = ciphers.get(id)
  ciphers.delete(id)
  try {
    cipher?.final()
  } catch {
    // The output is discarded; Node freed the context either way.
  }
}

// On a worker thread (imported by a test on the main thread, it does nothing).
const port = parentPort
if (port)
  port.on(
    'message',
    cipherRequestHandler((reply, transfer) => port.postMessage(reply, transfer)),
  )
