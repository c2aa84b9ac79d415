import pg from 'pg'
import type { Change, ChangeFeed } from './changes.js'
import { CHANGES_CHANNEL } from './transact.js'

export interface ListenerHooks {
  /** The connection is gone: changes may be missed from now on, so caches must not be trusted. */
  onDown(): void
  /** Listening again: everything cached may be stale and must be reloaded before it is served. */
  onUp(): void
  onError(message: string): void
}

const HEARTBEAT_MS = 1000
const MAX_BACKOFF_MS = 2000

/**
 * One replica's ear on the changes every other replica commits: a dedicated PostgreSQL connection
 * that LISTENs and republishes each announced change on the local feed. A heartbeat query notices
 * a connection that died silently; on any loss it reports down, reconnects with backoff, and reports
 * up only once it is listening again.
 */
export class ChangeListener {
  connected = false
  private client: pg.Client | undefined
  private closed = false
  private heartbeat: NodeJS.Timeout | undefined
  private retry: NodeJS.Timeout | undefined
  private backoff = 50

  constructor(
    private readonly url: string,
    private readonly feed: ChangeFeed,
    private readonly hooks: ListenerHooks,
  ) {}

  /** Connects and listens; the first connection must succeed (the store was just reachable). */
  async start(): Promise<void> {
    await this.connect()
    this.heartbeat = setInterval(() => void this.ping(), HEARTBEAT_MS)
    this.heartbeat.unref()
  }

  async close(): Promise<void> {
    this.closed = true
    clearInterval(this.heartbeat)
    clearTimeout(this.retry)
    await this.client?.end().catch(() => {})
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.url,
      application_name: `cms-encryptor-listener:${process.pid}`,
      keepAlive: true,
    })
    client.on('notification', (message) => {
      if (message.channel !== CHANGES_CHANNEL || !message.payload) return
      try {
        for (const change of JSON.parse(message.payload) as Change[]) this.feed.publish(change)
      } catch {
        this.feed.publish({ kind: 'all' }) // unreadable: assume anything changed
      }
    })
    client.on('error', (err) => this.lost(client, err.message))
    client.on('end', () => this.lost(client, 'connection ended'))
    await client.connect()
    await client.query(`LISTEN ${CHANGES_CHANNEL}`)
    this.client = client
    this.connected = true
    this.backoff = 50
    this.hooks.onUp()
  }

  private async ping(): Promise<void> {
    const client = this.client
    if (!client || !this.connected) return
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('heartbeat timed out')), HEARTBEAT_MS).unref(),
    )
    try {
      await Promise.race([client.query('select 1'), timeout])
    } catch (err) {
      this.lost(client, (err as Error).message)
    }
  }

  private lost(client: pg.Client, reason: string): void {
    if (client !== this.client || this.closed) return
    this.client = undefined
    client.removeAllListeners('end')
    client.on('error', () => {})
    void client.end().catch(() => {})
    if (this.connected) {
      this.connected = false
      this.hooks.onDown()
      this.hooks.onError(`change notifications lost (${reason}); encrypts refused until reconnected`)
    }
    this.scheduleReconnect()
  }

  private scheduleReconnect(): void {
    if (this.closed) return
    this.retry = setTimeout(() => {
      this.connect().catch((err: Error) => {
        this.hooks.onError(`reconnecting change notifications failed: ${err.message}`)
        this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS)
        this.scheduleReconnect()
      })
    }, this.backoff)
  }
}
