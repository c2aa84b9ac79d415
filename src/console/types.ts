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
  history: Array<CertificateFields & { version: number; retiredAt: string; reason: 'replaced' | 'deleted' }>
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

export interface Encryptor {
  id: string
  receiverAliases: string[]
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

export const PROCEDURES = ['exchange', 'add-alias', 'prepared-alias', 'downtime'] as const
export type Procedure = (typeof PROCEDURES)[number]

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
    procedure: Procedure
    why: string
    newAlias: 'required' | 'refused'
    steps: Array<{ name: string; role: Role }>
  } | null
}

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
