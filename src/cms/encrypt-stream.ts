import { Transform, type TransformCallback } from 'node:stream'
import { Errors } from '../errors.js'
import type { CipherWorkers, OffloadedCipher } from './cipher-workers.js'
import type { EnvelopeMessage } from './enveloped-data.js'

/** Plaintext handed to a cipher worker per request, and how many requests may be out at once. */
const BATCH_BYTES = 1024 * 1024
const BATCHES_IN_FLIGHT = 4
/**
 * A stream's first batch starts this small and doubles as data arrives, up to BATCH_BYTES (later
 * batches start at the size the stream reached): a stream of a few bytes never holds 1 MiB, and a
 * large one copies its first MiB at most once more.
 */
const FIRST_BATCH_BYTES = 16 * 1024

interface InFlight {
  done: boolean
  parts: Buffer[]
}

/**
 * Encrypts a payload as it flows: ContentInfo header first, then ciphertext chunk by chunk, then
 * the trailer. Memory stays at a few MiB whatever the payload size. With `declaredLength` the
 * output is DER and the payload must have exactly that many bytes.
 *
 * Given `workers`, the cipher runs on a worker thread: plaintext goes over in batches of up to 1 MiB
 * (up to four at a time) and ciphertext comes back in order, with the batch for refilling, so the
 * main thread keeps reading and writing sockets while AES runs, and a stream allocates at most five
 * batches however long it is.
 *
 * The content key leaves the message at construction: to the worker, or into the local cipher. A
 * stream destroyed early (an abort, an error) disposes of the message, so no key outlives it.
 */
export class EnvelopeEncryptStream extends Transform {
  private received = 0
  private readonly offloaded: OffloadedCipher | null
  private batch: Buffer | null = null
  private filled = 0
  /** Size of the next batch to allocate: grows with the data received (FIRST_BATCH_BYTES). */
  private batchBytes = FIRST_BATCH_BYTES
  private readonly inFlight: InFlight[] = []
  /** Full-size batches the worker has handed back, to fill again rather than allocate. */
  private readonly spares: ArrayBuffer[] = []
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
    if (workers) {
      const spec = message.takeCipherSpec()
      try {
        this.offloaded = workers.open(spec)
      } catch (err) {
        spec.key.fill(0) // no thread took it (after a transfer the view is empty, and this a no-op)
        throw err
      }
    } else {
      this.offloaded = null
      message.startLocalCipher()
    }
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
      if (!this.batch || this.filled === this.batch.length) this.growBatch(chunk.length - offset)
      const n = chunk.copy(this.batch!, this.filled, offset)
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
    this.message.dispose()
    this.spares.length = 0
    this.blocked = null
    callback(err)
  }

  /** Room for `wanted` more bytes: a batch twice as large (at most BATCH_BYTES), what is in it copied over. */
  private growBatch(wanted: number) {
    if (this.batch) this.batchBytes = Math.max(this.batchBytes, 2 * this.batch.length)
    const size = Math.min(BATCH_BYTES, Math.max(this.batchBytes, this.filled + wanted))
    const spare = size === BATCH_BYTES ? this.spares.pop() : undefined
    // Its own ArrayBuffer either way, so it can be transferred.
    const grown = spare ? Buffer.from(spare) : Buffer.allocUnsafeSlow(size)
    this.batch?.copy(grown, 0, 0, this.filled)
    this.batch = grown
    this.batchBytes = size
  }

  private sendBatch() {
    const batch = this.batch!
    this.track(
      this.offloaded!.update(batch.buffer as ArrayBuffer, this.filled).then(({ cipherText, spare }) => {
        if (spare?.byteLength === BATCH_BYTES && this.spares.length < BATCHES_IN_FLIGHT) this.spares.push(spare)
        return this.message.frame(cipherText)
      }),
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
