import { Type } from 'typebox'
import { Errors } from '../../errors.js'
import { Alias } from '../schemas.js'

const pem = (what: string) => Type.String({ description: `${what}, PEM (RFC 7468).` })

const SignerCertificate = Type.Object(
  {
    subject: Type.String({ description: 'Subject distinguished name.' }),
    issuer: Type.String({ description: 'Issuer distinguished name.' }),
    serialNumber: Type.String({ description: 'Serial number, lowercase hex.' }),
    notBefore: Type.String({ format: 'date-time', description: 'Start of validity.' }),
    notAfter: Type.String({ format: 'date-time', description: 'End of validity.' }),
    sha256Fingerprint: Type.String({ description: 'SHA-256 of the certificate DER, lowercase hex.' }),
    pem: pem('The signer certificate, what receivers verify signatures with'),
  },
  { description: 'The signer certificate: the public half of the key pair.' },
)

const ChainCertificate = Type.Object(
  {
    subject: Type.String({ description: 'Subject distinguished name.' }),
    issuer: Type.String({ description: 'Issuer distinguished name.' }),
    notAfter: Type.String({ format: 'date-time', description: 'End of validity.' }),
    sha256Fingerprint: Type.String({ description: 'SHA-256 of the certificate DER, lowercase hex.' }),
    pem: pem('The certificate'),
  },
  { description: 'A certificate of the chain.' },
)

const KeyType = Type.Object(
  {
    algorithm: Type.Enum(['RSA', 'EC'], { description: 'Key algorithm.' }),
    bits: Type.Optional(Type.Integer({ description: 'RSA modulus length in bits.' })),
    curve: Type.Optional(Type.Enum(['P-256', 'P-384', 'P-521'], { description: 'EC named curve.' })),
  },
  { description: 'The kind of key: which signature schemes an encryptor may sign with it.' },
)

export const KeyPairSchema = Type.Object(
  {
    alias: Alias,
    version: Type.Integer({ description: 'Key pair version, also the ETag; grows with every replacement.' }),
    certificate: SignerCertificate,
    chain: Type.Array(ChainCertificate, {
      description: "The certificates after the signer's, as uploaded (each the issuer of the one before).",
    }),
    keyType: KeyType,
    createdAt: Type.String({ format: 'date-time', description: 'When the alias was created.' }),
    updatedAt: Type.String({ format: 'date-time', description: 'When the current key pair was stored.' }),
  },
  {
    $id: 'KeyPair',
    description: "One of the tenant's own key pairs, its public part: the private key is never returned.",
  },
)

export const KeyPairDetailsSchema = Type.Object(
  {
    ...KeyPairSchema.properties,
    usedBy: Type.Array(Type.String(), { description: 'Ids of the encryptors that sign with this key pair.' }),
    history: Type.Array(
      Type.Object({
        version: Type.Integer({ description: 'Key pair version this certificate had.' }),
        subject: Type.String({ description: 'Subject distinguished name.' }),
        issuer: Type.String({ description: 'Issuer distinguished name.' }),
        serialNumber: Type.String({ description: 'Serial number, lowercase hex.' }),
        notBefore: Type.String({ format: 'date-time', description: 'Start of validity.' }),
        notAfter: Type.String({ format: 'date-time', description: 'End of validity.' }),
        sha256Fingerprint: Type.String({ description: 'SHA-256 of the certificate DER, lowercase hex.' }),
        retiredAt: Type.String({ format: 'date-time', description: 'When it stopped being current.' }),
        reason: Type.Enum(['replaced', 'deleted'], { description: 'Why it stopped being current.' }),
      }),
      { description: 'Earlier signer certificates of this alias, newest first (their private keys are gone).' },
    ),
  },
  { $id: 'KeyPairDetails', description: 'A key pair with the encryptors that sign with it and its history.' },
)

const Pkcs12Upload = Type.Object(
  {
    pkcs12: Type.String({
      minLength: 1,
      description: 'A PKCS#12 (.p12, .pfx) file, base64: one private key with its certificate and chain.',
    }),
    password: Type.String({ description: 'The PKCS#12 password (may be empty).' }),
  },
  { additionalProperties: false, description: 'A PKCS#12 file.' },
)

const PemUpload = Type.Object(
  {
    privateKey: Type.String({
      minLength: 1,
      description: 'The private key, PEM, unencrypted (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY).',
    }),
    certificateChain: Type.String({
      minLength: 1,
      description: "The key's certificate, then each issuer up to (not necessarily including) the root, PEM.",
    }),
  },
  { additionalProperties: false, description: 'A PEM private key and its certificate chain.' },
)

export const KeyPairUploadBody = Type.Union([Pkcs12Upload, PemUpload], {
  description: 'Either a PKCS#12 file with its password, or a PEM private key with its certificate chain.',
})

/** The properties of each upload shape, for a precise message when a body is neither. */
export const UPLOAD_SHAPES = [
  ['pkcs12', 'password'],
  ['privateKey', 'certificateChain'],
] as const

export const CertificateQuery = Type.Object({
  chain: Type.Optional(
    Type.Boolean({ default: false, description: "true: the signer certificate, then the chain's certificates." }),
  ),
})

/** What the parser refuses an upload for (src/cms/key-pair.ts, src/cms/pkcs12.ts). */
export const KEY_PAIR_UPLOAD_ERRORS = [
  Errors.KEY_PAIR_MALFORMED,
  Errors.CERTIFICATE_MALFORMED,
  Errors.KEY_PAIR_MISMATCH,
  Errors.PKCS12_PASSWORD_INCORRECT,
  Errors.PKCS12_UNSUPPORTED,
  Errors.PKCS12_KEY_COUNT,
  Errors.KEY_ALGORITHM_UNSUPPORTED,
  Errors.KEY_TOO_WEAK,
  Errors.KEY_USAGE_FORBIDS_SIGNING,
  Errors.CERTIFICATE_EXPIRED,
]
