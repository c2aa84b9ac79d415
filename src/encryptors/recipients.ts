import { CONTENT_ENCRYPTION } from '../cms/algorithms.js'
import type { ReceiverCertificate } from '../cms/certificate.js'
import { prepareRecipient, type PreparedRecipient } from '../cms/recipient-info.js'
import { Errors } from '../errors.js'
import type { EncryptorSettings } from './encryptor.js'

/**
 * Prepares the recipients an encryptor encrypts for, given the certificates present now, or throws
 * the catalogue error that says why it cannot encrypt. The same function guards saves (so no write
 * leaves an encryptor unable to encrypt) and serves encrypts (so both give the same answer).
 */
export function prepareRecipients(
  id: string,
  settings: EncryptorSettings,
  certificates: ReadonlyMap<string, ReceiverCertificate>,
): PreparedRecipient[] {
  const missing = settings.receiverAliases.filter((a) => !certificates.has(a))
  if (missing.length > 0 && settings.missingAlias === 'fail') {
    throw new Errors.NO_RECIPIENT(
      `Encryptor "${id}" needs every receiver alias (missingAlias "fail"), ` +
        `and the keystore has no certificate for: ${missing.join(', ')}.`,
    )
  }
  if (missing.length === settings.receiverAliases.length) {
    throw new Errors.NO_RECIPIENT(
      `Encryptor "${id}" has no resolvable recipient: the keystore has none of ${missing.join(', ')}.`,
    )
  }
  const options = {
    keyTransport: settings.keyTransport,
    recipientIdentifier: settings.recipientIdentifier,
    content: CONTENT_ENCRYPTION[settings.contentEncryption],
  }
  return settings.receiverAliases
    .filter((alias) => certificates.has(alias))
    .map((alias) => prepareRecipient(alias, certificates.get(alias)!, options))
}
