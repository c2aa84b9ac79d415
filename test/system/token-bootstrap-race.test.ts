import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { freshDatabaseUrl, storeDir } from '../helpers/app.js'
import { issueCertificate } from '../helpers/pki.js'
import { startReplica } from '../helpers/replica.js'

t.test('two processes starting together on a new store bootstrap one set of tokens', async (t) => {
  // Separate processes, as in production (an overlapping restart on SQLite, replicas on PostgreSQL):
  // two SQLite connections in one thread would block each other's busy handler.
  const dir = storeDir(t, 'cms-auth-')
  // AUDIT_KEY_FILE empty: the audit key is made in the shared DATA_DIR too, by whichever process comes first.
  const env = { DATA_DIR: dir, AUTH_TOKENS_FILE: '', AUDIT_KEY_FILE: '' }
  const databaseUrl = await freshDatabaseUrl(t)
  const [one, two] = await Promise.all([
    startReplica(t, 'one', databaseUrl, env),
    startReplica(t, 'two', databaseUrl, env),
  ])
  const file = join(dir, 'bootstrap-tokens.json')
  t.equal(statSync(file).mode & 0o777, 0o600, 'the token file is for the service user only')
  const tokens = JSON.parse(readFileSync(file, 'utf8'))
  for (const replica of [one, two]) {
    const res = await fetch(replica.url('/keystore/entries'), {
      headers: { authorization: `Bearer ${tokens.monitor}` },
    })
    t.equal(res.status, 200, `${replica.name} accepts the tokens in the bootstrap file`)
  }

  // They also created one audit key between them: what one signs, the other verifies.
  t.equal(statSync(join(dir, 'audit-key')).mode & 0o777, 0o600)
  const cert = await issueCertificate('race', { key: 'ec-p256' })
  for (const [replica, alias] of [
    [one, 'a'],
    [two, 'b'],
  ] as const) {
    const res = await fetch(replica.url(`/keystore/entries/${alias}`), {
      method: 'PUT',
      headers: { authorization: `Bearer ${tokens['tenant-admin']}`, 'content-type': 'application/x-pem-file' },
      body: cert.pem,
    })
    t.equal(res.status, 201, `${replica.name} writes`)
  }
  for (const replica of [one, two]) {
    const res = await fetch(replica.url('/audit/verify'), { headers: { authorization: `Bearer ${tokens.monitor}` } })
    t.match(await res.json(), { valid: true, records: 2, head: { lastId: Number } }, `${replica.name} verifies`)
  }
})
