import { randomFillSync } from 'node:crypto'

/**
 * Cryptographically random bytes, drawn from the CSPRNG in 64 KiB refills and handed out once
 * each. Content keys and IVs for small messages then cost a copy instead of a CSPRNG call apiece.
 * Every byte is used at most once: the pool only moves forward.
 */
export class RandomPool {
  private readonly pool = Buffer.allocUnsafeSlow(64 * 1024)
  private offset = this.pool.length

  /** `length` fresh random bytes in a buffer of their own (never a view on the pool). */
  take(length: number): Buffer {
    if (length > this.pool.length) return randomFillSync(Buffer.allocUnsafe(length))
    if (this.offset + length > this.pool.length) {
      randomFillSync(this.pool)
      this.offset = 0
    }
    const out = Buffer.allocUnsafe(length)
    this.pool.copy(out, 0, this.offset, this.offset + length)
    this.pool.fill(0, this.offset, this.offset + length) // no copy of a key lingers in the pool
    this.offset += length
    return out
  }
}

export const randomPool = new RandomPool()
