import type { Kysely } from 'kysely'
import t, { type Test } from 'tap'
import { dialectOf, externalCommitsOf, openDatabase } from '../../src/store/database.js'
import type { Database } from '../../src/store/schema.js'
import { readSnapshot } from '../../src/store/transact.js'
import { buildTestApp, storeDir, TEST_BACKEND } from '../helpers/app.js'

t.test(`this run exercises the ${TEST_BACKEND} store`, async (t) => {
  const app = await buildTestApp(t)
  t.equal(dialectOf(app.db), TEST_BACKEND)
  t.equal(app.changeListener !== null, TEST_BACKEND === 'postgres', 'a PostgreSQL replica listens for changes')
})

/** A committed write, as any keystore or encryptor change makes one. */
const write = (db: Kysely<Database>) =>
  db
    .updateTable('write_lock')
    .set((eb) => ({ writes: eb('writes', '+', 1) }))
    .where('id', '=', 1)
    .execute()

/**
 * Two handles on one SQLite file stand for two processes (the connection is what SQLite tells apart).
 * One thread is enough here because no write waits for another: each commits before the next starts.
 */
async function twoConnections(t: Test) {
  const dir = storeDir(t, 'cms-external-commits-')
  const one = await openDatabase({ dataDir: dir })
  const other = await openDatabase({ dataDir: dir })
  t.teardown(async () => {
    await one.destroy()
    await other.destroy()
  })
  return { one, other, commits: externalCommitsOf(one) }
}

t.test('SQLite: another connection commits, and the version changes; own commits leave it', async (t) => {
  const { one, other, commits } = await twoConnections(t)
  const start = await commits.version()
  t.equal(await commits.version(), start, 'unchanged while nobody writes')
  await write(one)
  t.equal(await commits.version(), start, "this connection's own commit (already on the ChangeFeed) does not count")
  await write(other)
  const afterOther = await commits.version()
  t.not(afterOther, start, "the other connection's commit counts")
  t.equal(await commits.version(), afterOther, 'and is counted once')
})

t.test('SQLite: asked while a transaction is open, the version includes commits made since it began', async (t) => {
  const { one, other, commits } = await twoConnections(t)
  const before = await commits.version()
  let during: number | Promise<number> = before
  await readSnapshot(one, async (tx) => {
    await tx.selectFrom('write_lock').selectAll().execute() // the snapshot is taken here
    await write(other)
    // Asked now, inside the snapshot, SQLite itself would still answer `before`.
    during = commits.version()
  })
  t.not(await during, before, 'the commit made during the transaction is seen')
})

t.test(`${TEST_BACKEND}: the app's own writes are not another process's commits`, async (t) => {
  const app = await buildTestApp(t)
  const commits = externalCommitsOf(app.db)
  const start = await commits.version()
  await write(app.db)
  t.equal(await commits.version(), start)
})
