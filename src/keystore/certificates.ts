import { parseReceiverCertificate, type ReceiverCertificate } from '../cms/certificate.js'
import type { Executor } from '../store/schema.js'
import { keystoreRepository } from './repository.js'

const parsed = new Map<string, ReceiverCertificate>()
const MAX_PARSED = 10_000

/** Stored certificates are immutable by fingerprint, so each is parsed (and its key imported) once. */
export function storedCertificate(row: { certificate: Buffer; sha256_fingerprint: string }): ReceiverCertificate {
  let cert = parsed.get(row.sha256_fingerprint)
  if (!cert) {
    cert = parseReceiverCertificate(Buffer.from(row.certificate))
    if (parsed.size >= MAX_PARSED) parsed.delete(parsed.keys().next().value!)
    parsed.set(row.sha256_fingerprint, cert)
  }
  return cert
}

/** The certificates present for `aliases`, by alias. */
export async function loadCertificates(
  db: Executor,
  aliases: readonly string[],
): Promise<Map<string, ReceiverCertificate>> {
  const rows = await keystoreRepository.findMany(db, aliases)
  return new Map(rows.map((r) => [r.alias, storedCertificate(r)]))
}
