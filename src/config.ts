import { envSchema } from 'env-schema'
import { isIP } from 'node:net'
import { Type, type Static } from 'typebox'

/** Every setting the service reads from its environment; validated once at start. */
const ConfigSchema = Type.Object({
  HOST: Type.String({ default: '127.0.0.1', description: 'Interface to listen on.' }),
  PORT: Type.Integer({ default: 8080, minimum: 0, maximum: 65535, description: 'TCP port.' }),
  DATA_DIR: Type.String({
    default: './data',
    minLength: 1,
    description: 'Directory of the embedded SQLite store and the bootstrap token file.',
  }),
  DATABASE_URL: Type.String({
    default: '',
    description:
      'PostgreSQL connection URL (postgres://user:pass@host:5432/db); empty for the embedded SQLite store in DATA_DIR.',
  }),
  AUTH_TOKENS_FILE: Type.String({
    default: '',
    description:
      'JSON file of token hashes and roles; empty to use the tokens in the store (bootstrapped on first start).',
  }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info', description: 'pino log level.' },
  ),
  BODY_LIMIT: Type.Integer({
    default: 1024 * 1024,
    minimum: 1024,
    description: 'Largest buffered request body (certificates, JSON), in bytes.',
  }),
  MAX_PAYLOAD_BYTES: Type.Integer({
    default: 2 * 1024 ** 3,
    minimum: 1,
    description: 'Largest payload the streaming encrypt endpoint accepts, in bytes.',
  }),
  CIPHER_THREADS: Type.Integer({
    default: 0,
    minimum: -1,
    maximum: 64,
    description:
      'Worker threads that run the content cipher of streamed payloads, started when the server listens ' +
      '(0: one per core beyond the first, at least one; -1: none, encrypt on the main thread).',
  }),
  EXPIRY_WARNING_DAYS: Type.Integer({
    default: 30,
    minimum: 0,
    maximum: 3650,
    description: 'Certificates expiring within this many days are flagged, and logged at warn level once a day.',
  }),
  METRICS_REQUIRE_TOKEN: Type.Boolean({
    default: true,
    description: 'Require a bearer token (any role) on GET /metrics; false opens it for a scrape on a private network.',
  }),
  AUDIT_KEY_FILE: Type.String({
    default: '',
    description:
      'File holding the key that signs the audit chain head (HMAC-SHA256); empty: DATA_DIR/audit-key, ' +
      'created once (mode 0600). Replicas must share it.',
  }),
  AUDIT_REANCHOR: Type.Boolean({
    default: false,
    description:
      'Sign the audit chain as it stands when its signed head is missing (after an upgrade with an explicit ' +
      'AUDIT_KEY_FILE, or a deliberate re-anchoring); off, a missing head refuses changes.',
  }),
  KEY_ENCRYPTION_KEY_FILE: Type.String({
    default: '',
    description:
      "File of the keys that seal the tenant's private keys at rest (AES-256-GCM), one base64 key of 32 bytes " +
      'per line: the first seals, all open. Empty: DATA_DIR/key-encryption-key, created once (mode 0600). ' +
      'Replicas must share it.',
  }),
  TRUST_PROXY: Type.String({
    default: '',
    description:
      'Proxies whose X-Forwarded-For is believed: empty or false (none), true (any peer), or ' +
      'comma-separated addresses/CIDRs (or loopback, linklocal, uniquelocal).',
  }),
  AUTH_FAILURE_LIMIT: Type.Integer({
    default: 30,
    minimum: 0,
    description: 'Failed authentications (401) per client address and RATE_LIMIT_WINDOW_MS (0: no limit).',
  }),
  MAX_CONCURRENT_STREAMS: Type.Integer({
    default: 64,
    minimum: 0,
    description: 'Streamed encrypts in progress at once per process; more are refused 503 + Retry-After (0: no limit).',
  }),
  RATE_LIMIT_MAX: Type.Integer({
    default: 600,
    minimum: 0,
    description: 'Requests per token (per client address without one) and RATE_LIMIT_WINDOW_MS (0: no limit).',
  }),
  RATE_LIMIT_WINDOW_MS: Type.Integer({
    default: 60_000,
    minimum: 1000,
    description: 'Rate limit window, milliseconds.',
  }),
  RATE_LIMIT_FLOWS: Type.Boolean({
    default: false,
    description: 'Also rate-limit integration-flow tokens (the encrypt hot path).',
  }),
  REQUEST_TIMEOUT_MS: Type.Integer({
    default: 900_000,
    minimum: 0,
    description: 'Time to receive a whole request, milliseconds (large payloads need long; 0: none).',
  }),
  IDLE_TIMEOUT_MS: Type.Integer({
    default: 60_000,
    minimum: 0,
    description: 'A connection with no data for this long is closed, milliseconds (0: never).',
  }),
  SHUTDOWN_GRACE_MS: Type.Integer({
    default: 60_000,
    minimum: 0,
    description: 'On SIGTERM, how long in-flight requests (streams included) may take to finish.',
  }),
  MAX_EVENT_LOOP_DELAY_MS: Type.Integer({
    default: 1000,
    minimum: 0,
    description: 'Shed load (503 + Retry-After) when the event loop lags this much (0: never).',
  }),
  WEBHOOK_ALLOW_HTTP: Type.Boolean({
    default: false,
    description: 'Accept http:// webhook URLs (events are then sent unencrypted); off, only https.',
  }),
  WEBHOOK_ALLOW_PRIVATE_ADDRESSES: Type.Boolean({
    default: false,
    description:
      'Deliver webhooks to loopback, private and other non-public addresses (checked after DNS, at every ' +
      'delivery); off, they are refused, so a subscription cannot reach the network behind the service.',
  }),
  WEBHOOK_TIMEOUT_MS: Type.Integer({
    default: 10_000,
    minimum: 100,
    maximum: 120_000,
    description: 'Deadline of one webhook delivery attempt: connect, request and response.',
  }),
  WEBHOOK_RETRY_BASE_MS: Type.Integer({
    default: 30_000,
    minimum: 10,
    description: 'Shortest wait before a failed webhook delivery is retried (backoff doubles from here, with jitter).',
  }),
  WEBHOOK_RETRY_CAP_MS: Type.Integer({
    default: 3_600_000,
    minimum: 10,
    description: 'Longest wait between two attempts of one webhook delivery.',
  }),
  WEBHOOK_RETRY_FOR_HOURS: Type.Integer({
    default: 24,
    minimum: 24,
    maximum: 720,
    description: 'How long a webhook delivery is retried before it is marked failed (at least a day).',
  }),
  WEBHOOK_CONCURRENCY: Type.Integer({
    default: 4,
    minimum: 1,
    maximum: 64,
    description: 'Webhook deliveries one replica attempts at once.',
  }),
  WEBHOOK_POLL_MS: Type.Integer({
    default: 1000,
    minimum: 10,
    maximum: 60_000,
    description: 'How often each replica looks for due webhook deliveries (its own events start at once).',
  }),
  WEBHOOK_EXPIRY_THRESHOLDS_DAYS: Type.String({
    default: '30,14,7,1',
    pattern: '^\\s*\\d+(\\s*,\\s*\\d+)*\\s*$',
    description: 'Days before a certificate ends at which certificate.expiring fires, once each (comma-separated).',
  }),
  WEBHOOK_RENEWAL_WAITING_HOURS: Type.Integer({
    default: 48,
    minimum: 1,
    maximum: 8760,
    description: 'A renewal waiting on one step this long fires renewal.waiting (once per step).',
  }),
  WEBHOOK_SCHEDULER_INTERVAL_MS: Type.Integer({
    default: 60_000,
    minimum: 100,
    maximum: 3_600_000,
    description: 'How often the scheduler (on one replica at a time) looks for timed webhook events.',
  }),
  WEBHOOK_RETENTION_DAYS: Type.Integer({
    default: 30,
    minimum: 1,
    maximum: 3650,
    description: 'Delivered and failed webhook deliveries, and their events, are kept this long.',
  }),
  TLS_CERT_FILE: Type.String({
    default: '',
    description: 'PEM certificate chain for HTTPS; with TLS_KEY_FILE, serve TLS directly.',
  }),
  TLS_KEY_FILE: Type.String({ default: '', description: 'PEM private key for HTTPS.' }),
})

export type Config = Static<typeof ConfigSchema>

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Reads and validates the configuration; throws ConfigError with every problem named. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, { dotenv = false } = {}): Config {
  let config: Config
  try {
    config = envSchema<Config>({ schema: ConfigSchema, data: env, dotenv })
  } catch (err) {
    throw new ConfigError(`invalid configuration: ${(err as Error).message}`)
  }
  if (Boolean(config.TLS_CERT_FILE) !== Boolean(config.TLS_KEY_FILE)) {
    throw new ConfigError('invalid configuration: TLS_CERT_FILE and TLS_KEY_FILE go together')
  }
  trustProxy(config)
  expiryThresholds(config)
  return config
}

/** WEBHOOK_EXPIRY_THRESHOLDS_DAYS as numbers, largest first; each a positive number of days. */
export function expiryThresholds(config: Pick<Config, 'WEBHOOK_EXPIRY_THRESHOLDS_DAYS'>): number[] {
  const days = config.WEBHOOK_EXPIRY_THRESHOLDS_DAYS.split(',').map((d) => Number(d.trim()))
  if (days.some((d) => !Number.isInteger(d) || d < 1 || d > 3650)) {
    throw new ConfigError('invalid configuration: WEBHOOK_EXPIRY_THRESHOLDS_DAYS holds whole days from 1 to 3650')
  }
  return [...new Set(days)].sort((a, b) => b - a)
}

/** proxy-addr's names for address ranges, which Fastify's trustProxy accepts beside addresses. */
const NAMED_RANGES = ['loopback', 'linklocal', 'uniquelocal']

function isAddressOrCidr(part: string): boolean {
  if (NAMED_RANGES.includes(part)) return true
  const [address, prefix, ...rest] = part.split('/')
  const family = isIP(address!)
  if (family === 0 || rest.length > 0) return false
  if (prefix === undefined) return true
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128)
}

/**
 * TRUST_PROXY as Fastify's `trustProxy` option: which peers' X-Forwarded-For names the client. Off
 * by default, because believing the header from anyone lets any client pick the address its rate
 * limits are counted under. No hop count: Fastify 5 treats one as "trust no peer" (it cannot check
 * the immediate peer), so offering it would be a setting that silently does nothing.
 */
export function trustProxy(config: Pick<Config, 'TRUST_PROXY'>): boolean | string[] {
  const value = config.TRUST_PROXY.trim()
  if (value === '' || value === 'false') return false
  if (value === 'true') return true
  const parts = value.split(',').map((p) => p.trim())
  const wrong = parts.filter((p) => !isAddressOrCidr(p))
  if (wrong.length) {
    throw new ConfigError(
      `invalid configuration: TRUST_PROXY must be true, false, or addresses/CIDRs; ` +
        `not ${wrong.map((w) => JSON.stringify(w)).join(', ')}`,
    )
  }
  return parts
}
