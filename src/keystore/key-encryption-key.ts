import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { ensureDataDir, readOrCreateSecretFile, readSecretFile } from '../store/data-dir.js'

/**
 * The key-encryption keys (KEY_ENCRYPTION_KEY_FILE) that seal the tenant's private keys at rest, so
 * whoever reads the database (or a backup of it) holds only AES-256-GCM ciphertext. The file holds
 * one key per line: the first seals, every one opens. Holding the old key beside the new one is what
 * lets replicas move to a new key without a moment where one of them cannot open what another sealed
 * (docs/key-encryption-key.md).
 */

/** What a sealed private key is bound to: moving it to another alias or version makes it fail to open. */
export interface KeyBinding {
  alias: string
  version: number
}

/** The key file is missing, malformed, or does not open the store's sealed keys: the service does not start. */
export class KeyEncryptionKeyError extends Error {
  override name = 'KeyEncryptionKeyError'
}

/**
 * A sealed key that cannot be opened: its kek id names no loaded key (`unknown-kek`: this process
 * was given another KEY_ENCRYPTION_KEY_FILE), or its bytes were changed or moved to another
 * alias or version (`not-opened`). The message names the kek id and the binding, never key bytes.
 */
export class SealedKeyError extends Error {
  override name = 'SealedKeyError'
  constructor(
    readonly reason: 'unknown-kek' | 'not-opened',
    message: string,
  ) {
    super(message)
  }
}

const KEY_BYTES = 32
const IV_BYTES = 12
const TAG_BYTES = 16
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/
/** What a key's id is the HMAC of: the id names the key without being a plain hash of it. */
const ID_LABEL = 'cms-encryptor key-encryption-key id'
/** First element of the associated data, so a ciphertext made for anything else never opens as a key pair. */
const AAD_DOMAIN = 'cms-encryptor key pair v1'

/** The id stored beside every sealed key (key_pairs.kek_id): 16 hex of an HMAC under the key. */
function kekIdOf(secret: Buffer): string {
  return createHmac('sha256', secret).update(ID_LABEL).digest('hex').slice(0, 16)
}

/** JSON keeps alias and version apart whatever the alias holds ("a", 12 never reads as "a1", 2). */
function associatedData(binding: KeyBinding): Buffer {
  return Buffer.from(JSON.stringify([AAD_DOMAIN, binding.alias, binding.version]))
}

const describe = (binding: KeyBinding) => `alias ${JSON.stringify(binding.alias)} version ${binding.version}`

export class KeyEncryptionKeys {
  readonly #secrets: ReadonlyMap<string, Buffer>
  readonly #currentId: string

  /**
   * `secrets`: the keys in file order, the first seals. `source` says where they came from, for
   * messages (never the keys); `created`: made by this start, so nothing can be sealed under it yet.
   */
  constructor(
    secrets: readonly Buffer[],
    readonly source: string,
    readonly created = false,
  ) {
    if (secrets.length === 0) throw new KeyEncryptionKeyError(`${source}: holds no key.`)
    const byId = new Map<string, Buffer>()
    for (const [index, secret] of secrets.entries()) {
      if (secret.length !== KEY_BYTES) {
        throw new KeyEncryptionKeyError(
          `${source}: key ${index + 1} is ${secret.length} bytes; a key-encryption key is exactly ${KEY_BYTES} ` +
            '(openssl rand -base64 32).',
        )
      }
      const id = kekIdOf(secret)
      if (byId.has(id)) throw new KeyEncryptionKeyError(`${source}: key ${index + 1} repeats an earlier key.`)
      byId.set(id, Buffer.from(secret))
    }
    this.#secrets = byId
    this.#currentId = byId.keys().next().value!
  }

  /** Id of the key that seals (the first in the file); the others only open. */
  get currentId(): string {
    return this.#currentId
  }

  /** Ids of every loaded key, the current one first. */
  get ids(): string[] {
    return [...this.#secrets.keys()]
  }

  has(kekId: string): boolean {
    return this.#secrets.has(kekId)
  }

  /** Seals PKCS#8 DER under the current key. */
  seal(pkcs8: Buffer, binding: KeyBinding): { kekId: string; wrapped: Buffer } {
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.#secrets.get(this.#currentId)!, iv, { authTagLength: TAG_BYTES })
    cipher.setAAD(associatedData(binding))
    const wrapped = Buffer.concat([iv, cipher.update(pkcs8), cipher.final(), cipher.getAuthTag()])
    return { kekId: this.#currentId, wrapped }
  }

  /**
   * Opens a sealed key: throws SealedKeyError when `kekId` is not loaded or the bytes were not
   * sealed for `binding`. The caller owns the answer and should fill(0) it once it has imported it.
   */
  open(kekId: string, wrapped: Buffer, binding: KeyBinding): Buffer {
    const secret = this.#secrets.get(kekId)
    if (!secret) {
      throw new SealedKeyError(
        'unknown-kek',
        `the private key of ${describe(binding)} is sealed under key-encryption key ${kekId}, which is not in ` +
          `${this.source} (replicas must share KEY_ENCRYPTION_KEY_FILE).`,
      )
    }
    const notOpened = () =>
      new SealedKeyError(
        'not-opened',
        `the private key of ${describe(binding)} does not open with key-encryption key ${kekId}: its bytes were ` +
          'changed, or moved from another alias or version.',
      )
    if (wrapped.length < IV_BYTES + TAG_BYTES + 1) throw notOpened()
    const decipher = createDecipheriv('aes-256-gcm', secret, wrapped.subarray(0, IV_BYTES), {
      authTagLength: TAG_BYTES,
    })
    decipher.setAAD(associatedData(binding))
    decipher.setAuthTag(wrapped.subarray(wrapped.length - TAG_BYTES))
    const opened = decipher.update(wrapped.subarray(IV_BYTES, wrapped.length - TAG_BYTES))
    try {
      return Buffer.concat([opened, decipher.final()])
    } catch {
      throw notOpened()
    } finally {
      opened.fill(0)
    }
  }
}

/**
 * The file's keys, in order: one base64 key per line; blank lines and lines starting with # (a note
 * of when a key was added) are skipped. Messages name lines, never their content.
 */
export function parseKeyEncryptionKeys(text: string, source: string, created = false): KeyEncryptionKeys {
  const secrets: Buffer[] = []
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    if (!BASE64.test(line) || line.length % 4 !== 0) {
      throw new KeyEncryptionKeyError(
        `${source}: line ${index + 1} is not a base64 key; expected one key per line (openssl rand -base64 32).`,
      )
    }
    const secret = Buffer.from(line, 'base64')
    if (secret.length !== KEY_BYTES) {
      secret.fill(0)
      throw new KeyEncryptionKeyError(
        `${source}: line ${index + 1} holds ${secret.length} bytes; a key-encryption key is exactly ${KEY_BYTES} ` +
          '(openssl rand -base64 32).',
      )
    }
    secrets.push(secret)
  }
  if (secrets.length === 0) {
    throw new KeyEncryptionKeyError(
      `${source}: holds no key; expected one base64 key per line (openssl rand -base64 32).`,
    )
  }
  try {
    return new KeyEncryptionKeys(secrets, source, created)
  } finally {
    for (const secret of secrets) secret.fill(0)
  }
}

export const KEY_ENCRYPTION_KEY_FILE = 'key-encryption-key'

/**
 * The key-encryption keys: from KEY_ENCRYPTION_KEY_FILE when set (it must exist; as for
 * AUDIT_KEY_FILE it may be a mounted secret, a symlink or readable by a group, but nobody else may
 * write it); else DATA_DIR/key-encryption-key, created once with one key of 32 random bytes (mode
 * 0600, never through a symlink: store/data-dir.ts). That default holds with PostgreSQL too, as for
 * the audit key: replicas then share it through one DATA_DIR volume, and a replica with another key
 * is refused at start by checkKeyEncryptionKeys. An in-memory store gets a key as short-lived as
 * itself. `create: false` (the rotation command) never makes a key: a missing file is an error.
 */
export async function loadKeyEncryptionKeys(options: {
  file: string
  dataDir: string
  create?: boolean
}): Promise<KeyEncryptionKeys> {
  const { file, dataDir, create = true } = options
  if (file) {
    const source = `KEY_ENCRYPTION_KEY_FILE ${file}`
    let text: string
    try {
      const info = await stat(file)
      if (info.mode & 0o022) {
        throw new KeyEncryptionKeyError(
          `${source} is writable by other users (mode ${(info.mode & 0o777).toString(8)}); chmod 600 it.`,
        )
      }
      text = await readFile(file, 'utf8')
    } catch (err) {
      if (err instanceof KeyEncryptionKeyError) throw err
      throw new KeyEncryptionKeyError(
        `${source}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}. ` +
          `Make one with: openssl rand -base64 32 > ${file}; chmod 600 ${file}`,
      )
    }
    return parseKeyEncryptionKeys(text, source)
  }
  if (dataDir === ':memory:') {
    return new KeyEncryptionKeys([randomBytes(KEY_BYTES)], 'the in-memory key of an in-memory store', true)
  }
  await ensureDataDir(dataDir)
  const path = join(dataDir, KEY_ENCRYPTION_KEY_FILE)
  let created = false
  const make = () => {
    created = true
    return Buffer.from(randomBytes(KEY_BYTES).toString('base64') + '\n')
  }
  let content: Buffer
  try {
    content = create ? await readOrCreateSecretFile(path, make) : await readSecretFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    throw new KeyEncryptionKeyError(`${path} does not exist, and KEY_ENCRYPTION_KEY_FILE is not set.`)
  }
  try {
    return parseKeyEncryptionKeys(content.toString('utf8'), path, created)
  } finally {
    content.fill(0)
  }
}
