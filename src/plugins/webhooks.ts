import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { anchorOf } from '../audit/anchor.js'
import { expiryThresholds, type Config } from '../config.js'
import { encryptorRepository } from '../encryptors/repository.js'
import { waitingOf } from '../renewals/events.js'
import { renewalRepository } from '../renewals/repository.js'
import { ChangeFeed } from '../store/changes.js'
import { storedCertificate } from '../store/receiver-certificates.js'
import type { Executor } from '../store/schema.js'
import { onEventsCommitted } from '../webhooks/outbox.js'
import { SecretBox } from '../webhooks/secret-box.js'
import { TimedEventScheduler, type TimedEventSources } from '../webhooks/scheduler.js'
import { SubscriptionService } from '../webhooks/subscriptions.js'
import { configureTimedEvents, type WaitingRenewal, type WatchedCertificate } from '../webhooks/timed-events.js'
import { DeliveryWorker } from '../webhooks/worker.js'

declare module 'fastify' {
  interface FastifyInstance {
    webhooks: SubscriptionService
    webhookWorker: DeliveryWorker
    webhookScheduler: TimedEventScheduler
  }
}

export interface WebhooksOptions {
  config: Config
  /** The scheduler's and worker's clock: tests move it across expiry thresholds instead of waiting. */
  clock?: () => Date
}

/** What the scheduler watches, read from the keystore, encryptor and renewal tables. */
export const timedEventSources: TimedEventSources = {
  async certificates(db: Executor) {
    const [entries, keyPairs, encryptors] = await Promise.all([
      db.selectFrom('keystore_entries').select(['alias', 'certificate', 'sha256_fingerprint']).execute(),
      db.selectFrom('key_pairs').select(['alias', 'certificate', 'sha256_fingerprint']).execute(),
      encryptorRepository.list(db),
    ])
    const receivers = entries.map((e): WatchedCertificate => ({
      alias: e.alias,
      certificate: storedCertificate(e),
      usedBy: encryptors.filter((x) => x.receiverAliases.includes(e.alias)).map((x) => x.id),
    }))
    const signers = keyPairs.map((k): WatchedCertificate => ({
      alias: k.alias,
      certificate: storedCertificate(k),
      usedBy: encryptors.filter((x) => x.signer?.alias === k.alias).map((x) => x.id),
      kind: 'key-pair',
    }))
    return [...receivers, ...signers]
  },
  async waitingRenewals(db: Executor) {
    const active = await renewalRepository.list(db, { state: 'active' })
    return active.map(waitingOf).filter((w): w is WaitingRenewal => w !== null)
  },
}

/**
 * Webhooks: the subscriptions service, this replica's delivery worker and its (lease-holding, when it wins
 * the lease) timed-event scheduler. Both start when the server is ready and stop before the store closes.
 */
export default fp(
  async function webhooks(fastify: FastifyInstance, opts: WebhooksOptions) {
    const { config } = opts
    const replicaId = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`
    configureTimedEvents(fastify.db, {
      expiryThresholdsDays: expiryThresholds(config),
      renewalWaitingMs: config.WEBHOOK_RENEWAL_WAITING_HOURS * 3_600_000,
    })
    const policy = { allowHttp: config.WEBHOOK_ALLOW_HTTP, allowPrivate: config.WEBHOOK_ALLOW_PRIVATE_ADDRESSES }
    // Sealed under a key from the audit key file, which replicas share and the database does not hold.
    const anchor = anchorOf(fastify.db)
    if (!anchor) throw new Error('webhooks: the audit anchor must be open before the webhooks start')
    const secrets = new SecretBox(anchor.key.derive('webhook secrets'))
    fastify.decorate('webhooks', new SubscriptionService(fastify.db, new ChangeFeed(), policy, secrets))
    const worker = new DeliveryWorker(fastify.db, {
      replicaId,
      secrets,
      post: { ...policy, timeoutMs: config.WEBHOOK_TIMEOUT_MS },
      retry: {
        baseMs: config.WEBHOOK_RETRY_BASE_MS,
        capMs: Math.max(config.WEBHOOK_RETRY_BASE_MS, config.WEBHOOK_RETRY_CAP_MS),
        forMs: config.WEBHOOK_RETRY_FOR_HOURS * 3_600_000,
      },
      concurrency: config.WEBHOOK_CONCURRENCY,
      pollMs: config.WEBHOOK_POLL_MS,
      now: opts.clock,
      onAttempt: (type, outcome, seconds) => {
        fastify.metrics.webhookDeliveries.inc({ event_type: type, outcome })
        fastify.metrics.webhookAttemptSeconds.observe({ outcome }, seconds)
      },
      onError: (err) => fastify.log.warn({ err }, 'webhook delivery round failed; retrying'),
    })
    fastify.decorate('webhookWorker', worker)
    onEventsCommitted(fastify.db, () => worker.wake())
    const scheduler = new TimedEventScheduler(fastify.db, timedEventSources, {
      replicaId,
      intervalMs: config.WEBHOOK_SCHEDULER_INTERVAL_MS,
      retentionMs: config.WEBHOOK_RETENTION_DAYS * 86_400_000,
      now: opts.clock,
      onFired: (count) => fastify.log.info({ count }, 'timed webhook events fired'),
      onError: (err) => fastify.log.warn({ err }, 'webhook scheduler round failed; retrying next round'),
    })
    fastify.decorate('webhookScheduler', scheduler)

    fastify.addHook('onReady', async () => {
      worker.start()
      scheduler.start()
    })
    // Before the store closes (onClose): attempts in flight finish and are recorded.
    fastify.addHook('preClose', async () => {
      await scheduler.stop()
      await worker.stop()
    })
  },
  { name: 'webhooks', dependencies: ['services', 'metrics'] },
)
