import { randomFillSync } from 'node:crypto'

/**
 * Cryptographically random bytes, drawn from the CSPRNG in 64 KiB refills and handed out once
 * each. Content keys and IVs for small messages then cost a copy instead of a CSPRNG call apiece
 * (a call costs ~50 allocations here; docs/performance.md has the measurement and the decision).
 * Every byte is used at most once and zeroed as it is handed out: the pool only moves forward, so it
 * never holds a key already in use, only bytes that are not yet anyone's. Reading them would need
 * the process memory, which also holds OpenSSL's DRBG state that the pool is drawn from.
 */
export class RandomPool {
  private readonly pool = Buffer.allocUnsafeSlow(64 * 1024)
  private offset = this.pool.length

  /**
   * `length` fresh random bytes in an allocation of their own: never a view on this pool nor a
   * slice of Node's shared 8 KiB Buffer pool, so the holder of a key can wipe it with fill(0) and
   * no other copy is left behind, and a worker can take it by transfer.
   */
  take(length: number): Buffer {
    const out = Buffer.allocUnsafeSlow(length)
    if (length > this.pool.length) return randomFillSync(out)
    if (this.offset + length > this.pool.length) {
      randomFillSync(this.pool)
      this.offset = 0
    }
    this.pool.copy(out, 0, this.offset, this.offset + length)
    this.pool.fill(0, this.offset, this.offset + length)
    this.offset += length
    return out
  }
}

export const randomPool = new RandomPool()
