import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http'
import { type AddressInfo } from 'node:net'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { ensureConsoleBuilt } from '../../scripts/lib/console-build.js'
import { MAX_RECEIVER_ALIASES } from '../../src/encryptors/alias-limit.js'
import { CONSOLE_CSP } from '../../src/routes/console.js'
import { freshDatabaseUrl, storeDir, TOKENS } from '../helpers/app.js'
import { opensslDecrypt } from '../helpers/openssl.js'
import { issueCertificate } from '../helpers/pki.js'
import { callReplica, startReplica } from '../helpers/replica.js'

/**
 * deploy/nginx.conf, the compose file's proxy, run in a real nginx (Debian's package; .ci/run
 * installs it) on 127.0.0.1 in front of a real service process. The proxy must pass the largest
 * response the API can give: X-Cms-Recipients for an encryptor with the most aliases allowed, each
 * of the longest length, a header far over nginx's default proxy buffer (one page). It must also
 * hand the replicas the client address it saw, and only that, since they trust the header
 * (TRUST_PROXY=true).
 */
const CONF = readFileSync('deploy/nginx.conf', 'utf8')
/** The limits: an encryptor's own aliases (src/encryptors/alias-limit.ts), Alias maxLength (src/routes/schemas.ts). */
const MAX_ALIASES = MAX_RECEIVER_ALIASES
const MAX_ALIAS_LENGTH = 250
/** What the directives that size the proxy buffers look like in the file, to take them out for the control. */
const BUFFER_DIRECTIVES = /^\s*proxy_(buffer_size|buffers|busy_buffers_size)\s[^;]*;\s*$/gm

const NGINX = ['/usr/sbin/nginx', ...(process.env.PATH ?? '').split(':').map((dir) => join(dir, 'nginx'))].find(
  (path) => existsSync(path),
)

/** A free port on the loopback interface, for nginx to listen on. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
    server.on('error', reject)
  })
}

/**
 * Runs `conf` (deploy/nginx.conf, or a variant) with its upstream servers replaced by
 * 127.0.0.1:`upstreamPort` and its listen port by a free one on 127.0.0.1; stopped in teardown.
 */
async function startNginx(t: Test, conf: string, upstreamPort: number) {
  const dir = storeDir(t, 'cms-nginx-')
  const port = await freePort()
  const site = conf
    .replace(/\bcms-[ab]:8080\b/g, `127.0.0.1:${upstreamPort}`)
    .replace(/^(\s*)listen 8080;/m, `$1listen 127.0.0.1:${port};`)
  t.not(site, conf, 'the upstreams and the listen port were replaced')
  writeFileSync(join(dir, 'site.conf'), site)
  // Everything nginx writes stays in the test's directory.
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `    ${kind}_temp_path ${join(dir, kind)};`)
    .join('\n')
  writeFileSync(
    join(dir, 'nginx.conf'),
    `pid ${join(dir, 'nginx.pid')};\nerror_log ${join(dir, 'error.log')} warn;\nevents {}\n` +
      `http {\n    access_log off;\n${temp}\n    include ${join(dir, 'site.conf')};\n}\n`,
  )
  const args = ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;']
  const check = spawnSync(NGINX!, [...args, '-t'], { encoding: 'utf8' })
  t.equal(check.status, 0, 'nginx -t accepts the configuration' + (check.status ? `: ${check.stderr.trim()}` : ''))
  const child = spawn(NGINX!, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise((resolve) => child.once('exit', resolve))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await exited
  })
  const deadline = Date.now() + 20_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}): ${stderr}`)
    try {
      if ((await fetch(`http://127.0.0.1:${port}/nginx-health`)).ok) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`nginx did not answer: ${stderr}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  return { port, errorLog: () => readFileSync(join(dir, 'error.log'), 'utf8') }
}

/**
 * One request on a socket, allowing response headers up to 64 KiB: Node's HTTP client (fetch too)
 * stops at 16 KiB by default, less than the largest X-Cms-Recipients.
 */
function send(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: Buffer,
): Promise<{ status: number; headers: IncomingHttpHeaders; headerBytes: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, maxHeaderSize: 64 * 1024 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      // The header block as sent: the status line, each "name: value\r\n" (2 + 2 bytes around the
      // name and the value), the blank line.
      const headerBytes =
        `HTTP/1.1 ${res.statusCode} ${res.statusMessage}\r\n`.length +
        res.rawHeaders.reduce((sum, part) => sum + part.length + 2, 0) +
        2
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, headerBytes, body: Buffer.concat(chunks) }),
      )
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

t.test('the largest X-Cms-Recipients passes the proxy; with nginx default buffers it would not', async (t) => {
  t.ok(NGINX, 'nginx is installed (Debian package nginx; .ci/run installs it)')
  if (!NGINX) return
  const replica = await startReplica(t, 'nginx', await freshDatabaseUrl(t), { RATE_LIMIT_MAX: '0' })
  const receiver = await issueCertificate('nginx-receiver', { key: 'rsa-2048' })
  // The longest aliases there can be, told apart by their first characters.
  const aliases = Array.from({ length: MAX_ALIASES }, (_, i) =>
    `${String(i).padStart(3, '0')}-`.padEnd(MAX_ALIAS_LENGTH, 'a'),
  )
  const stored = []
  for (const alias of aliases) {
    const res = await callReplica(replica, 'PUT', `/keystore/entries/${alias}`, 'tenant-admin', {
      certificate: receiver.pem,
    })
    stored.push(res.status === 201 ? 201 : `${res.status} ${res.body.slice(0, 200)}`)
  }
  t.same(stored, Array(MAX_ALIASES).fill(201), `${MAX_ALIASES} keystore entries, one certificate`)
  const encryptorId = 'e'.repeat(MAX_ALIAS_LENGTH)
  const created = await callReplica(replica, 'PUT', `/encryptors/${encryptorId}`, 'integration-developer', {
    receiverAliases: aliases,
  })
  t.equal(
    created.status,
    201,
    `an encryptor with ${MAX_ALIASES} aliases` + (created.status === 201 ? '' : created.body),
  )
  // One more alias would be refused: the worst case below is the worst case the API allows.
  const tooMany = await callReplica(replica, 'PUT', `/encryptors/${encryptorId}`, 'integration-developer', {
    receiverAliases: [...aliases, 'one-more'],
  })
  t.equal(tooMany.status, 400, `${MAX_ALIASES + 1} aliases are refused`)
  const oneMore = await callReplica(replica, 'POST', `/encryptors/${encryptorId}/aliases`, 'integration-developer', {
    alias: 'one-more',
  })
  t.equal(oneMore.status, 409, `so is adding a ${MAX_ALIASES + 1}st`)

  const payload = Buffer.from('<order id="42"/>\n')
  const encrypt = (port: number) =>
    send(
      port,
      'POST',
      `/encryptors/${encryptorId}/encrypt`,
      { authorization: `Bearer ${TOKENS['integration-flow']}`, 'content-type': 'application/xml' },
      payload,
    )
  const recipients = aliases.join(',')
  t.ok(recipients.length > 16 * 1024, `the header is ${recipients.length} bytes`)

  // The arithmetic in deploy/nginx.conf, measured: the whole header block, and one alias more (a
  // renewal that adds its new alias to a full encryptor), fit proxy_buffer_size.
  const direct = await encrypt(replica.port)
  const bufferSize = Number(/^\s*proxy_buffer_size (\d+)k;/m.exec(CONF)?.[1]) * 1024
  const worst = direct.headerBytes + 1 + MAX_ALIAS_LENGTH
  t.ok(
    worst < bufferSize,
    `the header block, ${direct.headerBytes} bytes (+${1 + MAX_ALIAS_LENGTH}), fits ${bufferSize}`,
  )

  const proxy = await startNginx(t, CONF, replica.port)
  const res = await encrypt(proxy.port)
  t.equal(res.status, 200, 'encrypted through the proxy')
  // In RecipientInfo order, which DER sorts by encoding: compare as sets (and never print 25 KB).
  const header = String(res.headers['x-cms-recipients'])
  t.equal(header.length, recipients.length, 'X-Cms-Recipients arrives whole')
  t.ok(header.split(',').sort().join(',') === recipients, 'naming every alias')
  t.same(await opensslDecrypt(res.body, receiver), payload, 'openssl cms -decrypt gives the payload back')

  // The control: the same file without its buffer sizes, i.e. nginx's defaults, cannot pass it.
  const defaults = CONF.replace(BUFFER_DIRECTIVES, '')
  t.equal(defaults.match(BUFFER_DIRECTIVES), null, 'the control sets no buffer size')
  const plain = await startNginx(t, defaults, replica.port)
  const refused = await encrypt(plain.port)
  t.equal(refused.status, 502, "with nginx's default buffers: 502")
  t.match(plain.errorLog(), /upstream sent too big header/, 'because the header did not fit')
})

t.test('the replicas get the address nginx saw, never one the client wrote', async (t) => {
  t.ok(NGINX, 'nginx is installed (Debian package nginx; .ci/run installs it)')
  if (!NGINX) return
  // An upstream that answers with the request headers it received.
  const echo: Server = createServer((req, res) => res.end(JSON.stringify(req.headers)))
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => echo.close(() => resolve())))
  const proxy = await startNginx(t, CONF, (echo.address() as AddressInfo).port)

  const res = await send(proxy.port, 'GET', '/health/ready', {
    'x-forwarded-for': '203.0.113.7',
    'x-request-id': 'chosen-by-the-client',
  })
  const seen = JSON.parse(res.body.toString()) as IncomingHttpHeaders
  t.equal(seen['x-forwarded-for'], '127.0.0.1', 'X-Forwarded-For is the address nginx saw, alone')
  t.match(seen['x-request-id'], /^[0-9a-f]{32}$/, "X-Request-Id is nginx's own")
})

t.test('the console works behind the proxy: the page, its bundle under its CSP, and the API it calls', async (t) => {
  t.ok(NGINX, 'nginx is installed (Debian package nginx; .ci/run installs it)')
  if (!NGINX) return
  await ensureConsoleBuilt()
  const replica = await startReplica(t, 'nginx-console', await freshDatabaseUrl(t))
  const proxy = await startNginx(t, CONF, replica.port)
  const bare = await send(proxy.port, 'GET', '/console')
  t.equal(bare.status, 302)
  t.equal(bare.headers.location, '/console/', 'a relative redirect, right behind any host name')
  const page = await send(proxy.port, 'GET', '/console/')
  t.equal(page.status, 200)
  t.equal(page.headers['content-security-policy'], CONSOLE_CSP)
  t.match(page.body.toString(), /src="console.js"/)
  const script = await send(proxy.port, 'GET', '/console/console.js')
  t.equal(script.status, 200)
  t.match(script.headers['content-type'], /javascript/)
  t.ok(script.body.length > 1000, 'the bundle arrives whole')
  const me = await send(proxy.port, 'GET', '/whoami', { authorization: `Bearer ${TOKENS.monitor}` })
  t.equal(me.status, 200)
  t.same(JSON.parse(me.body.toString()).roles, ['monitor'])
})
