import { get } from './api'
import type { Encryptor, KeystoreList, Renewal } from './types'

export async function loadKeystore() {
  const list = await get<KeystoreList>('/keystore/entries')
  return { entries: list.entries, warningDays: list.expiryWarningDays }
}

/** EXPIRY_WARNING_DAYS alone: the list filtered to what has already expired is the shortest answer saying it. */
export const loadWarningDays = async () =>
  (await get<KeystoreList>('/keystore/entries?expiringWithinDays=0')).expiryWarningDays

export const loadEncryptors = async () => (await get<{ encryptors: Encryptor[] }>('/encryptors')).encryptors

export const loadRenewals = async (state?: 'active') =>
  (await get<{ renewals: Renewal[] }>(`/renewals${state ? `?state=${state}` : ''}`)).renewals

/** Which encryptors list each alias (the keystore list does not say; the encryptors do). */
export function usersByAlias(encryptors: Encryptor[]): Map<string, string[]> {
  const users = new Map<string, string[]>()
  for (const e of encryptors) for (const a of e.receiverAliases) users.set(a, [...(users.get(a) ?? []), e.id])
  return users
}
