/** The API's JSON shapes the console reads (openapi.yaml is the contract; these mirror it). */

export const ROLES = ['tenant-admin', 'integration-developer', 'integration-flow', 'monitor'] as const
export type Role = (typeof ROLES)[number]

export interface Whoami {
  name: string
  roles: Role[]
}

export interface PublicKey {
  algorithm: 'RSA' | 'EC'
  bits?: number
  curve?: string
}

export interface CertificateFields {
  sha256Fingerprint: string
  subject: string
  issuer: string
  serialNumber: string
  notBefore: string
  notAfter: string
}

/** A certificate an alias or key pair held before: replaced or deleted, kept in its history. */
export type RetiredCertificate = CertificateFields & {
  version: number
  retiredAt: string
  reason: 'replaced' | 'deleted'
}

export interface KeystoreEntry extends CertificateFields {
  alias: string
  publicKey: PublicKey
  subjectKeyIdentifier?: string
  keyUsage?: string[]
  notYetValid: boolean
  daysUntilExpiry: number
  expiringSoon: boolean
  version: number
  createdAt: string
  updatedAt: string
}

export interface KeystoreEntryDetails extends KeystoreEntry {
  usedBy: string[]
  history: RetiredCertificate[]
}

export interface KeystoreList {
  entries: KeystoreEntry[]
  /** EXPIRY_WARNING_DAYS, which `expiringSoon` is computed with. */
  expiryWarningDays: number
}

export interface CertificateCheck {
  alias: string
  action: 'create' | 'replace' | 'unchanged'
  currentVersion: number | null
  certificate: Omit<KeystoreEntry, 'alias' | 'version' | 'createdAt' | 'updatedAt'>
  usedBy: string[]
  checks: Array<{ name: string; passed: boolean; detail: string }>
  warnings: string[]
}

/** The key pair an encryptor signs with (sign, then encrypt), every option resolved. */
export interface EncryptorSigner {
  alias: string
  digest: string
  signature: string
  includeCertificates: string
  signerIdentifier: string
}

export interface Encryptor {
  id: string
  receiverAliases: string[]
  /** null (or absent, from a service before signing): the encryptor encrypts only. */
  signer?: EncryptorSigner | null
  contentEncryption: string
  keyTransport: string
  recipientIdentifier: string
  missingAlias: 'fail' | 'skip'
  encoding: string
  recipients: string[]
  pause: null | { renewalId: string; until: string | null }
  version: number
  createdAt: string
  updatedAt: string
}

/** The procedures that renew a receiver's key, which the advice chooses between. */
export const RECEIVER_PROCEDURES = ['exchange', 'add-alias', 'prepared-alias', 'downtime'] as const
export type ReceiverProcedure = (typeof RECEIVER_PROCEDURES)[number]
/** signer-key renews our own signing key pair: currentAlias and newAlias name key pairs. */
export type Procedure = ReceiverProcedure | 'signer-key'

export interface RenewalStep {
  name: string
  role: Role
  status: 'done' | 'next' | 'pending'
  at?: string
  by?: string
  comment?: string
  /** What taking the step changes, in a sentence. */
  change?: string
}

export interface Renewal {
  id: string
  procedure: Procedure
  encryptorId: string
  currentAlias: string
  newAlias: string | null
  state: 'active' | 'completed' | 'aborted'
  steps: RenewalStep[]
  next: { step: string; role: Role } | null
  recipients: string[]
  paused: boolean
  certificate: { subject: string; notAfter: string; sha256Fingerprint: string }
  downtime: { start: string; end: string } | null
  abort?: { allowed: boolean; pointOfNoReturn: string; explanation: string }
  createdBy: string
  createdAt: string
  updatedAt: string
}

export interface Advice {
  question: { id: string; text: string; help: string } | null
  recommendation: {
    procedure: ReceiverProcedure
    why: string
    newAlias: 'required' | 'refused'
    steps: Array<{ name: string; role: Role }>
  } | null
}

/** One of the tenant's own key pairs, its public part (the private key is never answered). */
export interface KeyPair {
  alias: string
  version: number
  certificate: CertificateFields & { pem: string }
  /** The certificates after the signer's, each the issuer of the one before. */
  chain: Array<{ subject: string; issuer: string; notAfter: string; sha256Fingerprint: string; pem: string }>
  keyType: PublicKey
  createdAt: string
  updatedAt: string
}

export interface KeyPairDetails extends KeyPair {
  /** The encryptors that sign with it. */
  usedBy: string[]
  history: RetiredCertificate[]
}

/** A key pair as the PUT and the add-key-pair step take it: PEM key and chain, or a PKCS#12 file. */
export type KeyPairUpload = { privateKey: string; certificateChain: string } | { pkcs12: string; password: string }

export interface AuditRecord {
  id: number
  at: string
  actor: string
  role: string
  action: string
  target: string
  before: unknown
  after: unknown
  renewalId: string | null
  comment: string | null
}

export interface AuditVerification {
  valid: boolean
  records: number
  unchained: number
  firstInvalidId: number | null
  problem: string | null
  [more: string]: unknown
}

export interface WebhookSubscription {
  id: string
  url: string
  events: string[]
  description: string | null
  enabled: boolean
  createdAt: string
  updatedAt: string
  previousSecretValidUntil: string | null
  /** Only in the answers that make or rotate it. */
  secret?: string
}

export interface WebhookDelivery {
  id: string
  eventId: string
  eventType: string
  state: 'pending' | 'delivered' | 'failed'
  attempts: Array<{
    number: number
    at: string
    status: number | null
    durationMs: number
    error: string | null
    responsePrefix: string | null
  }>
  nextAttemptAt: string | null
  createdAt: string
  updatedAt: string
}
