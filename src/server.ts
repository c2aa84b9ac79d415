import closeWithGrace from 'close-with-grace'
import pino from 'pino'
import { createApp } from './app.js'
import { ConfigError, loadConfig } from './config.js'
import { AuditKeyError } from './audit/anchor.js'
import { TokenConfigError } from './auth/tokens.js'
import { KeyEncryptionKeyError } from './keystore/key-encryption-key.js'
import { DataDirError } from './store/data-dir.js'

/** Starts the service: configuration, store, listen; closes cleanly on SIGTERM/SIGINT. */
async function main() {
  let config
  try {
    config = loadConfig(process.env, { dotenv: true })
  } catch (err) {
    if (err instanceof ConfigError) {
      pino().fatal(err.message)
      process.exit(78) // EX_CONFIG
    }
    throw err
  }
  let app
  try {
    app = await createApp(config)
  } catch (err) {
    // A refusal to start for a reason the operator must fix (tokens, DATA_DIR, the audit key, the
    // key-encryption keys).
    if (
      err instanceof TokenConfigError ||
      err instanceof DataDirError ||
      err instanceof AuditKeyError ||
      err instanceof KeyEncryptionKeyError
    ) {
      pino().fatal(err.message)
      process.exit(78)
    }
    throw err
  }
  // On SIGTERM: stop accepting, let in-flight requests (streams included) finish, close the store.
  closeWithGrace({ delay: config.SHUTDOWN_GRACE_MS || null }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error')
    else app.log.info({ signal }, 'shutting down')
    await app.close()
  })
  await app.listen({ host: config.HOST, port: config.PORT })
}

await main()
