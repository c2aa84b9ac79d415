import { Transform, type TransformCallback } from 'node:stream'
import { Errors } from '../errors.js'
import type { CipherWorkers, OffloadedCipher } from './cipher-workers.js'
import type { EnvelopeMessage } from './enveloped-data.js'

/** Plaintext handed to a cipher worker per request, and how many requests may be out at once. */
const BATCH_BYTES = 1024 * 1024
const BATCHES_IN_FLIGHT = 4

interface InFlight {
  done: boolean
  parts: Buffer[]
}

/**
 * Encrypts a payload as it flows: ContentInfo header first, then ciphertext chunk by chunk, then
 * the trailer. Memory stays at a few MiB whatever the payload size. With `declaredLength` the
 * output is DER and the payload must have exactly that many bytes.
 *
 * Given `workers`, the cipher runs on a worker thread: plaintext goes over in 1 MiB batches (up to
 * four at a time) and ciphertext comes back in order, so the main thread keeps reading and writing
 * sockets while AES runs.
 */
export class EnvelopeEncryptStream extends Transform {
  private received = 0
  private readonly offloaded: OffloadedCipher | null
  private batch: Buffer | null = null
  private filled = 0
  private readonly inFlight: InFlight[] = []
  /** A _transform or _flush callback held back until the batches in flight drain below `limit`. */
  private blocked: { limit: number; callback: () => void } | null = null

  /** Payload bytes encrypted so far. */
  get bytesIn(): number {
    return this.received
  }

  constructor(
    private readonly message: EnvelopeMessage,
    private readonly declaredLength: number | undefined,
    private readonly maxBytes: number,
    workers?: CipherWorkers,
  ) {
    // 1 MiB each way: fewer backpressure round trips between socket, cipher and socket.
    super({ highWaterMark: 1024 * 1024 })
    this.push(message.head(declaredLength))
    this.offloaded = workers ? workers.open(message.takeCipherSpec()) : null
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.received += chunk.length
    if (this.received > this.maxBytes) return callback(new Errors.PAYLOAD_TOO_LARGE(this.maxBytes))
    if (this.declaredLength !== undefined && this.received > this.declaredLength) {
      return callback(new Errors.PAYLOAD_LENGTH_MISMATCH(this.received, this.declaredLength))
    }
    if (!this.offloaded) {
      for (const part of this.message.update(chunk)) this.push(part)
      return callback()
    }
    for (let offset = 0; offset < chunk.length;) {
      this.batch ??= Buffer.allocUnsafeSlow(BATCH_BYTES) // its own ArrayBuffer, so it can be transferred
      const n = chunk.copy(this.batch, this.filled, offset)
      this.filled += n
      offset += n
      if (this.filled === BATCH_BYTES) this.sendBatch()
    }
    this.whenBelow(BATCHES_IN_FLIGHT, callback)
  }

  override _flush(callback: TransformCallback): void {
    if (this.declaredLength !== undefined && this.received !== this.declaredLength) {
      return callback(new Errors.PAYLOAD_LENGTH_MISMATCH(this.received, this.declaredLength))
    }
    if (!this.offloaded) {
      for (const part of this.message.final()) this.push(part)
      return callback()
    }
    if (this.filled > 0) this.sendBatch()
    const authenticated = this.message.authenticated
    this.track(this.offloaded.final(authenticated).then(({ last, authTag }) => this.message.closing(last, authTag)))
    this.whenBelow(1, callback)
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.offloaded?.drop()
    this.blocked = null
    callback(err)
  }

  private sendBatch() {
    const batch = this.batch!
    this.track(
      this.offloaded!.update(batch.buffer as ArrayBuffer, this.filled).then((cipherText) =>
        this.message.frame(cipherText),
      ),
    )
    this.batch = null
    this.filled = 0
  }

  /** Queues a result; results are pushed strictly in the order they were queued. */
  private track(result: Promise<Buffer[]>) {
    const entry: InFlight = { done: false, parts: [] }
    this.inFlight.push(entry)
    result.then(
      (parts) => {
        entry.done = true
        entry.parts = parts
        while (this.inFlight[0]?.done) for (const part of this.inFlight.shift()!.parts) this.push(part)
        this.release()
      },
      (err: Error) => this.destroy(err),
    )
  }

  private whenBelow(limit: number, callback: () => void) {
    this.blocked = { limit, callback }
    this.release()
  }

  private release() {
    const blocked = this.blocked
    if (!blocked || this.inFlight.length >= blocked.limit) return
    // Cleared first: the callback may run the next _transform at once, which blocks anew.
    this.blocked = null
    blocked.callback()
  }
}
