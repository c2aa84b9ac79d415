import { ConfigError, loadConfig } from './config.js'
import { checkRotation, rotateKeyEncryptionKey } from './keystore/kek-rotation.js'
import { KeyEncryptionKeyError, loadKeyEncryptionKeys, SealedKeyError } from './keystore/key-encryption-key.js'
import { openDatabase } from './store/database.js'
import { DataDirError } from './store/data-dir.js'

/** Exit codes, as docs/key-encryption-key.md lists them. */
const DONE = 0
const NOT_OPENED = 1
const EX_USAGE = 64
const EX_CONFIG = 78

const USAGE = 'usage: npm run kek:rotate [-- --check]   (in the image: node dist/rotate-kek.js [--check])'

const counts = (byKek: Map<string, number>) =>
  byKek.size ? [...byKek].map(([kekId, count]) => `${kekId}: ${count}`).join(', ') : 'none'

/**
 * `npm run kek:rotate`: re-seals every key pair under the first key of KEY_ENCRYPTION_KEY_FILE, with
 * the service's own configuration (environment and .env) and store; `--check` only reports. Lines go
 * to `print`, problems to `fail`; answers the exit code.
 */
export async function runRotateKek(
  args: string[],
  env: NodeJS.ProcessEnv,
  print: (line: string) => void,
  fail: (line: string) => void,
): Promise<number> {
  const check = args.includes('--check')
  const unknown = args.filter((a) => a !== '--check')
  if (unknown.length) {
    fail(`unknown argument ${unknown.join(' ')}\n${USAGE}`)
    return EX_USAGE
  }
  let db
  try {
    const config = loadConfig(env, { dotenv: true })
    // Never a new key: one made here would seal nothing the service can open.
    const keys = await loadKeyEncryptionKeys({
      file: config.KEY_ENCRYPTION_KEY_FILE,
      dataDir: config.DATA_DIR,
      create: false,
    })
    db = await openDatabase({ dataDir: config.DATA_DIR, databaseUrl: config.DATABASE_URL })
    print(`key-encryption keys: ${keys.ids.join(', ')} from ${keys.source}; ${keys.currentId} seals`)
    if (check) {
      const report = await checkRotation(db, keys)
      print(`key pairs per kek id: ${counts(report.byKek)}`)
      for (const k of report.unopened) {
        fail(
          `does not open: alias ${JSON.stringify(k.alias)} version ${k.version} under ${k.kekId} ` +
            (k.reason === 'unknown-kek' ? '(a key not in the file)' : '(its bytes do not open with that key)'),
        )
      }
      if (report.unopened.length) {
        fail(`a rotation now would fail and change nothing: ${report.unopened.length} key pair(s) do not open`)
        return NOT_OPENED
      }
      print(`every key pair opens; a rotation would re-seal ${report.toReseal} under ${keys.currentId}`)
      return DONE
    }
    const result = await rotateKeyEncryptionKey(db, keys)
    print(`re-sealed ${result.resealed} key pair(s) under ${result.currentId}`)
    print(`kek ids left in the store: ${counts(result.remaining)}`)
    return DONE
  } catch (err) {
    if (err instanceof SealedKeyError) {
      fail(`${err.message} Nothing was changed.`)
      return NOT_OPENED
    }
    if (err instanceof ConfigError || err instanceof KeyEncryptionKeyError || err instanceof DataDirError) {
      fail(err.message)
      return EX_CONFIG
    }
    throw err
  } finally {
    await db?.destroy()
  }
}
