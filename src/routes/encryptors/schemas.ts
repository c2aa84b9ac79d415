import { Type } from 'typebox'
import { CONTENT_ENCRYPTIONS, KEY_TRANSPORTS, RECIPIENT_IDENTIFIERS } from '../../cms/algorithms.js'
import { OUTPUT_ENCODINGS } from '../../cms/output-encoding.js'
import {
  CERTIFICATE_INCLUSIONS,
  SIGNATURE_SCHEMES,
  SIGNER_DIGESTS,
  SIGNER_IDENTIFIERS,
} from '../../cms/signature-algorithms.js'
import { MAX_LISTED_ALIASES, MAX_RECEIVER_ALIASES } from '../../encryptors/alias-limit.js'
import { MISSING_ALIAS_POLICIES } from '../../encryptors/encryptor.js'
import { Alias, EncryptorId } from '../schemas.js'

const aliasList = (maxItems: number, description: string) =>
  Type.Array(Alias, { minItems: 1, maxItems, uniqueItems: true, description })

const settings = {
  receiverAliases: aliasList(
    MAX_RECEIVER_ALIASES,
    `Keystore aliases of the receivers, at most ${MAX_RECEIVER_ALIASES}; one RecipientInfo per alias present.`,
  ),
  contentEncryption: Type.Enum([...CONTENT_ENCRYPTIONS], {
    description: 'Content cipher. GCM is sent as AuthEnvelopedData (RFC 5083); des-ede3-cbc only for legacy receivers.',
  }),
  keyTransport: Type.Enum([...KEY_TRANSPORTS], {
    description:
      'How the content key is encrypted for RSA receivers. EC receivers always use ECDH (kari) with AES key wrap.',
  }),
  recipientIdentifier: Type.Enum([...RECIPIENT_IDENTIFIERS], {
    description: 'How each RecipientInfo names its certificate.',
  }),
  missingAlias: Type.Enum([...MISSING_ALIAS_POLICIES], {
    description:
      'fail: every alias must have a certificate; skip: encrypt for the aliases present, fail only when none is.',
  }),
  encoding: Type.Enum([...OUTPUT_ENCODINGS], {
    description: 'Default output encoding: der, base64 (one line) or pem.',
  }),
}

const signerOptions = {
  alias: { ...Alias, description: 'Alias of the key pair (PUT /keystore/key-pairs/{alias}) that signs.' },
  digest: Type.Enum([...SIGNER_DIGESTS], { description: 'Message digest of the signature. Default sha256.' }),
  signature: Type.Enum([...SIGNATURE_SCHEMES], {
    description: 'Signature scheme: rsa-pkcs1-v1_5 (the default for RSA keys) or rsa-pss for RSA, ecdsa for EC keys.',
  }),
  includeCertificates: Type.Enum([...CERTIFICATE_INCLUSIONS], {
    description:
      'Certificates sent in the SignedData: the signer certificate (default), the whole chain, or none (the ' +
      'receiver holds it).',
  }),
  signerIdentifier: Type.Enum([...SIGNER_IDENTIFIERS], {
    description: 'How the SignerInfo names the signer certificate. Default issuer-serial.',
  }),
}

const SignerBody = Type.Union(
  [
    Type.Null(),
    Type.Object(
      {
        alias: signerOptions.alias,
        digest: Type.Optional(signerOptions.digest),
        signature: Type.Optional(signerOptions.signature),
        includeCertificates: Type.Optional(signerOptions.includeCertificates),
        signerIdentifier: Type.Optional(signerOptions.signerIdentifier),
      },
      { additionalProperties: false },
    ),
  ],
  {
    description:
      'Sign, then encrypt: the payload is signed (CMS SignedData with signed attributes) by this key pair, and ' +
      'the SignedData is what is encrypted. Needs a CBC content cipher. Absent or null: encrypt only.',
  },
)

const SignerSchema = Type.Union(
  [
    Type.Null(),
    Type.Object({
      alias: signerOptions.alias,
      digest: signerOptions.digest,
      signature: signerOptions.signature,
      includeCertificates: signerOptions.includeCertificates,
      signerIdentifier: signerOptions.signerIdentifier,
    }),
  ],
  { description: 'The key pair that signs each payload before it is encrypted, every option resolved; null: none.' },
)

export const EncryptorBody = Type.Object(
  {
    receiverAliases: settings.receiverAliases,
    contentEncryption: Type.Optional(settings.contentEncryption),
    keyTransport: Type.Optional(settings.keyTransport),
    recipientIdentifier: Type.Optional(settings.recipientIdentifier),
    missingAlias: Type.Optional(settings.missingAlias),
    encoding: Type.Optional(settings.encoding),
    signer: Type.Optional(SignerBody),
  },
  { additionalProperties: false, description: 'Encryptor settings; all but receiverAliases default.' },
)

export const EncryptorSchema = Type.Object(
  {
    id: EncryptorId,
    ...settings,
    // An add-alias renewal lists its new alias on top of the encryptor's own while it runs.
    receiverAliases: aliasList(
      MAX_LISTED_ALIASES,
      `Keystore aliases of the receivers; one RecipientInfo per alias present. At most ${MAX_RECEIVER_ALIASES}, ` +
        'and one more while an add-alias renewal lists its new alias.',
    ),
    signer: SignerSchema,
    recipients: Type.Array(Alias, {
      description: 'Aliases a message is encrypted for right now (present in the keystore), in configured order.',
    }),
    pause: Type.Union(
      [
        Type.Null(),
        Type.Object({
          renewalId: Type.String({ description: 'The downtime renewal that paused the encryptor.' }),
          until: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
            description: 'Planned end of the downtime, when known.',
          }),
        }),
      ],
      { description: 'Set while a downtime renewal pauses the encryptor (encrypt answers 503 with Retry-After).' },
    ),
    version: Type.Integer({ description: 'Encryptor version, also the ETag.' }),
    createdAt: Type.String({ format: 'date-time', description: 'When the encryptor was created.' }),
    updatedAt: Type.String({ format: 'date-time', description: 'When it last changed.' }),
  },
  { $id: 'Encryptor', description: 'An encryptor: receivers and algorithms of an integration flow encrypt step.' },
)

export const AliasBody = Type.Object(
  { alias: Alias },
  { additionalProperties: false, description: 'The alias to add.' },
)
