/**
 * The content cipher of streamed messages, on a thread of its own, so AES runs while the main
 * thread moves bytes between sockets. Requests for one message arrive in order and are answered in
 * order. Buffers travel as transferred ArrayBuffers (no copy).
 */
import { createCipheriv, type CipherGCM } from 'node:crypto'
import { parentPort } from 'node:worker_threads'
import type { CipherReply, CipherRequest } from './cipher-protocol.js'

const ciphers = new Map<number, CipherGCM>()
const port = parentPort!

/** The ArrayBuffer to transfer for `bytes`: its own when it spans all of it, else a copy. */
function transferable(bytes: Buffer): ArrayBuffer {
  const whole =
    bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer
  return whole ? (bytes.buffer as ArrayBuffer) : (Uint8Array.prototype.slice.call(bytes).buffer as ArrayBuffer)
}

port.on('message', (request: CipherRequest) => {
  const { id } = request
  try {
    switch (request.op) {
      case 'start': {
        const key = Buffer.from(request.key)
        const options = request.authTagLength ? { authTagLength: request.authTagLength } : undefined
        ciphers.set(
          id,
          createCipheriv(
            request.cipher as 'aes-256-gcm',
            key,
            Buffer.from(request.iv),
            options as { authTagLength: number },
          ),
        )
        key.fill(0)
        new Uint8Array(request.key).fill(0)
        return
      }
      case 'update': {
        const out = transferable(ciphers.get(id)!.update(Buffer.from(request.data, 0, request.length)))
        port.postMessage({ id, data: out } satisfies CipherReply, [out])
        return
      }
      case 'final': {
        const cipher = ciphers.get(id)!
        ciphers.delete(id)
        const out = transferable(cipher.final())
        const authTag = request.authTag ? transferable(cipher.getAuthTag()) : undefined
        port.postMessage({ id, data: out, authTag } satisfies CipherReply, authTag ? [out, authTag] : [out])
        return
      }
      case 'drop':
        ciphers.delete(id)
    }
  } catch (err) {
    ciphers.delete(id)
    port.postMessage({ id, error: (err as Error).message } satisfies CipherReply)
  }
})
