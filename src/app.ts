import Ajv, { type AnySchema } from 'ajv'
import addFormats from 'ajv-formats'
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { loadAuditKey, openAuditAnchor, type AuditHead, type AuditProblem } from './audit/anchor.js'
import { loadTokens, type TokenRegistry } from './auth/tokens.js'
import { trustProxy, type Config } from './config.js'
import { checkKeyEncryptionKeys } from './keystore/kek-check.js'
import { loadKeyEncryptionKeys, type KeyEncryptionKeys } from './keystore/key-encryption-key.js'
import authPlugin from './plugins/auth.js'
import errorsPlugin, { clientErrorHandler } from './plugins/errors.js'
import openapiPlugin from './plugins/external/swagger.js'
import helmetPlugin from './plugins/external/helmet.js'
import rateLimitPlugin from './plugins/external/rate-limit.js'
import swaggerUiPlugin from './plugins/external/swagger-ui.js'
import underPressurePlugin from './plugins/external/under-pressure.js'
import expiryWatchPlugin from './plugins/expiry-watch.js'
import metricsPlugin from './plugins/metrics.js'
import webhooksPlugin from './plugins/webhooks.js'
import servicesPlugin from './plugins/services.js'
import encryptRoutes from './routes/encrypt.js'
import encryptorRoutes from './routes/encryptors/index.js'
import healthRoutes from './routes/health.js'
import keystoreRoutes from './routes/keystore/index.js'
import renewalRoutes from './routes/renewals/index.js'
import auditRoutes from './routes/audit.js'
import consoleRoutes from './routes/console.js'
import whoamiRoutes from './routes/whoami.js'
import webhookRoutes from './routes/webhooks/index.js'
import { openDatabase } from './store/database.js'
import type { Database } from './store/schema.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The keys that seal and open the tenant's private keys (KEY_ENCRYPTION_KEY_FILE), checked against the store. */
    keyEncryptionKeys: KeyEncryptionKeys
  }
}

export interface AppOptions {
  config: Config
  db: Kysely<Database>
  tokens: TokenRegistry
  /** Loaded and checked against the store by createApp, before the app is built. */
  keyEncryptionKeys: KeyEncryptionKeys
  /** The webhook scheduler's and worker's clock (tests); the system clock otherwise. */
  clock?: () => Date
}

/** One log line per request, when it completes (with status and time), instead of Fastify's two. */
class OneLinePerRequest extends LogController {
  override incomingRequest(): void {}
}

/** Root options: these cannot be set from inside a plugin. */
export function serverOptions(config: Config, logger: FastifyServerOptions['logger'] = true): FastifyServerOptions {
  const tls = config.TLS_CERT_FILE
    ? { https: { cert: readFileSync(config.TLS_CERT_FILE), key: readFileSync(config.TLS_KEY_FILE) } }
    : {}
  return {
    ...tls,
    logger:
      logger === true
        ? {
            level: config.LOG_LEVEL,
            // Never log credentials or certificates; payloads are never logged at all.
            redact: {
              paths: ['req.headers.authorization', 'req.headers.cookie', 'body', 'certificate'],
              censor: '[redacted]',
            },
          }
        : logger,
    // Aliases and ids may be 250 characters; Fastify's default of 100 would answer a bare 414.
    routerOptions: { maxParamLength: 300 },
    bodyLimit: config.BODY_LIMIT,
    // Whole-request deadline (a 2 GiB upload needs minutes) and idle-socket timeout.
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    connectionTimeout: config.IDLE_TIMEOUT_MS,
    trustProxy: trustProxy(config),
    requestIdHeader: false,
    logController: new OneLinePerRequest(),
    genReqId: requestId,
    clientErrorHandler,
    schemaController: { compilersFactory: { buildValidator: buildStrictValidator } },
  }
}

/** What a client may choose as its request id: short, and nothing a log line could be confused by. */
const PLAIN_REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,64}$/

/**
 * The client's X-Request-Id when it is short and plain (so a caller can follow its request through
 * our logs), else a fresh UUID: a long or odd id would flood or forge log lines.
 */
function requestId(request: { headers: Record<string, string | string[] | undefined> }): string {
  const sent = request.headers['x-request-id']
  return typeof sent === 'string' && PLAIN_REQUEST_ID.test(sent) ? sent : randomUUID()
}

/**
 * Ajv for bodies never coerces types or drops unknown properties: a wrong type or an unknown field
 * is a 400, not a silent fix. Query strings and params are text, so they are coerced. Installed as
 * the schema controller's validator builder (not with setValidatorCompiler, which a plugin context
 * that adds its own shared schemas would silently replace with Fastify's default Ajv).
 */
function buildStrictValidator(externalSchemas: Record<string, unknown>) {
  const make = (coerceTypes: boolean | 'array') => {
    const ajv = new Ajv.default({
      coerceTypes,
      useDefaults: true,
      removeAdditional: false,
      allErrors: false,
      strict: false,
    })
    addFormats.default(ajv)
    for (const schema of Object.values(externalSchemas)) ajv.addSchema(schema as object)
    return ajv
  }
  const body = make(false)
  const text = make('array')
  return ({ schema, httpPart }: { schema: AnySchema; httpPart?: string }) =>
    (httpPart === 'body' ? body : text).compile(schema)
}

/**
 * An empty body sent with `Content-Type: application/json` (what many clients do for "no body") is
 * no body: a route whose body is optional accepts it, and one that needs a body answers
 * CMS_EMPTY_BODY, as it does when the body is left out.
 */
function emptyJsonIsNoBody(fastify: FastifyInstance) {
  const parseJson = fastify.getDefaultJsonParser('error', 'error')
  fastify.removeContentTypeParser('application/json')
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') return done(null, undefined)
    parseJson(request, body as string, done)
  })
}

/** The whole service as one plugin, built the same way by the server and by tests. */
export default async function app(fastify: FastifyInstance, opts: AppOptions) {
  emptyJsonIsNoBody(fastify)
  fastify.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })
  const { config } = opts
  await fastify.register(errorsPlugin)
  await fastify.register(helmetPlugin)
  await fastify.register(underPressurePlugin, { maxEventLoopDelayMs: config.MAX_EVENT_LOOP_DELAY_MS })
  await fastify.register(openapiPlugin)
  // Before the services, which seal and open key pairs with it.
  fastify.decorate('keyEncryptionKeys', opts.keyEncryptionKeys)
  await fastify.register(servicesPlugin, { db: opts.db, databaseUrl: config.DATABASE_URL })
  await fastify.register(authPlugin, {
    tokens: opts.tokens,
    failureLimit: config.AUTH_FAILURE_LIMIT,
    failureWindowMs: config.RATE_LIMIT_WINDOW_MS,
  })
  await fastify.register(rateLimitPlugin, {
    max: config.RATE_LIMIT_MAX,
    windowMs: config.RATE_LIMIT_WINDOW_MS,
    limitFlows: config.RATE_LIMIT_FLOWS,
  })
  await fastify.register(metricsPlugin, { requireToken: config.METRICS_REQUIRE_TOKEN })
  await fastify.register(webhooksPlugin, { config, clock: opts.clock })
  await fastify.register(expiryWatchPlugin, { warningDays: config.EXPIRY_WARNING_DAYS })
  await fastify.register(swaggerUiPlugin)
  await fastify.register(healthRoutes)
  await fastify.register(keystoreRoutes, { expiryWarningDays: config.EXPIRY_WARNING_DAYS })
  await fastify.register(encryptorRoutes)
  await fastify.register(renewalRoutes)
  await fastify.register(auditRoutes)
  await fastify.register(whoamiRoutes)
  await fastify.register(webhookRoutes)
  await fastify.register(consoleRoutes)
  await fastify.register(encryptRoutes, {
    maxPayloadBytes: config.MAX_PAYLOAD_BYTES,
    cipherThreads: config.CIPHER_THREADS,
    maxConcurrentStreams: config.MAX_CONCURRENT_STREAMS,
  })
}

/** Opens the store, loads (or bootstraps) the tokens, and builds the app. */
export async function createApp(
  config: Config,
  overrides: { tokens?: TokenRegistry; logger?: FastifyServerOptions['logger']; clock?: () => Date } = {},
): Promise<FastifyInstance> {
  const db = await openDatabase({ dataDir: config.DATA_DIR, databaseUrl: config.DATABASE_URL })
  let tokens: { registry: TokenRegistry; bootstrapFile?: string }
  let audit: { head: AuditHead | null; anchored: boolean; problem: AuditProblem | null }
  let keyEncryptionKeys: KeyEncryptionKeys
  try {
    tokens = overrides.tokens
      ? { registry: overrides.tokens }
      : await loadTokens({ tokensFile: config.AUTH_TOKENS_FILE, dataDir: config.DATA_DIR, db })
    // Before any write: every audit record moves the signed head from now on. A head signed with
    // another key stops the start (AuditKeyError): replicas must share AUDIT_KEY_FILE.
    const auditKey = await loadAuditKey({ file: config.AUDIT_KEY_FILE, dataDir: config.DATA_DIR })
    audit = await openAuditAnchor(db, auditKey, { reanchor: config.AUDIT_REANCHOR })
    // Refused (KeyEncryptionKeyError) unless these keys open every key pair the store holds: a replica
    // with another KEY_ENCRYPTION_KEY_FILE must not become ready and then fail to sign.
    keyEncryptionKeys = await loadKeyEncryptionKeys({ file: config.KEY_ENCRYPTION_KEY_FILE, dataDir: config.DATA_DIR })
    await checkKeyEncryptionKeys(db, keyEncryptionKeys)
  } catch (err) {
    await db.destroy()
    throw err
  }
  const fastify = Fastify(serverOptions(config, overrides.logger))
  // Not encapsulated: the root instance (and tests) see the decorators.
  await fastify.register(fp(app), {
    config,
    db,
    tokens: tokens.registry,
    keyEncryptionKeys,
    clock: overrides.clock,
  })
  if (tokens.bootstrapFile) {
    fastify.log.warn(
      { path: tokens.bootstrapFile },
      'new store: one token per role written to this file (mode 0600); ' +
        'read it once, store the tokens safely, then delete the file',
    )
  }
  if (keyEncryptionKeys.created && config.DATABASE_URL) {
    fastify.log.warn(
      { path: keyEncryptionKeys.source, kekId: keyEncryptionKeys.currentId },
      'new key-encryption key created in DATA_DIR: every replica must have this same file ' +
        '(a shared volume, or KEY_ENCRYPTION_KEY_FILE), else one cannot open the keys another sealed',
    )
  }
  if (audit.anchored) {
    fastify.log.warn(
      { lastId: audit.head?.lastId },
      'the audit log had no signed head: signed as it stands from here on (an audit.anchor record says so)',
    )
  }
  if (audit.problem) {
    fastify.log.error(
      { problem: audit.problem },
      'the audit log does not match its signed head: changes are refused until it is dealt with (GET /audit/verify)',
    )
  }
  return fastify
}
