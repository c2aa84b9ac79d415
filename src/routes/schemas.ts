import { Type, type Static, type TSchema } from 'typebox'
import { Errors } from '../errors.js'

/** Aliases and encryptor ids: 1–250 of [A-Za-z0-9._-], starting with a letter or digit (so never "." or ".."). */
export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,249}$'

export const Alias = Type.String({
  pattern: NAME_PATTERN,
  minLength: 1,
  maxLength: 250,
  description:
    'Keystore alias: 1–250 characters of A–Z, a–z, 0–9, ".", "_", "-", starting with a letter or digit. ' +
    'Case-sensitive.',
})

export const EncryptorId = Type.String({
  pattern: NAME_PATTERN,
  minLength: 1,
  maxLength: 250,
  description:
    'Encryptor id: 1–250 characters of A–Z, a–z, 0–9, ".", "_", "-", starting with a letter or digit. ' +
    'Case-sensitive.',
})

/** The path of an encryptor and of what it does (encrypt). */
export const EncryptorIdParams = Type.Object({ id: EncryptorId })

export const ConditionalHeaders = Type.Object({
  'if-match': Type.Optional(
    Type.String({ description: 'Only apply when the resource is at this version (ETag); 412 otherwise.' }),
  ),
  'if-none-match': Type.Optional(Type.String({ description: '"*": only create, 412 when the resource exists.' })),
})

/**
 * A reference to a shared schema (registered with fastify.addSchema under its $id): one copy in the
 * OpenAPI components, and the handler's return type still checked against it.
 */
export function ref<T extends TSchema>(schema: T, description?: string) {
  const id = (schema as { $id?: unknown }).$id
  if (typeof id !== 'string') throw new Error('ref(): the schema has no $id')
  return Type.Unsafe<Static<T>>({ $ref: `${id}#`, ...(description ? { description } : {}) })
}

/** What an uploaded certificate can be refused for: the keystore upload and a renewal's new certificate. */
export const CERTIFICATE_ERRORS = [
  Errors.EMPTY_BODY,
  Errors.CERTIFICATE_MALFORMED,
  Errors.CERTIFICATE_COUNT,
  Errors.PRIVATE_KEY_IN_BODY,
  Errors.KEY_ALGORITHM_UNSUPPORTED,
  Errors.KEY_TOO_WEAK,
  Errors.KEY_USAGE_FORBIDS_ENCRYPTION,
  Errors.CERTIFICATE_EXPIRED,
]

/** What a change is refused for when it would leave an encryptor unable to encrypt for its receivers. */
export const RECIPIENT_ERRORS = [Errors.NO_RECIPIENT, Errors.SUBJECT_KEY_IDENTIFIER_MISSING]

/** Text and binary bodies that are not JSON, as OpenAPI 3.1 describes them. */
export const textBody = (description: string) => ({ schema: { type: 'string', description } })
export const binaryBody = (description: string) => ({
  schema: { type: 'string', format: 'binary', description },
})
