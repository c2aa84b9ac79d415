import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { CipherReply, CipherRequest } from './cipher-protocol.js'

export interface CipherSpec {
  /** OpenSSL cipher name. */
  cipher: string
  key: Buffer
  iv: Buffer
  /** GCM only. */
  authTagLength?: number
}

type Output = Extract<CipherReply, { data: ArrayBuffer }>
type Pending = { resolve: (reply: Output) => void; reject: (err: Error) => void }

/**
 * Built, the worker is cipher-worker.js. Run from source (tsx, tap), it is cipher-worker.ts, and
 * Node 20 workers do not inherit the TypeScript loader, so the worker registers tsx first, and
 * leaves out the parent's --import hooks (a test runner's among them).
 */
function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./cipher-worker.js', import.meta.url))
  const source = new URL('./cipher-worker.ts', import.meta.url).href
  const tsx = import.meta.resolve('tsx/esm/api')
  return new Worker(
    `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(source)}) })`,
    { eval: true, execArgv: [] },
  )
}

/** One worker thread and the replies each of its messages waits for, in order. */
class CipherThread {
  readonly worker = startWorker()
  readonly waiting = new Map<number, Pending[]>()
  dead: Error | null = null

  constructor() {
    // A thread that fails takes its messages down (their responses are cut); the next message gets a new one.
    const fail = (err: Error) => {
      this.dead ??= err
      for (const queue of this.waiting.values()) for (const p of queue) p.reject(this.dead)
      this.waiting.clear()
      this.worker.unref()
    }
    this.worker.on('error', fail)
    this.worker.on('exit', (code) => fail(new Error(`cipher worker exited with code ${code}`)))
    this.worker.on('message', (reply: CipherReply) => {
      const queue = this.waiting.get(reply.id)
      const next = queue?.shift()
      if (!next) return
      if ('error' in reply) next.reject(new Error(`content cipher failed: ${reply.error}`))
      else next.resolve(reply)
    })
    this.worker.unref()
  }

  get active() {
    return this.waiting.size
  }

  /** An idle thread does not keep the process alive; one with messages in progress does. */
  begin(id: number) {
    if (this.waiting.size === 0) this.worker.ref()
    this.waiting.set(id, [])
  }

  end(id: number): boolean {
    const had = this.waiting.delete(id)
    if (had && this.waiting.size === 0) this.worker.unref()
    return had
  }
}

/**
 * Worker threads that run the content cipher of streamed messages. AES-CBC cannot be split within
 * one message, but on its own thread it overlaps with the socket I/O and CMS framing on the main
 * thread. On two cores, 1 GB with a Content-Length went from 583 to 844 MB/s (docs/performance.md).
 */
export class CipherWorkers {
  private readonly threads: CipherThread[] = []
  private readonly size: number
  private nextId = 1

  /** `size` 0: one thread per core beyond the main thread's, at least one. */
  constructor(size = 0) {
    this.size = size > 0 ? size : Math.max(1, availableParallelism() - 1)
  }

  /** Starts every thread now, so the first large payload does not wait for one (or count its memory). */
  warm(): void {
    while (this.threads.length < this.size) this.threads.push(new CipherThread())
  }

  /** Starts a message's cipher on the least busy thread. */
  open(spec: CipherSpec): OffloadedCipher {
    for (let i = this.threads.length - 1; i >= 0; i--) if (this.threads[i]!.dead) this.threads.splice(i, 1)
    if (this.threads.length < this.size) this.threads.push(new CipherThread())
    const thread = this.threads.reduce((a, b) => (b.active < a.active ? b : a))
    return new OffloadedCipher(thread, this.nextId++, spec)
  }

  /** Messages whose cipher is still held by a worker (finished and aborted ones are released). */
  get activeMessages(): number {
    return this.threads.reduce((n, t) => n + t.active, 0)
  }

  /** Kills the threads without closing the pool, as a crash would (tests only). */
  async terminateForTest(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.worker.terminate()))
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.splice(0).map((t) => t.worker.terminate()))
  }
}

/** A key's bytes as an ArrayBuffer of their own, to transfer; a key that shares its memory is copied, then wiped. */
function ownArrayBuffer(key: Buffer): ArrayBuffer {
  if (key.byteOffset === 0 && key.byteLength === key.buffer.byteLength && key.buffer instanceof ArrayBuffer)
    return key.buffer
  const copy = new Uint8Array(key).buffer
  key.fill(0)
  return copy
}

/** One message's content cipher, running on a worker thread. */
export class OffloadedCipher {
  constructor(
    private readonly thread: CipherThread,
    private readonly id: number,
    spec: CipherSpec,
  ) {
    thread.begin(id)
    // The key crosses by transfer: its memory moves to the worker (which wipes it once its cipher has
    // the key) and this thread's view is detached, so no copy stays here. Not posted (a dead thread),
    // it is wiped here.
    const key = ownArrayBuffer(spec.key)
    try {
      const iv = new Uint8Array(spec.iv).buffer
      this.post({ op: 'start', id, cipher: spec.cipher, key, iv, authTagLength: spec.authTagLength }, [key])
    } finally {
      if (key.byteLength > 0) new Uint8Array(key).fill(0)
    }
  }

  /**
   * Encrypts the first `length` bytes of `data`, which is transferred (unusable here until it comes
   * back as `spare`, with the ciphertext, to be filled again).
   */
  update(data: ArrayBuffer, length: number): Promise<{ cipherText: Buffer; spare?: ArrayBuffer }> {
    return this.request({ op: 'update', id: this.id, data, length }, [data]).then((r) => ({
      cipherText: Buffer.from(r.data),
      spare: r.spare,
    }))
  }

  /** The last ciphertext block and, for GCM, the authentication tag. */
  async final(authTag: boolean): Promise<{ last: Buffer; authTag?: Buffer }> {
    const reply = await this.request({ op: 'final', id: this.id, authTag }, [])
    this.thread.end(this.id)
    return { last: Buffer.from(reply.data), authTag: reply.authTag ? Buffer.from(reply.authTag) : undefined }
  }

  /** Forgets the message (aborted): the worker drops its cipher and key. */
  drop(): void {
    if (!this.thread.end(this.id)) return
    this.post({ op: 'drop', id: this.id }, [])
  }

  private request(message: CipherRequest, transfer: ArrayBuffer[]) {
    return new Promise<Output>((resolve, reject) => {
      if (this.thread.dead) return reject(this.thread.dead)
      const queue = this.thread.waiting.get(this.id)
      if (!queue) return reject(new Error('the message was dropped'))
      queue.push({ resolve, reject })
      this.post(message, transfer)
    })
  }

  private post(message: CipherRequest, transfer: ArrayBuffer[]) {
    if (!this.thread.dead) this.thread.worker.postMessage(message, transfer)
  }
}
