import type { Kysely } from 'kysely'
import { createHash, X509Certificate } from 'node:crypto'
import type { Actor } from '../audit/audit.js'
import type { PublicKeyInfo, ReceiverCertificate } from '../cms/certificate.js'
import { parseKeyPairUpload, type KeyPairUpload } from '../cms/key-pair.js'
import { Errors } from '../errors.js'
import type { ChangeFeed } from '../store/changes.js'
import type { Preconditions } from '../store/preconditions.js'
import { storedCertificate } from '../store/receiver-certificates.js'
import type { Database } from '../store/schema.js'
import { transact } from '../store/transact.js'
import type { KeyEncryptionKeys } from './key-encryption-key.js'
import { deleteKeyPair, storeKeyPair } from './key-pair-mutations.js'
import { keyPairRepository, storedChain, type PublicKeyPairRow } from './key-pair-repository.js'
import type { AliasUsers } from './mutations.js'

/** A certificate of a chain, as shown: CA certificates need not pass the receiver checks, so OpenSSL reads them. */
export interface ChainCertificate {
  der: Buffer
  subject: string
  issuer: string
  notAfter: Date
  sha256Fingerprint: string
}

/** The public part of a key pair: everything but the private key, which never leaves the store unsealed. */
export interface KeyPairEntry {
  alias: string
  version: number
  certificate: ReceiverCertificate
  chain: ChainCertificate[]
  keyType: PublicKeyInfo
  createdAt: string
  updatedAt: string
}

export interface RetiredKeyPair {
  version: number
  certificate: ReceiverCertificate
  retiredAt: string
  reason: 'replaced' | 'deleted'
}

export interface KeyPairDetails extends KeyPairEntry {
  /** Ids of the encryptors that sign with this key pair. */
  usedBy: string[]
  history: RetiredKeyPair[]
}

function chainCertificate(der: Buffer): ChainCertificate {
  const x509 = new X509Certificate(der)
  return {
    der,
    subject: x509.subject.split('\n').join(', '),
    issuer: x509.issuer.split('\n').join(', '),
    notAfter: new Date(x509.validTo),
    sha256Fingerprint: createHash('sha256').update(der).digest('hex'),
  }
}

function toEntry(row: PublicKeyPairRow): KeyPairEntry {
  const certificate = storedCertificate(row)
  return {
    alias: row.alias,
    version: row.version,
    certificate,
    chain: storedChain(row).map(chainCertificate),
    keyType: certificate.publicKey,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

/**
 * The tenant's own key pairs (issue 15: sign, then encrypt), by alias. Reads answer the public part
 * only: the rows they load leave the sealed key out. Writes seal the private key with the
 * key-encryption keys; nothing here returns, logs or audits it.
 */
export class KeyPairService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly changes: ChangeFeed,
    private readonly users: AliasUsers,
    private readonly keys: KeyEncryptionKeys,
  ) {}

  async list(): Promise<KeyPairEntry[]> {
    return (await keyPairRepository.listPublic(this.db)).map(toEntry)
  }

  async get(alias: string): Promise<KeyPairDetails> {
    const row = await keyPairRepository.findPublic(this.db, alias)
    if (!row) throw new Errors.KEY_PAIR_NOT_FOUND(alias)
    const [signers, history] = await Promise.all([
      keyPairRepository.signers(this.db, alias),
      keyPairRepository.history(this.db, alias),
    ])
    return {
      ...toEntry(row),
      usedBy: signers.map((s) => s.id),
      history: history.map((h) => ({
        version: h.version,
        certificate: storedCertificate(h),
        retiredAt: h.retired_at,
        reason: h.reason as RetiredKeyPair['reason'],
      })),
    }
  }

  /**
   * Stores an upload (PKCS#12, or PEM key and chain) under `alias`: created, or replacing the current
   * key pair. The upload is parsed and checked before the transaction; every guard runs in it before
   * anything is written.
   */
  async put(
    alias: string,
    upload: KeyPairUpload,
    actor: Actor,
    preconditions?: Preconditions,
  ): Promise<{ created: boolean; entry: KeyPairEntry }> {
    // The alias picks the key of a PKCS#12 file holding several: the one whose friendlyName it is.
    const pair = parseKeyPairUpload(upload, new Date(), alias)
    const result = await transact(this.db, this.changes, (ctx) =>
      storeKeyPair({ ...ctx, actor }, this.users, this.keys, alias, pair, preconditions),
    )
    return { created: result.created, entry: toEntry(result.row) }
  }

  async delete(alias: string, actor: Actor, preconditions?: Preconditions): Promise<void> {
    await transact(this.db, this.changes, (ctx) => deleteKeyPair({ ...ctx, actor }, alias, preconditions))
  }
}
