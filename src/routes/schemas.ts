import { Type } from 'typebox'

/** Aliases and encryptor ids: 1–250 of [A-Za-z0-9._-], starting with a letter or digit (so never "." or ".."). */
export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,249}$'

export const Alias = Type.String({
  pattern: NAME_PATTERN,
  minLength: 1,
  maxLength: 250,
  description:
    'Keystore alias: 1–250 characters of A–Z, a–z, 0–9, ".", "_", "-", starting with a letter or digit. Case-sensitive.',
})

export const EncryptorId = Type.String({
  pattern: NAME_PATTERN,
  minLength: 1,
  maxLength: 250,
  description:
    'Encryptor id: 1–250 characters of A–Z, a–z, 0–9, ".", "_", "-", starting with a letter or digit. Case-sensitive.',
})

export const ProblemSchema = Type.Object(
  {
    type: Type.String({ description: 'URI naming the kind of problem.' }),
    title: Type.String({ description: 'Short summary of the HTTP status.' }),
    status: Type.Integer({ description: 'HTTP status code.' }),
    detail: Type.String({ description: 'What went wrong, for a person.' }),
    code: Type.String({ description: 'Stable machine-readable error code, e.g. CMS_ALIAS_NOT_FOUND.' }),
    instance: Type.String({ description: 'Path of the request.' }),
    requestId: Type.String({ description: 'Request id, also in the logs.' }),
    errors: Type.Optional(
      Type.Array(
        Type.Object({
          path: Type.String({ description: 'JSON pointer of the invalid value.' }),
          message: Type.String({ description: 'What is wrong with it.' }),
        }),
        { description: 'Schema violations, for validation errors.' },
      ),
    ),
  },
  { description: 'RFC 9457 problem details (application/problem+json).' },
)

export const ConditionalHeaders = Type.Object({
  'if-match': Type.Optional(
    Type.String({ description: 'Only apply when the resource is at this version (ETag); 412 otherwise.' }),
  ),
  'if-none-match': Type.Optional(Type.String({ description: '"*": only create, 412 when the resource exists.' })),
})

export const problemResponses = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [s, ProblemSchema]))
