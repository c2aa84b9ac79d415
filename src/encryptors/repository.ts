import type { Selectable } from 'kysely'
import type { Database, Executor } from '../store/schema.js'
import type { Encryptor, SignerSettings } from './encryptor.js'

type Row = Selectable<Database['encryptors']>

function toEncryptor(row: Row, aliases: string[]): Encryptor {
  return {
    id: row.id,
    receiverAliases: aliases,
    contentEncryption: row.content_encryption as Encryptor['contentEncryption'],
    keyTransport: row.key_transport as Encryptor['keyTransport'],
    recipientIdentifier: row.recipient_identifier as Encryptor['recipientIdentifier'],
    missingAlias: row.missing_alias as Encryptor['missingAlias'],
    encoding: row.encoding as Encryptor['encoding'],
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    pause: row.paused_by ? { renewalId: row.paused_by, until: row.paused_until } : null,
    signer: row.signer_alias
      ? {
          alias: row.signer_alias,
          digest: row.signer_digest as SignerSettings['digest'],
          signature: row.signer_signature as SignerSettings['signature'],
          includeCertificates: row.signer_include_certificates as SignerSettings['includeCertificates'],
          signerIdentifier: row.signer_identifier as SignerSettings['signerIdentifier'],
        }
      : null,
  }
}

async function withAliases(db: Executor, rows: Row[]): Promise<Encryptor[]> {
  if (rows.length === 0) return []
  const aliases = await db
    .selectFrom('encryptor_aliases')
    .selectAll()
    .where(
      'encryptor_id',
      'in',
      rows.map((r) => r.id),
    )
    .orderBy('encryptor_id')
    .orderBy('position')
    .execute()
  const byId = new Map<string, string[]>()
  for (const a of aliases) byId.set(a.encryptor_id, [...(byId.get(a.encryptor_id) ?? []), a.alias])
  return rows.map((r) => toEncryptor(r, byId.get(r.id) ?? []))
}

/** Queries on the encryptor tables; one set for every SQL dialect. */
export const encryptorRepository = {
  async find(db: Executor, id: string): Promise<Encryptor | undefined> {
    const row = await db.selectFrom('encryptors').selectAll().where('id', '=', id).executeTakeFirst()
    return row ? (await withAliases(db, [row]))[0] : undefined
  },

  async list(db: Executor): Promise<Encryptor[]> {
    return withAliases(db, await db.selectFrom('encryptors').selectAll().orderBy('id').execute())
  },

  /** Encryptors that list `alias` among their receivers. */
  async using(db: Executor, alias: string): Promise<Encryptor[]> {
    const rows = await db
      .selectFrom('encryptors')
      .selectAll()
      .where('id', 'in', db.selectFrom('encryptor_aliases').select('encryptor_id').where('alias', '=', alias))
      .orderBy('id')
      .execute()
    return withAliases(db, rows)
  },

  async save(db: Executor, e: Encryptor, exists: boolean): Promise<void> {
    const row = {
      content_encryption: e.contentEncryption,
      key_transport: e.keyTransport,
      recipient_identifier: e.recipientIdentifier,
      missing_alias: e.missingAlias,
      encoding: e.encoding,
      signer_alias: e.signer?.alias ?? null,
      signer_digest: e.signer?.digest ?? null,
      signer_signature: e.signer?.signature ?? null,
      signer_include_certificates: e.signer?.includeCertificates ?? null,
      signer_identifier: e.signer?.signerIdentifier ?? null,
      version: e.version,
      updated_at: e.updatedAt,
    }
    if (exists) await db.updateTable('encryptors').set(row).where('id', '=', e.id).execute()
    else
      await db
        .insertInto('encryptors')
        .values({ id: e.id, created_at: e.createdAt, ...row })
        .execute()
    await db.deleteFrom('encryptor_aliases').where('encryptor_id', '=', e.id).execute()
    await db
      .insertInto('encryptor_aliases')
      .values(e.receiverAliases.map((alias, position) => ({ encryptor_id: e.id, position, alias })))
      .execute()
  },

  async setPause(db: Executor, id: string, pause: Encryptor['pause']): Promise<void> {
    await db
      .updateTable('encryptors')
      .set({ paused_by: pause?.renewalId ?? null, paused_until: pause?.until ?? null })
      .where('id', '=', id)
      .execute()
  },

  async delete(db: Executor, id: string): Promise<void> {
    await db.deleteFrom('encryptor_aliases').where('encryptor_id', '=', id).execute()
    await db.deleteFrom('encryptors').where('id', '=', id).execute()
  },
}
