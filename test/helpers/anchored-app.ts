import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { anchorOf, loadAuditKey, openAuditAnchor } from '../../src/audit/anchor.js'
import { chainHash, GENESIS, type AuditContent } from '../../src/audit/chain.js'
import { buildTestApp, storeDir } from './app.js'

/** A fresh audit key file (base64, mode 0600) in a directory of its own, removed in teardown. */
export function auditKeyFile(t: Test): string {
  const file = join(storeDir(t, 'cms-audit-key-'), 'audit-key')
  writeFileSync(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600 })
  return file
}

/**
 * buildTestApp with its audit anchor open under a key file of the test's own. createApp opens the
 * anchor from AUDIT_KEY_FILE; an app built without one gets it opened here, with the same key.
 */
export async function buildAnchoredApp(t: Test): Promise<{ app: FastifyInstance; keyFile: string }> {
  const keyFile = auditKeyFile(t)
  const app = await buildTestApp(t, { AUDIT_KEY_FILE: keyFile })
  if (!anchorOf(app.db)) await openAuditAnchor(app.db, await loadAuditKey({ file: keyFile, dataDir: '' }))
  return { app, keyFile }
}

/** A stored record's fields as the chain covers them. */
export const contentOf = ({ id: _id, hash: _hash, ...content }: AuditContent & { id: unknown; hash: unknown }) =>
  content

/**
 * What someone who can write the database but does not hold the key can do: recompute every hash
 * from the first record on, so the bare chain verifies again.
 */
export async function recomputeChain(app: FastifyInstance): Promise<void> {
  const rows = await app.db.selectFrom('audit_log').selectAll().orderBy('id').execute()
  let previous = GENESIS
  for (const row of rows) {
    const hash = chainHash(previous, contentOf(row))
    await app.db.updateTable('audit_log').set({ hash }).where('id', '=', row.id).execute()
    previous = hash
  }
}
