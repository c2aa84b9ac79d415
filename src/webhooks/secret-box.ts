import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

const VERSION = 'v1:'

/**
 * Keeps the webhook signing secrets sealed in the store (AES-256-GCM under a key derived from the audit key,
 * which the database does not hold): a copy of the database alone does not let anyone sign webhooks that
 * receivers would believe. Each sealed secret is bound to its subscription id (additional data), so one
 * cannot be moved to another row. The secrets must be recoverable to sign with, so they cannot be hashed
 * like the tokens.
 */
export class SecretBox {
  readonly #key: Buffer

  constructor(key: Buffer) {
    if (key.length !== 32) throw new RangeError('a secret box key is 32 bytes')
    this.#key = Buffer.from(key)
  }

  seal(secret: string, subscriptionId: string): string {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv).setAAD(Buffer.from(subscriptionId))
    const sealed = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()])
    return VERSION + Buffer.concat([iv, sealed, cipher.getAuthTag()]).toString('base64')
  }

  /** Throws when the sealed text was not made by this key for this subscription. */
  open(sealed: string, subscriptionId: string): string {
    if (!sealed.startsWith(VERSION)) throw new Error('a webhook secret is not sealed')
    const bytes = Buffer.from(sealed.slice(VERSION.length), 'base64')
    const decipher = createDecipheriv('aes-256-gcm', this.#key, bytes.subarray(0, 12))
      .setAAD(Buffer.from(subscriptionId))
      .setAuthTag(bytes.subarray(bytes.length - 16))
    return Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]).toString('utf8')
  }
}
