import type { ReceiverCertificate } from '../cms/certificate.js'
import { storedCertificate } from './receiver-certificates.js'
import type { Executor } from './schema.js'

/**
 * The certificate of the key pair under `alias` (its public part only: the sealed key is not even
 * read), for the encryptors that name it as their signer; undefined when no key pair has the alias.
 * Here, below keystore/ and encryptors/, for the reason receiver-certificates.ts is.
 */
export async function signerCertificate(db: Executor, alias: string): Promise<ReceiverCertificate | undefined> {
  const row = await db
    .selectFrom('key_pairs')
    .select(['certificate', 'sha256_fingerprint'])
    .where('alias', '=', alias)
    .executeTakeFirst()
  return row ? storedCertificate(row) : undefined
}
