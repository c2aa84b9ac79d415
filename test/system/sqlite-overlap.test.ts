import t from 'tap'
import type { Role } from '../../src/auth/tokens.js'
import { storeDir } from '../helpers/app.js'
import { opensslDecrypt } from '../helpers/openssl.js'
import { issueCertificate, type TestCertificate } from '../helpers/pki.js'
import { callReplica, encryptOnReplica, startReplica, type Replica } from '../helpers/replica.js'

/**
 * Two service processes on one SQLite file, as during a restart that overlaps or when a second
 * process is started by mistake on the same DATA_DIR. Neither announces its changes to the other,
 * so each must notice the other's commits before it serves an encrypt from its cache: a change
 * acknowledged by one process is used by the other's very next encrypt. Runs in the SQLite pass only
 * (scripts/test.ts SQLITE_ONLY): it starts its processes on SQLite whatever the run's store.
 */
/** DER sorts the RecipientInfos by their bytes, random per message: aliases compared as a sorted set. */
async function encryptOn(replica: Replica) {
  const message = await encryptOnReplica(replica)
  return { ...message, aliases: [...message.aliases].sort().join() }
}

async function openedBy(message: Awaited<ReturnType<typeof encryptOn>>, candidates: TestCertificate[]) {
  const opened: string[] = []
  for (const receiver of candidates) {
    const plain = await opensslDecrypt(message.body, receiver).catch(() => undefined)
    if (plain?.toString() === message.payload) opened.push(receiver.name)
  }
  return opened.join(',')
}

/**
 * A write to `resource` (+ `subpath`) through `via` with If-Match on the version `via` reads just
 * before: so it also shows that `via` reads the other process's latest commit to that resource.
 */
async function writeIfMatch(via: Replica, role: Role, resource: string, method: string, subpath = '', body?: unknown) {
  const current = await callReplica(via, 'GET', resource, 'monitor')
  if (current.status !== 200) throw new Error(`GET ${resource} on ${via.name}: ${current.status}`)
  return callReplica(via, method, resource + subpath, role, body, { 'if-match': current.headers.get('etag')! })
}

const replaceX = (via: Replica, cert: TestCertificate) =>
  writeIfMatch(via, 'tenant-admin', '/keystore/entries/x', 'PUT', '', { certificate: cert.pem })
const changeFlow = (via: Replica, method: string, subpath: string, body?: unknown) =>
  writeIfMatch(via, 'integration-developer', '/encryptors/flow', method, subpath, body)

t.test('two processes on one SQLite file: a change through one is used by the other at once', async (t) => {
  const dir = storeDir(t, 'cms-overlap-')
  // One after the other, as in an overlapping restart: the new process starts while the old one serves.
  const a = await startReplica(t, 'a', '', { DATA_DIR: dir })
  const b = await startReplica(t, 'b', '', { DATA_DIR: dir })
  const [k1, k2, k3, k4] = await Promise.all(['k1', 'k2', 'k3', 'k4'].map((name) => issueCertificate(name)))
  const keys = [k1!, k2!, k3!, k4!]

  t.equal(
    (await callReplica(a, 'PUT', '/keystore/entries/x', 'tenant-admin', { certificate: k1!.pem })).status,
    201,
    'A stores x: k1',
  )
  t.equal(
    (await callReplica(a, 'PUT', '/keystore/entries/y', 'tenant-admin', { certificate: k4!.pem })).status,
    201,
    'A stores y: k4',
  )
  const created = await callReplica(a, 'PUT', '/encryptors/flow', 'integration-developer', { receiverAliases: ['x'] })
  t.equal(created.status, 201, 'A creates encryptor flow for x')

  // Each case: the reader encrypts first (so its cache holds the state before the change), the writer
  // changes it, and the reader's next encrypt must already use the change.
  t.equal(await openedBy(await encryptOn(a), keys), 'k1', 'A encrypts for k1 (now cached)')
  const toK2 = await replaceX(b, k2!)
  t.equal(toK2.status, 200, 'B replaces the certificate of x with k2')
  t.equal(await openedBy(await encryptOn(a), keys), 'k2', "A's next encrypt is for k2 only, not k1")

  // The reverse direction.
  t.equal(await openedBy(await encryptOn(b), keys), 'k2', 'B encrypts for k2 (now cached)')
  const toK3 = await replaceX(a, k3!)
  t.equal(toK3.status, 200, 'A replaces the certificate of x with k3')
  t.equal(await openedBy(await encryptOn(b), keys), 'k3', "B's next encrypt is for k3 only, not k2")

  // The encryptor's alias list, changed through either process.
  t.equal((await encryptOn(a)).aliases, 'x', 'A encrypts for x (now cached)')
  const addY = await changeFlow(b, 'POST', '/aliases', { alias: 'y' })
  t.equal(addY.status, 200, 'B adds alias y to the encryptor')
  const both = await encryptOn(a)
  t.equal(both.aliases, 'x,y', "A's next encrypt is for x and y")
  t.equal(await openedBy(both, keys), 'k3,k4', 'and both receivers open it')

  t.equal((await encryptOn(b)).aliases, 'x,y', 'B encrypts for x and y (now cached)')
  const removeX = await changeFlow(a, 'DELETE', '/aliases/x')
  t.equal(removeX.status, 200, 'A removes alias x')
  const onlyY = await encryptOn(b)
  t.equal(onlyY.aliases, 'y', "B's next encrypt is for y only")
  t.equal(await openedBy(onlyY, keys), 'k4', 'and k3 no longer opens it')

  // An encryptor deleted through one process is gone for the other.
  t.equal((await encryptOn(a)).aliases, 'y', 'A encrypts for y (now cached)')
  const deleted = await changeFlow(b, 'DELETE', '')
  t.equal(deleted.status, 204, 'B deletes the encryptor')
  t.equal((await encryptOn(a)).status, 404, "A's next encrypt finds no encryptor")

  t.same(
    a.problems.concat(b.problems).filter((line) => /"level":(50|60)/.test(line)),
    [],
    'no error logged by either process',
  )
})
