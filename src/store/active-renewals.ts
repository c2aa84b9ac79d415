import { Errors } from '../errors.js'
import type { Executor } from './schema.js'

/*
 * Which aliases and encryptors an active renewal owns: queries over the renewals table that the
 * keystore and encryptor writes consult before they change anything. They sit in the store, below
 * both, so that neither imports the renewals folder (which sits above them and drives their writes).
 */

/** The active renewal that owns `alias` (as current or new alias), if any. */
export async function renewalOwningAlias(db: Executor, alias: string) {
  return db
    .selectFrom('renewals')
    .select(['id', 'procedure', 'encryptor_id', 'current_alias', 'new_alias'])
    .where('state', '=', 'active')
    .where((eb) => eb.or([eb('current_alias', '=', alias), eb('new_alias', '=', alias)]))
    .executeTakeFirst()
}

/** The active renewal of `encryptorId`, if any. */
export async function renewalOfEncryptor(db: Executor, encryptorId: string) {
  return db
    .selectFrom('renewals')
    .select(['id', 'procedure', 'encryptor_id', 'current_alias', 'new_alias'])
    .where('state', '=', 'active')
    .where('encryptor_id', '=', encryptorId)
    .executeTakeFirst()
}

/**
 * The alias an active add-alias renewal of `encryptorId` lists, or will list, beside the encryptor's own
 * (its `append-alias` step, src/renewals/procedures.ts). A prepared-alias renewal's new alias is not one:
 * the encryptor listed that slot before the renewal and keeps it after.
 */
export async function aliasAddedByRenewal(db: Executor, encryptorId: string): Promise<string | null> {
  const renewal = await db
    .selectFrom('renewals')
    .select('new_alias')
    .where('state', '=', 'active')
    .where('encryptor_id', '=', encryptorId)
    .where('procedure', '=', 'add-alias')
    .executeTakeFirst()
  return renewal?.new_alias ?? null
}

/**
 * While a renewal runs, only its steps change the aliases it owns: a direct change through the
 * keystore or encryptor endpoints could undo a step or skip one, so it is refused.
 */
export async function refuseAliasOwnedByRenewal(db: Executor, alias: string): Promise<void> {
  const renewal = await renewalOwningAlias(db, alias)
  if (renewal) {
    throw new Errors.RENEWAL_IN_PROGRESS(
      `Alias "${alias}" belongs to the active renewal ${renewal.id} ` +
        `(${renewal.procedure} of encryptor "${renewal.encryptor_id}"). ` +
        "Take the renewal's steps, or abort it, instead of changing the alias directly.",
    )
  }
}

/** Refuses a direct change to an encryptor whose receiver aliases a renewal is changing. */
export async function refuseEncryptorChangeDuringRenewal(
  db: Executor,
  encryptorId: string,
  touchedAliases: readonly string[] | 'all',
): Promise<void> {
  const renewal = await renewalOfEncryptor(db, encryptorId)
  if (!renewal) return
  const owned = [renewal.current_alias, renewal.new_alias].filter((a): a is string => a !== null)
  if (touchedAliases === 'all' || touchedAliases.some((a) => owned.includes(a))) {
    throw new Errors.RENEWAL_IN_PROGRESS(
      `Encryptor "${encryptorId}" is being renewed by ${renewal.id} (${renewal.procedure}), which owns ` +
        `alias${owned.length > 1 ? 'es' : ''} ${owned.map((a) => `"${a}"`).join(' and ')}. ` +
        "Take the renewal's steps, or abort it, instead of changing them directly.",
    )
  }
}
