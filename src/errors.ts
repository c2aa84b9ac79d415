import createError, { type FastifyErrorConstructor } from '@fastify/error'

/**
 * The one catalogue of errors the service answers with. Each entry is a stable `code` (clients switch
 * on it), an HTTP status and a message template; the error handler renders them as RFC 9457
 * application/problem+json. Domain code throws these; it never builds HTTP responses itself.
 */
function problem(code: string, status: number, message: string): FastifyErrorConstructor {
  return createError(code, message, status)
}

export const Errors = {
  // Requests
  VALIDATION: problem('CMS_VALIDATION_FAILED', 400, '%s'),
  MALFORMED_JSON: problem('CMS_MALFORMED_JSON', 400, 'The request body is not valid JSON: %s'),
  EMPTY_BODY: problem('CMS_EMPTY_BODY', 400, '%s'),
  BODY_TOO_LARGE: problem('CMS_BODY_TOO_LARGE', 413, '%s'),
  UNSUPPORTED_MEDIA_TYPE: problem('CMS_UNSUPPORTED_MEDIA_TYPE', 415, '%s'),
  ROUTE_NOT_FOUND: problem('CMS_ROUTE_NOT_FOUND', 404, 'No route %s %s'),
  METHOD_NOT_ALLOWED: problem('CMS_METHOD_NOT_ALLOWED', 405, '%s'),
  PRECONDITION_FAILED: problem('CMS_PRECONDITION_FAILED', 412, '%s'),
  PRECONDITION_REQUIRED: problem('CMS_PRECONDITION_REQUIRED', 428, '%s'),
  // Raised by Node's HTTP parser, before Fastify sees a request (see clientErrorHandler).
  MALFORMED_HTTP: problem(
    'CMS_MALFORMED_HTTP',
    400,
    'The request is not valid HTTP/1.1 (%s); the connection is closed.',
  ),
  REQUEST_TIMEOUT: problem(
    'CMS_REQUEST_TIMEOUT',
    408,
    'The request was not complete within REQUEST_TIMEOUT_MS; the connection is closed.',
  ),
  HEADERS_TOO_LARGE: problem(
    'CMS_HEADERS_TOO_LARGE',
    431,
    'The request headers are too large; the connection is closed.',
  ),

  // Auth
  UNAUTHENTICATED: problem('CMS_UNAUTHENTICATED', 401, '%s'),
  FORBIDDEN: problem('CMS_FORBIDDEN', 403, '%s'),

  // Certificates
  CERTIFICATE_MALFORMED: problem('CMS_CERTIFICATE_MALFORMED', 400, 'The certificate cannot be parsed: %s'),
  CERTIFICATE_COUNT: problem('CMS_CERTIFICATE_COUNT', 400, 'Send exactly one certificate; the body holds %s.'),
  PRIVATE_KEY_IN_BODY: problem(
    'CMS_PRIVATE_KEY_IN_BODY',
    400,
    'The body contains private key material. ' +
      "Send the receiver certificate alone: a receiver's private key never leaves the receiver.",
  ),
  KEY_ALGORITHM_UNSUPPORTED: problem('CMS_KEY_ALGORITHM_UNSUPPORTED', 422, '%s'),
  KEY_TOO_WEAK: problem('CMS_KEY_TOO_WEAK', 422, '%s'),
  KEY_USAGE_FORBIDS_ENCRYPTION: problem('CMS_KEY_USAGE_FORBIDS_ENCRYPTION', 422, '%s'),
  CERTIFICATE_EXPIRED: problem('CMS_CERTIFICATE_EXPIRED', 422, '%s'),

  // Keystore and encryptors
  ALIAS_NOT_FOUND: problem('CMS_ALIAS_NOT_FOUND', 404, 'No keystore entry with alias "%s".'),
  ALIAS_IN_USE: problem('CMS_ALIAS_IN_USE', 409, '%s'),
  ENCRYPTOR_NOT_FOUND: problem('CMS_ENCRYPTOR_NOT_FOUND', 404, 'No encryptor with id "%s".'),
  ALIAS_ALREADY_LISTED: problem('CMS_ALIAS_ALREADY_LISTED', 409, 'Encryptor "%s" already lists alias "%s".'),
  ALIAS_NOT_LISTED: problem('CMS_ALIAS_NOT_LISTED', 404, 'Encryptor "%s" does not list alias "%s".'),
  LAST_ALIAS: problem(
    'CMS_LAST_ALIAS',
    409,
    'Alias "%s" is the last receiver of encryptor "%s"; an encryptor needs at least one. ' +
      'Add the new alias first, or delete the encryptor.',
  ),
  SUBJECT_KEY_IDENTIFIER_MISSING: problem('CMS_SUBJECT_KEY_IDENTIFIER_MISSING', 409, '%s'),
  TOO_MANY_ALIASES: problem(
    'CMS_TOO_MANY_ALIASES',
    409,
    'Encryptor "%s" would list %s receiver aliases; it may list %s, plus the new alias of an add-alias ' +
      'renewal while one runs. Remove an alias first.',
  ),

  // Key pairs (the tenant's own signing keys) and signers
  KEY_PAIR_NOT_FOUND: problem('CMS_KEY_PAIR_NOT_FOUND', 404, 'No key pair with alias "%s".'),
  KEY_PAIR_MALFORMED: problem('CMS_KEY_PAIR_MALFORMED', 400, 'The key pair cannot be read: %s'),
  KEY_PAIR_MISMATCH: problem(
    'CMS_KEY_PAIR_MISMATCH',
    422,
    'The private key does not belong to the certificate %s; send the key and its own certificate.',
  ),
  PKCS12_PASSWORD_INCORRECT: problem(
    'CMS_PKCS12_PASSWORD_INCORRECT',
    422,
    'The PKCS#12 password is not correct (its integrity check fails with it).',
  ),
  PKCS12_UNSUPPORTED: problem('CMS_PKCS12_UNSUPPORTED', 422, '%s'),
  PKCS12_KEY_COUNT: problem('CMS_PKCS12_KEY_COUNT', 422, '%s'),
  KEY_USAGE_FORBIDS_SIGNING: problem('CMS_KEY_USAGE_FORBIDS_SIGNING', 422, '%s'),
  ALIAS_TAKEN: problem('CMS_ALIAS_TAKEN', 409, '%s'),
  SIGNER_NOT_KEY_PAIR: problem('CMS_SIGNER_NOT_KEY_PAIR', 422, '%s'),
  SIGNATURE_SCHEME_MISMATCH: problem('CMS_SIGNATURE_SCHEME_MISMATCH', 422, '%s'),
  SIGNER_CONTENT_ENCRYPTION: problem(
    'CMS_SIGNER_CONTENT_ENCRYPTION',
    422,
    'An encryptor that signs sends EnvelopedData, so it needs a CBC content cipher, not %s: AuthEnvelopedData ' +
      'around a SignedData must carry authenticated attributes (RFC 5083 2.1), which OpenSSL 3.0 receivers ' +
      'cannot read.',
  ),

  // Renewals
  RENEWAL_IN_PROGRESS: problem('CMS_RENEWAL_IN_PROGRESS', 409, '%s'),
  RENEWAL_NOT_FOUND: problem('CMS_RENEWAL_NOT_FOUND', 404, 'No renewal with id "%s".'),
  RENEWAL_PRECONDITION: problem('CMS_RENEWAL_PRECONDITION', 409, '%s'),
  RENEWAL_INVALID: problem('CMS_RENEWAL_INVALID', 422, '%s'),
  RENEWAL_NOT_ACTIVE: problem('CMS_RENEWAL_NOT_ACTIVE', 409, '%s'),
  STEP_UNKNOWN: problem('CMS_STEP_UNKNOWN', 400, '%s'),
  STEP_OUT_OF_ORDER: problem('CMS_STEP_OUT_OF_ORDER', 409, '%s'),
  STEP_FORBIDDEN: problem('CMS_STEP_FORBIDDEN', 403, '%s'),
  ABORT_REFUSED: problem('CMS_ABORT_REFUSED', 409, '%s'),

  // Webhooks
  WEBHOOK_NOT_FOUND: problem('CMS_WEBHOOK_NOT_FOUND', 404, 'No webhook subscription with id "%s".'),
  WEBHOOK_DELIVERY_NOT_FOUND: problem(
    'CMS_WEBHOOK_DELIVERY_NOT_FOUND',
    404,
    'Webhook subscription "%s" has no delivery with id "%s".',
  ),
  WEBHOOK_URL_REFUSED: problem('CMS_WEBHOOK_URL_REFUSED', 422, 'The webhook URL is refused: %s.'),
  WEBHOOK_EVENT_UNKNOWN: problem('CMS_WEBHOOK_EVENT_UNKNOWN', 422, '%s'),
  WEBHOOK_DELIVERY_PENDING: problem(
    'CMS_WEBHOOK_DELIVERY_PENDING',
    409,
    'Delivery "%s" is still pending: it is attempted on its schedule. A delivered or failed one can be re-sent.',
  ),
  WEBHOOK_LIMIT: problem('CMS_WEBHOOK_LIMIT', 409, 'The service holds %s webhook subscriptions already, its limit.'),

  // Encrypt
  ENCRYPTOR_PAUSED: problem('CMS_ENCRYPTOR_PAUSED', 503, '%s'),
  NO_RECIPIENT: problem('CMS_NO_RECIPIENT', 409, '%s'),
  PAYLOAD_TOO_LARGE: problem('CMS_PAYLOAD_TOO_LARGE', 413, 'The payload exceeds the limit of %s bytes.'),
  PAYLOAD_LENGTH_MISMATCH: problem(
    'CMS_PAYLOAD_LENGTH_MISMATCH',
    400,
    'The payload has %s bytes, not the %s its Content-Length declared.',
  ),
  REQUEST_ABORTED: problem(
    'CMS_REQUEST_ABORTED',
    400,
    'The client aborted the request before the payload was complete.',
  ),
  TOO_MANY_STREAMS: problem(
    'CMS_TOO_MANY_STREAMS',
    503,
    'This replica already encrypts %s streamed payloads at once (MAX_CONCURRENT_STREAMS); retry later.',
  ),

  NOT_READY: problem('CMS_NOT_READY', 503, '%s'),
  AUDIT_ANCHOR_BROKEN: problem('CMS_AUDIT_ANCHOR_BROKEN', 503, '%s'),
  OVERLOADED: problem('CMS_OVERLOADED', 503, 'The service is overloaded; retry later.'),
  RATE_LIMITED: problem('CMS_RATE_LIMITED', 429, 'Too many requests from this token or address; retry in %s.'),
  INTERNAL: problem('CMS_INTERNAL', 500, 'Internal error.'),
} as const

/** One entry of the catalogue: routes list the entries they may answer with (route config `errors`). */
export type CatalogueError = FastifyErrorConstructor

/**
 * Entries always answered with a Retry-After header: the rate limiter and load shedding set it, a
 * paused encryptor's error and the stream limit's carry `retryAfter` for the error handler. The
 * OpenAPI document reads it.
 */
export const WITH_RETRY_AFTER: readonly CatalogueError[] = [
  Errors.RATE_LIMITED,
  Errors.OVERLOADED,
  Errors.ENCRYPTOR_PAUSED,
  Errors.TOO_MANY_STREAMS,
]

/** The code and status of a catalogue entry (read from an instance: the constructor does not carry them). */
export function codeAndStatus(entry: CatalogueError): { code: string; status: number } {
  const error = new entry()
  return { code: error.code, status: error.statusCode ?? 500 }
}
