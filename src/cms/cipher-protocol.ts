/** Messages between the main thread and a cipher worker (cipher-worker.ts). */
export type CipherRequest =
  | { op: 'start'; id: number; cipher: string; key: ArrayBuffer; iv: ArrayBuffer; authTagLength?: number }
  | { op: 'update'; id: number; data: ArrayBuffer; length: number }
  | { op: 'final'; id: number; authTag: boolean }
  | { op: 'drop'; id: number }

/**
 * The answer to one update or final, in request order per message; `error` when the cipher failed.
 * An update's `spare` is its plaintext buffer, handed back for the stream's next batch.
 */
export type CipherReply =
  { id: number; data: ArrayBuffer; authTag?: ArrayBuffer; spare?: ArrayBuffer } | { id: number; error: string }
