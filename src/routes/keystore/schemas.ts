import { Type } from 'typebox'
import { Alias } from '../schemas.js'

const CertificateFields = {
  sha256Fingerprint: Type.String({ description: 'SHA-256 of the certificate DER, lowercase hex.' }),
  subject: Type.String({ description: 'Subject distinguished name.' }),
  issuer: Type.String({ description: 'Issuer distinguished name.' }),
  serialNumber: Type.String({ description: 'Serial number, lowercase hex.' }),
  notBefore: Type.String({ format: 'date-time', description: 'Start of validity.' }),
  notAfter: Type.String({ format: 'date-time', description: 'End of validity.' }),
}

/** What the API shows of a receiver certificate: stored (a keystore entry) or checked before storing. */
const CertificateDetailFields = {
  ...CertificateFields,
  publicKey: Type.Object(
    {
      algorithm: Type.Enum(['RSA', 'EC'], { description: 'Key algorithm.' }),
      bits: Type.Optional(Type.Integer({ description: 'RSA modulus length in bits.' })),
      curve: Type.Optional(Type.Enum(['P-256', 'P-384', 'P-521'], { description: 'EC named curve.' })),
    },
    { description: 'The receiver public key.' },
  ),
  subjectKeyIdentifier: Type.Optional(
    Type.String({ description: 'subjectKeyIdentifier extension, lowercase hex, when present.' }),
  ),
  keyUsage: Type.Optional(Type.Array(Type.String(), { description: 'keyUsage bits, when the extension is present.' })),
  notYetValid: Type.Boolean({ description: 'True while notBefore is in the future (accepted, and flagged).' }),
  daysUntilExpiry: Type.Integer({ description: 'Whole days until notAfter.' }),
  expiringSoon: Type.Boolean({
    description: 'True when the certificate expires within EXPIRY_WARNING_DAYS: time to start a renewal.',
  }),
}

export const KeystoreEntrySchema = Type.Object(
  {
    alias: Alias,
    ...CertificateDetailFields,
    version: Type.Integer({ description: 'Entry version, also the ETag; grows with every replacement.' }),
    createdAt: Type.String({ format: 'date-time', description: 'When the alias was created.' }),
    updatedAt: Type.String({ format: 'date-time', description: 'When the current certificate was stored.' }),
  },
  { $id: 'KeystoreEntry', description: 'A receiver certificate stored under an alias.' },
)

export const KeystoreEntryDetailsSchema = Type.Object(
  {
    ...KeystoreEntrySchema.properties,
    usedBy: Type.Array(Type.String(), { description: 'Ids of the encryptors that list this alias.' }),
    history: Type.Array(
      Type.Object({
        version: Type.Integer({ description: 'Entry version this certificate had.' }),
        ...CertificateFields,
        retiredAt: Type.String({ format: 'date-time', description: 'When it stopped being current.' }),
        reason: Type.Enum(['replaced', 'deleted'], { description: 'Why it stopped being current.' }),
      }),
      { description: 'Earlier certificates of this alias, newest first.' },
    ),
  },
  { $id: 'KeystoreEntryDetails', description: 'A keystore entry with its users and history.' },
)

export const CertificateJsonBody = Type.Object(
  {
    certificate: Type.String({ minLength: 1, description: 'One X.509 certificate in PEM.' }),
  },
  { additionalProperties: false, description: 'A certificate wrapped in JSON.' },
)

export const ListQuery = Type.Object({
  expiringWithinDays: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 36500,
      description: 'Only entries whose certificate expires within this many days.',
    }),
  ),
})

export const CertificateCheckSchema = Type.Object(
  {
    alias: Alias,
    action: Type.Enum(['create', 'replace', 'unchanged'], {
      description:
        'What PUT would do now: create the entry, replace its certificate, or nothing (the same certificate).',
    }),
    currentVersion: Type.Union([Type.Integer(), Type.Null()], {
      description: 'The version under the alias now (its ETag), null when it holds no certificate.',
    }),
    certificate: Type.Object(CertificateDetailFields, {
      description: 'The uploaded certificate, as it would be stored.',
    }),
    usedBy: Type.Array(Type.String(), { description: 'Ids of the encryptors that list this alias.' }),
    checks: Type.Array(
      Type.Object({
        name: Type.Enum(['parse', 'key', 'keyUsage', 'validity', 'precondition', 'renewal', 'encryptors'], {
          description: 'The check.',
        }),
        passed: Type.Literal(true, { description: 'Always true: a failed check answers its problem instead.' }),
        detail: Type.String({ description: 'How it was passed, for a person.' }),
      }),
      { description: 'Every check PUT runs, in the order it runs them.' },
    ),
    warnings: Type.Array(Type.String(), {
      description: 'What is accepted but worth knowing: not valid yet, or expiring within EXPIRY_WARNING_DAYS.',
    }),
  },
  { description: 'The upload passed every check; nothing was stored.' },
)
