import type { Kysely } from 'kysely'
import { CONTENT_ENCRYPTION } from '../cms/algorithms.js'
import { EnvelopeTemplate } from '../cms/enveloped-data.js'
import type { OutputEncoding } from '../cms/output-encoding.js'
import { SignedDataTemplate } from '../cms/signed-data.js'
import { Errors } from '../errors.js'
import type { Change, ChangeFeed, ExternalCommits } from '../store/changes.js'
import { loadCertificates } from '../store/receiver-certificates.js'
import type { Database, Executor } from '../store/schema.js'
import type { SigningKeyPair } from '../cms/key-pair.js'
import { readSnapshot } from '../store/transact.js'
import type { EncryptorPause } from './encryptor.js'
import { prepareRecipients } from './recipients.js'
import { encryptorRepository } from './repository.js'

/**
 * Opens the key pair under an alias, in the caller's transaction; undefined when there is none. The
 * keystore implements it (its key-encryption keys open the sealed key); the services plugin wires it.
 */
export type SigningKeyPairLoader = (db: Executor, alias: string) => Promise<SigningKeyPair | undefined>

/** An encryptor ready for the hot path: recipients prepared, constant CMS parts encoded. */
export interface ResolvedEncryptor {
  id: string
  version: number
  encoding: OutputEncoding
  receiverAliases: readonly string[]
  template: EnvelopeTemplate
  /** The signer of a sign-then-encrypt encryptor: its key pair's alias and SignedData template. */
  signer: { alias: string; template: SignedDataTemplate } | null
  /** Set while a downtime renewal pauses the encryptor: encrypt must not emit anything. */
  pause: EncryptorPause | null
}

/**
 * Caches resolved encryptors so an encrypt does no database, parsing or key-import work. A committed
 * change drops the affected entries; a resolution that started before a change is returned to its
 * own caller but never cached (the generation check), so no later encrypt sees the old recipients.
 *
 * Changes arrive on the feed, from this process or (PostgreSQL) announced by other replicas. Another
 * process on the same SQLite file announces nothing, so every resolve first asks the store whether
 * anyone else has committed since it last asked; if so, which entries are affected is unknown and the
 * whole cache goes, through the same invalidation (and generation check) as an announced change.
 */
export class RecipientResolver {
  private readonly cache = new Map<string, ResolvedEncryptor>()
  private readonly pending = new Map<string, Promise<ResolvedEncryptor>>()
  private generation = 0
  /** Set while change notifications are lost: cached or not, nothing here can be trusted to be current. */
  private staleSince: number | undefined
  /** The store's ExternalCommits version when last asked: every cached entry was loaded after it. */
  private externalVersion: number | undefined

  constructor(
    private readonly db: Kysely<Database>,
    changes: ChangeFeed,
    private readonly externalCommits: ExternalCommits,
    /** Opens the signers' private keys; without it an encryptor that signs cannot resolve. */
    private readonly loadSigningKeyPair?: SigningKeyPairLoader,
  ) {
    changes.subscribe((change) => this.invalidate(change))
  }

  resolve(id: string): ResolvedEncryptor | Promise<ResolvedEncryptor> {
    const version = this.externalCommits.version()
    return typeof version === 'number' ? this.resolveAt(version, id) : version.then((v) => this.resolveAt(v, id))
  }

  /** Resolves from a cache that reflects every commit counted by `externalVersion`. */
  private resolveAt(externalVersion: number, id: string): ResolvedEncryptor | Promise<ResolvedEncryptor> {
    if (externalVersion !== this.externalVersion) {
      // Another process committed since the cache was filled. Loads already under way may have read
      // before that commit: the invalidation's generation bump keeps them out of the cache.
      this.invalidate()
      this.externalVersion = externalVersion
    }
    if (this.staleSince !== undefined) {
      throw Object.assign(
        new Errors.NOT_READY('This replica lost its change notifications and is reloading; retry in a moment.'),
        { retryAfter: 1 },
      )
    }
    const hit = this.cache.get(id)
    if (hit) return hit
    let pending = this.pending.get(id)
    if (!pending) {
      pending = this.load(id).finally(() => {
        if (this.pending.get(id) === pending) this.pending.delete(id)
      })
      this.pending.set(id, pending)
    }
    return pending
  }

  /** Refuse to resolve until resume(): changes committed elsewhere may be going unnoticed. */
  suspend(): void {
    this.staleSince ??= Date.now()
    this.invalidate()
  }

  /** Serve again, from a cache emptied now, so everything is reloaded from the store. */
  resume(): void {
    this.invalidate()
    this.staleSince = undefined
  }

  invalidate(change?: Change): void {
    this.generation++
    this.pending.clear()
    if (!change || change.kind === 'all') return this.cache.clear()
    if (change.kind === 'encryptor') this.cache.delete(change.id)
    // A keystore change names an alias: a receiver certificate's or a signer key pair's (unique across both).
    else
      for (const [id, r] of this.cache)
        if (r.receiverAliases.includes(change.alias) || r.signer?.alias === change.alias) this.cache.delete(id)
  }

  private async load(id: string): Promise<ResolvedEncryptor> {
    const generation = this.generation
    // One transaction, so the encryptor and its certificates are one consistent snapshot.
    const { encryptor, certificates, keyPair } = await readSnapshot(this.db, async (tx) => {
      const encryptor = await encryptorRepository.find(tx, id)
      if (!encryptor) throw new Errors.ENCRYPTOR_NOT_FOUND(id)
      const certificates = await loadCertificates(tx, encryptor.receiverAliases)
      const keyPair = encryptor.signer ? await this.loadKeyPair(tx, encryptor.signer.alias) : undefined
      return { encryptor, certificates, keyPair }
    })
    const signer =
      encryptor.signer && keyPair
        ? {
            alias: encryptor.signer.alias,
            template: new SignedDataTemplate({ ...keyPair, alias: encryptor.signer.alias, options: encryptor.signer }),
          }
        : null
    const resolved: ResolvedEncryptor = {
      id,
      version: encryptor.version,
      encoding: encryptor.encoding,
      receiverAliases: encryptor.receiverAliases,
      pause: encryptor.pause,
      template: new EnvelopeTemplate(
        prepareRecipients(id, encryptor, certificates),
        CONTENT_ENCRYPTION[encryptor.contentEncryption],
        signer ? 'signedData' : 'data',
      ),
      signer,
    }
    if (generation === this.generation) this.cache.set(id, resolved)
    return resolved
  }

  /** A signer's key pair, private key opened. Saves prove it is there; a row gone since is a store fault. */
  private async loadKeyPair(tx: Executor, alias: string) {
    if (!this.loadSigningKeyPair) throw new Error('an encryptor signs, and this resolver cannot open key pairs')
    const keyPair = await this.loadSigningKeyPair(tx, alias)
    if (!keyPair) throw new Error(`the key pair "${alias}" an encryptor signs with is not in the store`)
    return keyPair
  }
}
