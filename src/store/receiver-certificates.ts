import { parseStoredCertificate, type ReceiverCertificate } from '../cms/certificate.js'
import type { Executor } from './schema.js'

/*
 * Reads of the keystore table that the keystore, the encryptors and the renewals all need. They sit
 * here, below those folders, so that neither the keystore nor the encryptors import the other.
 */

/** A stored row's certificate, parsed (once per process). */
export function storedCertificate(row: { certificate: Buffer; sha256_fingerprint: string }): ReceiverCertificate {
  return parseStoredCertificate(row.certificate, row.sha256_fingerprint)
}

/** The certificates present for `aliases`, by alias. */
export async function loadCertificates(
  db: Executor,
  aliases: readonly string[],
): Promise<Map<string, ReceiverCertificate>> {
  if (aliases.length === 0) return new Map()
  const rows = await db
    .selectFrom('keystore_entries')
    .select(['alias', 'certificate', 'sha256_fingerprint'])
    .where('alias', 'in', aliases)
    .execute()
  return new Map(rows.map((r) => [r.alias, storedCertificate(r)]))
}

/** Which of `aliases` (every alias when omitted) have a certificate in the keystore now. */
export async function presentAliases(db: Executor, aliases?: readonly string[]): Promise<Set<string>> {
  if (aliases?.length === 0) return new Set()
  let query = db.selectFrom('keystore_entries').select('alias')
  if (aliases) query = query.where('alias', 'in', aliases)
  return new Set((await query.execute()).map((r) => r.alias))
}
