import type { ReceiverCertificate } from '../cms/certificate.js'
import { Errors } from '../errors.js'
import { loadCertificates } from '../store/receiver-certificates.js'
import type { Executor } from '../store/schema.js'
import { prepareRecipients } from './recipients.js'
import { encryptorRepository } from './repository.js'

/**
 * The encryptors' answer to the keystore's questions about an alias (the `AliasUsers` interface in
 * keystore/mutations.ts, matched by shape: encryptors and keystore are siblings and import nothing
 * of each other).
 */
export const encryptorAliasUsers = {
  async ids(db: Executor, alias: string): Promise<string[]> {
    return (await encryptorRepository.using(db, alias)).map((e) => e.id)
  },

  /** Refuses a change to `alias` (a new certificate, or none) that would leave an encryptor unable to encrypt. */
  async checkChange(db: Executor, alias: string, replacement: ReceiverCertificate | undefined): Promise<void> {
    for (const encryptor of await encryptorRepository.using(db, alias)) {
      const certificates = await loadCertificates(db, encryptor.receiverAliases)
      if (replacement) certificates.set(alias, replacement)
      else certificates.delete(alias)
      try {
        prepareRecipients(encryptor.id, encryptor, certificates)
      } catch (err) {
        if (replacement) throw err // e.g. the new certificate lacks the subject key identifier the encryptor needs
        throw new Errors.ALIAS_IN_USE(
          `Alias "${alias}" cannot be deleted: encryptor "${encryptor.id}" would be left unable to encrypt ` +
            `(${(err as Error).message}) Remove the alias from the encryptor first.`,
        )
      }
    }
  },
}
