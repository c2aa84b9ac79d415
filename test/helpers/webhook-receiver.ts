import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { Webhook } from 'standardwebhooks'
import { asRoleOn } from './as-role.js'
import type { Test } from 'tap'

export interface ReceivedEvent {
  id: string
  type: string
  timestamp: string
  data: Record<string, unknown>
  /** Whether the standardwebhooks package (not our code) accepted the signature with the current secrets. */
  verified: boolean
  headers: IncomingHttpHeaders
}

/**
 * A webhook receiver on 127.0.0.1, as a subscriber would run one: every request's signature is checked with
 * the `standardwebhooks` npm package. It can be taken down (the port closed: connections refused) or made
 * to fail (503) and brought back, on the same port, as a receiver that restarts would be.
 */
export class WebhookReceiver {
  /** Every request that reached the receiver while it answered 2xx, in arrival order (duplicates included). */
  readonly received: ReceivedEvent[] = []
  /** Requests answered with an error while failing. */
  refused = 0
  secrets: string[] = []
  mode: 'up' | 'failing' = 'up'
  private server: Server | undefined
  private port = 0

  static async start(t: Test): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver()
    await receiver.up()
    t.teardown(() => receiver.down())
    return receiver
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`
  }

  /** Listens (again, on the same port once it had one). */
  async up(): Promise<void> {
    if (this.server) return
    this.mode = 'up'
    const server = createServer((request, response) => {
      const chunks: Buffer[] = []
      request.on('data', (c: Buffer) => chunks.push(c))
      request.on('end', () => {
        if (this.mode === 'failing') {
          this.refused++
          response.writeHead(503).end('receiver down for maintenance')
          return
        }
        const body = Buffer.concat(chunks).toString('utf8')
        const parsed = JSON.parse(body) as { type: string; timestamp: string; data: Record<string, unknown> }
        this.received.push({
          id: String(request.headers['webhook-id']),
          type: parsed.type,
          timestamp: parsed.timestamp,
          data: parsed.data,
          verified: this.verify(body, request.headers),
          headers: request.headers,
        })
        response.writeHead(204).end()
      })
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.port, '127.0.0.1', () => resolve())
    })
    this.port = (server.address() as AddressInfo).port
    this.server = server
  }

  /** Stops listening: deliveries meet a refused connection until `up()`. */
  async down(): Promise<void> {
    const server = this.server
    if (!server) return
    this.server = undefined
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  /** Events once each, by webhook-id, in first-arrival order: what a receiver that deduplicates keeps. */
  unique(): ReceivedEvent[] {
    const seen = new Set<string>()
    return this.received.filter((e) => !seen.has(e.id) && seen.add(e.id) !== undefined)
  }

  duplicates(): number {
    return this.received.length - new Set(this.received.map((e) => e.id)).size
  }

  /** Waits until `done()` holds; fails after `deadlineMs` (a bound against hanging, not a timing assertion). */
  async until(done: () => boolean, what: string, deadlineMs = 60_000): Promise<void> {
    const start = Date.now()
    while (!done()) {
      if (Date.now() - start > deadlineMs) throw new Error(`webhook receiver: still waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  private verify(body: string, headers: IncomingHttpHeaders): boolean {
    const plain = {
      'webhook-id': String(headers['webhook-id']),
      'webhook-timestamp': String(headers['webhook-timestamp']),
      'webhook-signature': String(headers['webhook-signature']),
    }
    return this.secrets.some((secret) => {
      try {
        new Webhook(secret).verify(body, plain)
        return true
      } catch {
        return false
      }
    })
  }
}

/** What the service needs to deliver to a receiver on 127.0.0.1 (tests only), polling often. */
export const LOCAL_RECEIVER = {
  WEBHOOK_ALLOW_HTTP: 'true',
  WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
  WEBHOOK_POLL_MS: '50',
}

/** Subscribes `receiver` (its secret kept to verify with); answers the subscription. */
export async function subscribe(app: FastifyInstance, receiver: WebhookReceiver, events: string[] = ['*']) {
  const res = await asRoleOn(app)('tenant-admin').post('/webhooks', { url: receiver.url, events })
  if (res.statusCode !== 201) throw new Error(`subscribe: ${res.statusCode} ${res.body}`)
  const body = res.json() as { id: string; secret: string }
  receiver.secrets.push(body.secret)
  return body
}

/** Waits until `subscription` has no delivery pending (the loop bounds a hang, it asserts no timing). */
export async function drained(app: FastifyInstance, subscription: string): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    const res = await asRoleOn(app)('tenant-admin').get(`/webhooks/${subscription}/deliveries?state=pending`)
    if ((res.json() as { deliveries: unknown[] }).deliveries.length === 0) return
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error('deliveries still pending')
}
