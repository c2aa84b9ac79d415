import { Transform, type TransformCallback } from 'node:stream'
import { Errors } from '../errors.js'
import type { SignedDataMessage } from './signed-data.js'

/**
 * Wraps a payload in SignedData as it flows: the head first, then the payload (digested on the
 * way, framed as BER pieces when the length is not known), then, once the payload has ended, the
 * signature and the SignerInfo. Memory stays constant whatever the payload size. It enforces the
 * payload limits (MAX_PAYLOAD_BYTES, the declared length), since what follows it, the envelope,
 * sees the SignedData, not the payload.
 */
export class SignStream extends Transform {
  private received = 0

  /** Payload bytes signed so far. */
  get bytesIn(): number {
    return this.received
  }

  constructor(
    private readonly message: SignedDataMessage,
    private readonly declaredLength: number | undefined,
    private readonly maxBytes: number,
  ) {
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
    this.message.tail().then(
      (tail) => callback(null, tail),
      (err: Error) => callback(err),
    )
  }
}
