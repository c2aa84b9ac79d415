import { envSchema } from 'env-schema'
import { Type, type Static } from 'typebox'

/** Every setting the service reads from its environment; validated once at start. */
const ConfigSchema = Type.Object({
  HOST: Type.String({ default: '127.0.0.1', description: 'Interface to listen on.' }),
  PORT: Type.Integer({ default: 8080, minimum: 0, maximum: 65535, description: 'TCP port.' }),
  DATA_DIR: Type.String({ default: './data', minLength: 1, description: 'Directory of the embedded SQLite store and the bootstrap token file.' }),
  DATABASE_URL: Type.String({ default: '', description: 'PostgreSQL connection URL (postgres://user:pass@host:5432/db); empty for the embedded SQLite store in DATA_DIR.' }),
  AUTH_TOKENS_FILE: Type.String({ default: '', description: 'JSON file of token hashes and roles; empty to use the tokens in the store (bootstrapped on first start).' }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info', description: 'pino log level.' },
  ),
  BODY_LIMIT: Type.Integer({ default: 1024 * 1024, minimum: 1024, description: 'Largest buffered request body (certificates, JSON), in bytes.' }),
  MAX_PAYLOAD_BYTES: Type.Integer({ default: 2 * 1024 ** 3, minimum: 1, description: 'Largest payload the streaming encrypt endpoint accepts, in bytes.' }),
})

export type Config = Static<typeof ConfigSchema>

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Reads and validates the configuration; throws ConfigError with every problem named. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, { dotenv = false } = {}): Config {
  try {
    return envSchema<Config>({ schema: ConfigSchema, data: env, dotenv: dotenv && { quiet: true } })
  } catch (err) {
    throw new ConfigError(`invalid configuration: ${(err as Error).message}`)
  }
}
