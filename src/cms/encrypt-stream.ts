import { Transform, type TransformCallback } from 'node:stream'
import { Errors } from '../errors.js'
import type { EnvelopeMessage } from './enveloped-data.js'

/**
 * Encrypts a payload as it flows: ContentInfo header first, then ciphertext chunk by chunk, then
 * the trailer. Memory stays at a chunk or two whatever the payload size. With `declaredLength`
 * the output is DER and the payload must have exactly that many bytes.
 */
export class EnvelopeEncryptStream extends Transform {
  private received = 0

  /** Payload bytes encrypted so far. */
  get bytesIn(): number {
    return this.received
  }

  constructor(
    private readonly message: EnvelopeMessage,
    private readonly declaredLength: number | undefined,
    private readonly maxBytes: number,
  ) {
    // 1 MiB each way: fewer backpressure round trips between socket, cipher and socket. Memory
    // stays bounded by these buffers, whatever the payload size.
    super({ highWaterMark: 1024 * 1024 })
    this.push(message.head(declaredLength))
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.received += chunk.length
    if (this.received > this.maxBytes) return callback(new Errors.PAYLOAD_TOO_LARGE(this.maxBytes))
    if (this.declaredLength !== undefined && this.received > this.declaredLength) {
      return callback(new Errors.PAYLOAD_LENGTH_MISMATCH(this.received, this.declaredLength))
    }
    for (const part of this.message.update(chunk)) this.push(part)
    callback()
  }

  override _flush(callback: TransformCallback): void {
    if (this.declaredLength !== undefined && this.received !== this.declaredLength) {
      return callback(new Errors.PAYLOAD_LENGTH_MISMATCH(this.received, this.declaredLength))
    }
    for (const part of this.message.final()) this.push(part)
    callback()
  }
}
