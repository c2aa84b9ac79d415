import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { freshDatabaseUrl, storeDir } from '../helpers/app.js'
import { startReplica } from '../helpers/replica.js'

t.test('two processes starting together on a new store bootstrap one set of tokens', async (t) => {
  // Separate processes, as in production (an overlapping restart on SQLite, replicas on PostgreSQL):
  // two SQLite connections in one thread would block each other's busy handler.
  const dir = storeDir(t, 'cms-auth-')
  const env = { DATA_DIR: dir, AUTH_TOKENS_FILE: '' }
  const databaseUrl = await freshDatabaseUrl(t)
  const [one, two] = await Promise.all([
    startReplica(t, 'one', databaseUrl, env),
    startReplica(t, 'two', databaseUrl, env),
  ])
  const tokens = JSON.parse(readFileSync(join(dir, 'bootstrap-tokens.json'), 'utf8'))
  for (const replica of [one, two]) {
    const res = await fetch(replica.url('/keystore/entries'), {
      headers: { authorization: `Bearer ${tokens.monitor}` },
    })
    t.equal(res.status, 200, `${replica.name} accepts the tokens in the bootstrap file`)
  }
})
