import { Errors } from '../errors.js'

/**
 * How many receiver aliases an encryptor holds of its own. An add-alias renewal lists its new alias on
 * top while it runs, so a list reaches MAX_LISTED_ALIASES at most; X-Cms-Recipients names them all, and
 * deploy/nginx.conf's proxy buffers are sized for that many of the longest alias.
 */
export const MAX_RECEIVER_ALIASES = 100
export const MAX_LISTED_ALIASES = MAX_RECEIVER_ALIASES + 1

/**
 * Refuses a receiver list that grows past the limit. `renewalAlias` is the new alias of the encryptor's
 * active add-alias renewal, not counted as its own. A list already past the limit (saved before the
 * limit was enforced) may still lose aliases, so that it can be brought back under it.
 */
export function checkAliasLimit(
  encryptorId: string,
  before: readonly string[],
  after: readonly string[],
  renewalAlias: string | null,
): void {
  const own = after.filter((a) => a !== renewalAlias).length
  if (own > MAX_RECEIVER_ALIASES && after.length > before.length)
    throw new Errors.TOO_MANY_ALIASES(encryptorId, after.length, MAX_RECEIVER_ALIASES)
}
