import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { ROLES } from '../auth/tokens.js'
import { daysUntilExpiry } from '../cms/validity.js'
import { pendingStep } from '../renewals/procedures.js'
import { oldestPendingAgeSeconds } from '../webhooks/deliveries.js'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: ServiceMetrics
  }
}

const MB = 1024 * 1024

/**
 * Prometheus metrics. Labels carry only route templates, status codes, error codes, aliases and
 * procedure names: never payload bytes, tokens or certificates.
 */
export class ServiceMetrics {
  readonly registry = new Registry()

  readonly requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by method, route template and status.',
    labelNames: ['method', 'route', 'status'],
    registers: [this.registry],
  })

  readonly duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by method, route template and status.',
    labelNames: ['method', 'route', 'status'],
    registers: [this.registry],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
  })

  readonly payloadBytes = new Histogram({
    name: 'cms_encrypt_payload_bytes',
    help: 'Size of encrypted payloads.',
    registers: [this.registry],
    buckets: [1024, 10 * 1024, 100 * 1024, MB, 10 * MB, 100 * MB, 1024 * MB, 2048 * MB],
  })

  readonly recipients = new Histogram({
    name: 'cms_encrypt_recipients',
    help: 'RecipientInfos per encrypted message.',
    registers: [this.registry],
    buckets: [1, 2, 3, 5, 10, 20],
  })

  readonly encryptErrors = new Counter({
    name: 'cms_encrypt_errors_total',
    help: 'Encrypt requests that failed, by reason (error code).',
    labelNames: ['reason'],
    registers: [this.registry],
  })

  readonly webhookDeliveries = new Counter({
    name: 'cms_webhook_deliveries_total',
    help: 'Webhook delivery attempts by event type and outcome (delivered, retrying, failed: retries ran out).',
    labelNames: ['event_type', 'outcome'],
    registers: [this.registry],
  })

  readonly webhookAttemptSeconds = new Histogram({
    name: 'cms_webhook_attempt_duration_seconds',
    help: 'Time of one webhook delivery attempt, by outcome.',
    labelNames: ['outcome'],
    registers: [this.registry],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  })

  encrypted(payloadBytes: number, recipients: number): void {
    this.payloadBytes.observe(payloadBytes)
    this.recipients.observe(recipients)
  }
}

/** /metrics, per-request metrics, and gauges read from the store at scrape time. */
export default fp(
  async function metrics(fastify: FastifyInstance, opts: { requireToken: boolean }) {
    const m = new ServiceMetrics()
    collectDefaultMetrics({ register: m.registry })
    fastify.decorate('metrics', m)

    new Gauge({
      name: 'cms_certificate_not_after_seconds',
      help: 'End of validity of the certificate under each alias (Unix time).',
      labelNames: ['alias'],
      registers: [m.registry],
      async collect() {
        this.reset()
        for (const e of await fastify.keystore.list())
          this.set({ alias: e.alias }, e.certificate.notAfter.getTime() / 1000)
      },
    })
    new Gauge({
      name: 'cms_certificate_days_to_expiry',
      help: 'Days until the certificate under each alias expires (negative: expired).',
      labelNames: ['alias'],
      registers: [m.registry],
      async collect() {
        this.reset()
        for (const e of await fastify.keystore.list()) this.set({ alias: e.alias }, daysUntilExpiry(e.certificate))
      },
    })
    new Gauge({
      name: 'cms_renewals_active',
      help: 'Active renewals by procedure and the step they wait for.',
      labelNames: ['procedure', 'step'],
      registers: [m.registry],
      async collect() {
        this.reset()
        for (const r of await fastify.renewals.list({ state: 'active' })) {
          this.inc({
            procedure: r.procedure,
            step: pendingStep({ procedure: r.procedure, state: r.state, done: r.done })?.step ?? 'none',
          })
        }
      },
    })
    new Gauge({
      name: 'cms_webhook_oldest_pending_seconds',
      help: 'Age of the oldest webhook delivery not yet delivered (0: none pending): how far behind delivery is.',
      registers: [m.registry],
      async collect() {
        this.set(await oldestPendingAgeSeconds(fastify.db))
      },
    })
    new Gauge({
      name: 'cms_encryptors_paused',
      help: 'Encryptors paused by a downtime renewal.',
      registers: [m.registry],
      async collect() {
        this.set((await fastify.encryptors.list()).filter((e) => e.pause).length)
      },
    })

    fastify.addHook('onResponse', async (request, reply) => {
      const labels = {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      }
      m.requests.inc(labels)
      m.duration.observe(labels, reply.elapsedTime / 1000)
    })

    fastify.get(
      '/metrics',
      {
        // Behind a token of any role unless METRICS_REQUIRE_TOKEN=false (as Vault does): the metrics name
        // every alias and renewal, which is for operators, not for anyone who can reach the port.
        config: opts.requireToken ? { roles: ROLES } : { public: true },
        schema: {
          tags: ['ops'],
          summary: 'Prometheus metrics',
          description: 'Text exposition format. Needs a bearer token of any role unless METRICS_REQUIRE_TOKEN=false.',
          response: {
            200: {
              description: 'Prometheus text format 0.0.4.',
              content: { 'text/plain; version=0.0.4': { schema: { type: 'string' } } },
            },
          },
        },
      },
      async (_request, reply) => reply.type(m.registry.contentType).send(await m.registry.metrics()),
    )
  },
  { name: 'metrics', dependencies: ['services'] },
)
