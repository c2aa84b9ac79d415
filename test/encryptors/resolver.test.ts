import t, { type Test } from 'tap'
import { RecipientResolver } from '../../src/encryptors/resolver.js'
import { ChangeFeed, type ExternalCommits } from '../../src/store/changes.js'
import { buildTestApp } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { issueCertificate } from '../helpers/pki.js'
import { putCertificate, putEncryptor } from '../helpers/requests.js'

/**
 * A resolver beside the app's own, on the same store but with a feed of its own: the app's writes
 * are announced to the app's resolver only, so to this one they are another process's commits, which
 * it learns of only through `commits` (SQLite's data_version in the service), driven by the test.
 */
async function setup(t: Test) {
  const app = await buildTestApp(t)
  const [k1, k2] = await Promise.all([issueCertificate('k1'), issueCertificate('k2')])
  t.equal((await putCertificate(app, 'x', k1)).statusCode, 201)
  t.equal((await putCertificate(app, 'y', k2)).statusCode, 201)
  t.equal((await putEncryptor(app, 'flow', { receiverAliases: ['x'] })).statusCode, 201)
  t.equal((await putEncryptor(app, 'other', { receiverAliases: ['y'] })).statusCode, 201)
  const commits = {
    count: 0,
    version(): number {
      return this.count
    },
  }
  return { app, commits, resolver: new RecipientResolver(app.db, new ChangeFeed(), commits) }
}

t.test('served from the cache until another process commits, then reloaded', async (t) => {
  const { app, commits, resolver } = await setup(t)
  const first = await resolver.resolve('flow')
  t.equal(resolver.resolve('flow'), first, 'a second resolve is a cache hit')
  const added = await asRoleOn(app)('integration-developer').post('/encryptors/flow/aliases', { alias: 'y' })
  t.equal(added.statusCode, 200)
  t.equal(resolver.resolve('flow'), first, 'a change nobody announced goes unseen while the version stays')
  commits.count++
  const reloaded = await resolver.resolve('flow')
  t.same(reloaded.receiverAliases, ['x', 'y'], 'once the version moved, the change is used')
  t.equal(resolver.resolve('flow'), reloaded, 'and cached again')
})

t.test('a load under way when another process commits is returned to its caller, never cached', async (t) => {
  const { commits, resolver } = await setup(t)
  const underway = resolver.resolve('flow') // begins reading the store now
  commits.count++
  // Another encrypt, for another encryptor, notices the commit while flow is still loading.
  await resolver.resolve('other')
  const loaded = await underway
  t.equal(loaded.id, 'flow', 'the caller that started the load gets its answer')
  const next = resolver.resolve('flow')
  t.not(next, loaded, 'but it was read before the commit was noticed, so it is not served again')
  t.type(next, Promise, 'the next resolve reads the store afresh')
  await next
})

t.test('a version answered later (a transaction was open) is waited for, then used the same way', async (t) => {
  const { app, commits } = await setup(t)
  const resolver = new RecipientResolver(app.db, new ChangeFeed(), {
    version: async () => commits.count,
  } satisfies ExternalCommits)
  const first = await resolver.resolve('flow')
  t.equal(await resolver.resolve('flow'), first, 'a cache hit while the version stays')
  commits.count++
  t.not(await resolver.resolve('flow'), first, 'reloaded once it moved')
})
