import { Type } from 'typebox'
import { CONTENT_ENCRYPTIONS, KEY_TRANSPORTS, RECIPIENT_IDENTIFIERS } from '../../cms/algorithms.js'
import { OUTPUT_ENCODINGS } from '../../cms/output-encoding.js'
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

export const EncryptorBody = Type.Object(
  {
    receiverAliases: settings.receiverAliases,
    contentEncryption: Type.Optional(settings.contentEncryption),
    keyTransport: Type.Optional(settings.keyTransport),
    recipientIdentifier: Type.Optional(settings.recipientIdentifier),
    missingAlias: Type.Optional(settings.missingAlias),
    encoding: Type.Optional(settings.encoding),
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
