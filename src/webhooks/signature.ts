/** Signing, per https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md */
import { createHmac, randomBytes } from 'node:crypto'

const SECRET_PREFIX = 'whsec_'
/** 32 bytes: above the spec's floor of 24, the size of the HMAC-SHA256 output, as the reference libraries make them. */
const SECRET_BYTES = 32
const MIN_SECRET_BYTES = 24

export interface SignedMessage {
  /** The event's id: the same on every attempt, so receivers deduplicate by it. */
  id: string
  /** When this attempt is made (not when the event happened): receivers refuse stale ones against replays. */
  timestamp: Date
  /** The exact bytes sent: a receiver that re-serialises JSON before verifying will fail. */
  body: string
}

export interface SignatureHeaders {
  'webhook-id': string
  'webhook-timestamp': string
  'webhook-signature': string
}

/** A new subscription secret, in the spec's serialisation: `whsec_` and base64 of random bytes. */
export function newSecret(): string {
  return SECRET_PREFIX + randomBytes(SECRET_BYTES).toString('base64')
}

/**
 * The three headers of one delivery attempt. Several secrets sign it at once during a rotation (old and new
 * both valid for a while), each signature in the space-separated list the spec defines for that purpose.
 */
export function signatureHeaders(secrets: string | readonly string[], message: SignedMessage): SignatureHeaders {
  const keys = (typeof secrets === 'string' ? [secrets] : secrets).map(secretKey)
  if (keys.length === 0) throw new TypeError('at least one webhook secret is needed to sign')
  // The signed content is '{id}.{timestamp}.{body}': a '.' in the id would let one message pass for another.
  if (message.id === '' || message.id.includes('.')) throw new TypeError('a webhook id must be non-empty, without "."')
  const seconds = Math.floor(message.timestamp.getTime() / 1000)
  if (!Number.isSafeInteger(seconds)) throw new TypeError('a webhook timestamp must be a valid date')
  const content = `${message.id}.${seconds}.${message.body}`
  const signatures = keys.map((key) => 'v1,' + createHmac('sha256', key).update(content, 'utf8').digest('base64'))
  return {
    'webhook-id': message.id,
    'webhook-timestamp': String(seconds),
    'webhook-signature': signatures.join(' '),
  }
}

/** The key bytes of a `whsec_` secret; refuses anything else so a truncated or foreign secret never signs. */
function secretKey(secret: string): Buffer {
  if (!secret.startsWith(SECRET_PREFIX)) throw new TypeError(`a webhook secret starts with ${SECRET_PREFIX}`)
  const encoded = secret.slice(SECRET_PREFIX.length)
  const key = Buffer.from(encoded, 'base64')
  // Buffer.from skips characters that are not base64; encoding back catches them.
  if (key.toString('base64') !== encoded) throw new TypeError('a webhook secret is base64 after its prefix')
  if (key.length < MIN_SECRET_BYTES) throw new TypeError(`a webhook secret holds at least ${MIN_SECRET_BYTES} bytes`)
  return key
}
