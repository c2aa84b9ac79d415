import { get } from './api'
import type { Encryptor, KeyPair, KeystoreList, Renewal } from './types'

export async function loadKeystore() {
  const list = await get<KeystoreList>('/keystore/entries')
  return { entries: list.entries, warningDays: list.expiryWarningDays }
}

/** EXPIRY_WARNING_DAYS alone: the list filtered to what has already expired is the shortest answer saying it. */
export const loadWarningDays = async () =>
  (await get<KeystoreList>('/keystore/entries?expiringWithinDays=0')).expiryWarningDays

export const loadEncryptors = async () => (await get<{ encryptors: Encryptor[] }>('/encryptors')).encryptors

export const loadKeyPairs = async () => (await get<{ keyPairs: KeyPair[] }>('/keystore/key-pairs')).keyPairs

export const loadRenewals = async (state?: 'active') =>
  (await get<{ renewals: Renewal[] }>(`/renewals${state ? `?state=${state}` : ''}`)).renewals

/** Which encryptors list each alias (the keystore list does not say; the encryptors do). */
export function usersByAlias(encryptors: Encryptor[]): Map<string, string[]> {
  const users = new Map<string, string[]>()
  for (const e of encryptors) for (const a of e.receiverAliases) users.set(a, [...(users.get(a) ?? []), e.id])
  return users
}

/** Which encryptors sign with each key pair (the key-pair list does not say; the encryptors do). */
export function signersByAlias(encryptors: Encryptor[]): Map<string, string[]> {
  const users = new Map<string, string[]>()
  for (const e of encryptors) if (e.signer) users.set(e.signer.alias, [...(users.get(e.signer.alias) ?? []), e.id])
  return users
}

const DAY_MS = 86_400_000

/**
 * A key pair's certificate by its expiry, as the keystore entries answer it for theirs (src/cms/validity.ts):
 * whole days left rounded down (negative once expired), and whether it ends within `warningDays`.
 */
export function keyPairExpiry(k: KeyPair, warningDays: number, now = Date.now()) {
  const left = Date.parse(k.certificate.notAfter) - now
  return {
    daysUntilExpiry: Math.floor(left / DAY_MS),
    expiringSoon: left <= warningDays * DAY_MS,
    notYetValid: Date.parse(k.certificate.notBefore) > now,
  }
}

/** The key pairs with their expiry and the encryptors that sign with each. */
export function keyPairRows(keyPairs: KeyPair[], encryptors: Encryptor[], warningDays: number) {
  const signers = signersByAlias(encryptors)
  return keyPairs.map((k) => ({ ...k, ...keyPairExpiry(k, warningDays), usedBy: signers.get(k.alias) ?? [] }))
}
export type KeyPairRow = ReturnType<typeof keyPairRows>[number]
