import type { Kysely } from 'kysely'
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { readFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { createSecretFile, ensureDataDir } from '../store/data-dir.js'
import type { Database } from '../store/schema.js'
import { writeTransaction } from '../store/transact.js'

export const ROLES = ['tenant-admin', 'integration-developer', 'integration-flow', 'monitor'] as const
export type Role = (typeof ROLES)[number]

export interface Principal {
  name: string
  roles: readonly Role[]
}

interface TokenRecord extends Principal {
  sha256: Buffer
}

export const hashToken = (token: string) => createHash('sha256').update(token, 'utf8').digest()

/**
 * Known tokens, held only as SHA-256 hashes. A presented token is compared against every hash in
 * constant time, so neither the match nor its position leaks through timing.
 */
export class TokenRegistry {
  private readonly records: TokenRecord[]

  constructor(tokens: ReadonlyArray<{ name: string; roles: readonly Role[]; tokenSha256: string }>) {
    this.records = tokens.map((t) => ({ name: t.name, roles: t.roles, sha256: Buffer.from(t.tokenSha256, 'hex') }))
  }

  get size() {
    return this.records.length
  }

  authenticate(token: string): Principal | undefined {
    const presented = hashToken(token)
    let found: TokenRecord | undefined
    for (const record of this.records) {
      if (timingSafeEqual(record.sha256, presented) && !found) found = record
    }
    return found && { name: found.name, roles: found.roles }
  }
}

export class TokenConfigError extends Error {
  override name = 'TokenConfigError'
}

const HEX64 = /^[0-9a-f]{64}$/i

/** Parses an AUTH_TOKENS_FILE: `[{"name", "roles", "tokenSha256"}]`, with a message naming any fault. */
export function parseTokensFile(text: string, source: string) {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (err) {
    throw new TokenConfigError(`${source}: not valid JSON (${(err as Error).message})`)
  }
  if (!Array.isArray(data) || data.length === 0)
    throw new TokenConfigError(`${source}: expected a non-empty JSON array of tokens`)
  const names = new Set<string>()
  return data.map((entry, i) => {
    const where = `${source}[${i}]`
    if (typeof entry !== 'object' || entry === null) throw new TokenConfigError(`${where}: expected an object`)
    const { name, roles, tokenSha256, ...rest } = entry as Record<string, unknown>
    if (Object.keys(rest).length)
      throw new TokenConfigError(`${where}: unknown properties ${Object.keys(rest).join(', ')}`)
    if (typeof name !== 'string' || name.length === 0)
      throw new TokenConfigError(`${where}: "name" must be a non-empty string`)
    if (names.has(name)) throw new TokenConfigError(`${where}: duplicate name "${name}"`)
    names.add(name)
    if (!Array.isArray(roles) || roles.length === 0 || !roles.every((r) => (ROLES as readonly string[]).includes(r))) {
      throw new TokenConfigError(`${where}: "roles" must be a non-empty array of ${ROLES.join(', ')}`)
    }
    if (typeof tokenSha256 !== 'string' || !HEX64.test(tokenSha256)) {
      throw new TokenConfigError(
        `${where}: "tokenSha256" must be the hex SHA-256 of the token (64 hex digits), never the token itself`,
      )
    }
    return { name, roles: roles as Role[], tokenSha256: tokenSha256.toLowerCase() }
  })
}

export const BOOTSTRAP_FILE = 'bootstrap-tokens.json'

/**
 * The tokens in force: from AUTH_TOKENS_FILE when set; else those in the store; else, for a new
 * store, one fresh token per role, written once to DATA_DIR/bootstrap-tokens.json and kept in the
 * store only as hashes. Returns the bootstrap file path when one was written.
 *
 * The file is created with O_CREAT|O_EXCL|O_NOFOLLOW and mode 0600 in a DATA_DIR only this user can
 * write (store/data-dir.ts): a file or symlink already at its name is refused, never overwritten or
 * followed, so nobody can have the tokens written where they can read them.
 */
export async function loadTokens(options: {
  tokensFile: string
  dataDir: string
  db: Kysely<Database>
}): Promise<{ registry: TokenRegistry; bootstrapFile?: string }> {
  if (options.tokensFile) {
    let text: string
    try {
      text = await readFile(options.tokensFile, 'utf8')
    } catch (err) {
      throw new TokenConfigError(
        `AUTH_TOKENS_FILE ${options.tokensFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      )
    }
    return { registry: new TokenRegistry(parseTokensFile(text, 'AUTH_TOKENS_FILE')) }
  }
  let written: string | undefined
  try {
    // Under the write lock: replicas starting together on a new store bootstrap one set of tokens.
    return await writeTransaction(options.db, async (tx) => {
      const rows = await tx.selectFrom('auth_tokens').selectAll().execute()
      if (rows.length > 0) {
        return {
          registry: new TokenRegistry(
            rows.map((r) => ({ name: r.name, roles: JSON.parse(r.roles) as Role[], tokenSha256: r.token_sha256 })),
          ),
        }
      }
      const [entries, encryptors] = await Promise.all([
        tx.selectFrom('keystore_entries').select('alias').limit(1).execute(),
        tx.selectFrom('encryptors').select('id').limit(1).execute(),
      ])
      if (entries.length || encryptors.length) {
        throw new TokenConfigError(
          'No tokens are configured and the store already holds data, so no bootstrap tokens are created. ' +
            'Set AUTH_TOKENS_FILE.',
        )
      }
      if (options.dataDir === ':memory:')
        throw new TokenConfigError('An in-memory store needs AUTH_TOKENS_FILE or explicit tokens.')

      const tokens = Object.fromEntries(ROLES.map((role) => [role, randomBytes(32).toString('base64url')])) as Record<
        Role,
        string
      >
      const at = new Date().toISOString()
      const records = ROLES.map((role) => ({
        name: `bootstrap-${role}`,
        roles: [role],
        tokenSha256: hashToken(tokens[role]).toString('hex'),
      }))
      await tx
        .insertInto('auth_tokens')
        .values(
          records.map((r) => ({
            name: r.name,
            roles: JSON.stringify(r.roles),
            token_sha256: r.tokenSha256,
            created_at: at,
          })),
        )
        .execute()
      // Written before the commit: if the file cannot be written, no token exists that nobody knows.
      await ensureDataDir(options.dataDir)
      const file = join(options.dataDir, BOOTSTRAP_FILE)
      await createSecretFile(file, JSON.stringify(tokens, null, 2) + '\n')
      written = file
      return { registry: new TokenRegistry(records), bootstrapFile: file }
    })
  } catch (err) {
    // The commit failed after the file was written: its tokens were never stored, and a file left
    // behind would stop the next start.
    if (written) await unlink(written).catch(() => {})
    throw err
  }
}
