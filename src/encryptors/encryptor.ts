import type { ContentEncryptionName, KeyTransportName, RecipientIdentifierName } from '../cms/algorithms.js'
import type { OutputEncoding } from '../cms/output-encoding.js'
import type { SignerOptions } from '../cms/signature-algorithms.js'

export const MISSING_ALIAS_POLICIES = ['fail', 'skip'] as const
export type MissingAliasPolicy = (typeof MISSING_ALIAS_POLICIES)[number]

/** What an integration flow's encrypt step is configured with. */
export interface EncryptorSettings {
  receiverAliases: string[]
  contentEncryption: ContentEncryptionName
  keyTransport: KeyTransportName
  recipientIdentifier: RecipientIdentifierName
  /** fail: every alias must resolve; skip: encrypt for the aliases present, fail only when none is. */
  missingAlias: MissingAliasPolicy
  encoding: OutputEncoding
  /** Sign, then encrypt: the key pair and how it signs; null: encrypt only. */
  signer: SignerSettings | null
}

/** An encryptor's signer, every option resolved (the API's defaults depend on the key pair's type). */
export interface SignerSettings extends SignerOptions {
  /** The key pair's alias in the keystore. */
  alias: string
}

export interface Encryptor extends EncryptorSettings {
  id: string
  version: number
  createdAt: string
  updatedAt: string
  /** Set while a downtime renewal pauses the encryptor. */
  pause: EncryptorPause | null
}

export interface EncryptorPause {
  renewalId: string
  /** End of the planned downtime window, when known. */
  until: string | null
}

export const ENCRYPTOR_DEFAULTS: Omit<EncryptorSettings, 'receiverAliases'> = {
  contentEncryption: 'aes-256-cbc',
  keyTransport: 'rsa-oaep-sha256',
  recipientIdentifier: 'issuer-serial',
  missingAlias: 'fail',
  encoding: 'der',
  signer: null,
}
