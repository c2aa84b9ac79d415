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

/**
 * Whether processes other than this one have committed to the store: `version()` answers a number
 * that changes once another process has committed, and never for this process's own commits (those
 * are on the ChangeFeed already). It cannot say what changed, only that something may have.
 *
 * SQLite needs it when two processes share one file (an overlapping restart, or a second process
 * started by mistake): nothing else tells one about the other's writes. PostgreSQL answers a
 * constant: its replicas announce every change (change-listener.ts). The answer is a Promise only
 * while this process has a transaction open on the store: asked inside it, the store would answer
 * as of that transaction's snapshot, so the question waits for the transaction to end.
 */
export interface ExternalCommits {
  version(): number | Promise<number>
}

/** For a store whose other writers announce their changes on the feed (PostgreSQL, tests). */
export const ANNOUNCED_COMMITS_ONLY: ExternalCommits = { version: () => 0 }
