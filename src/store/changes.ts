/** What a committed write touched, so caches of resolved recipients can drop exactly that. */
export type Change =
  | { kind: 'keystore'; alias: string }
  | { kind: 'encryptor'; id: string }
  /** Anything may have changed (many changes at once, or a replica that missed notifications). */
  | { kind: 'all' }

/**
 * Announces committed changes to whoever caches derived state. In-process today; a multi-replica
 * store publishes the same changes to its peers.
 */
export class ChangeFeed {
  private readonly listeners = new Set<(change: Change) => void>()

  subscribe(listener: (change: Change) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  publish(change: Change): void {
    for (const listener of this.listeners) listener(change)
  }
}
