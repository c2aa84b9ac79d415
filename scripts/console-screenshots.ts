/**
 * Screenshots of the console for the docs: starts the service from source on loopback with demo data
 * (receivers expiring at different times, one expired and still in use, encryptors, an add-alias
 * renewal half-way), builds the console, and saves each view from Debian's chromium into docs/console/.
 *
 *   npm run console:screenshots            (CHROMIUM_PATH to use another chromium)
 *
 * Everything it starts and writes outside docs/console/ goes when it exits (scripts/lib/service.ts).
 */
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Page } from 'playwright-core'
import { CHROMIUM_PATH, launchChromium } from './lib/chromium.js'
import { buildConsole } from './lib/console-build.js'
import { call, children, TOKENS, workDir } from './lib/service.js'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const OUT = join(ROOT, 'docs/console')
const DAY = 86_400_000

// A demo CA that issues the receivers' certificates with the validity each one needs (openssl ca).
const pki = join(workDir, 'pki')
mkdirSync(pki)
writeFileSync(join(pki, 'index.txt'), '')
writeFileSync(join(pki, 'serial'), '1000\n')
const config = join(pki, 'ca.cnf')
writeFileSync(
  config,
  `[ca]
default_ca = demo
[demo]
database = ${pki}/index.txt
new_certs_dir = ${pki}
serial = ${pki}/serial
default_md = sha256
policy = any
x509_extensions = receiver
unique_subject = no
[any]
commonName = supplied
organizationName = optional
[receiver]
basicConstraints = critical, CA:FALSE
keyUsage = critical, keyEncipherment
subjectKeyIdentifier = hash
[req]
distinguished_name = dn
prompt = no
[dn]
[authority]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
`,
)
const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] })
const newKey = (file: string) =>
  openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', file)
newKey(join(pki, 'ca.key'))
openssl(
  'req',
  '-x509',
  '-config',
  config,
  '-extensions',
  'authority',
  '-key',
  join(pki, 'ca.key'),
  '-subj',
  '/CN=Demo Partner CA/O=Example Trust',
  '-days',
  '3650',
  '-out',
  join(pki, 'ca.crt'),
)

const stamp = (d: Date) => d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z'
let issued = 0
/** A receiver certificate valid from a year ago until `notAfter`, PEM. */
function receiver(cn: string, org: string, notAfter: Date): string {
  const name = `${cn}-${issued++}`
  const key = join(pki, `${name}.key`)
  newKey(key)
  openssl(
    'req',
    '-new',
    '-config',
    config,
    '-key',
    key,
    '-subj',
    `/CN=${cn}/O=${org}`,
    '-out',
    join(pki, `${name}.csr`),
  )
  openssl(
    'ca',
    '-batch',
    '-notext',
    '-config',
    config,
    '-cert',
    join(pki, 'ca.crt'),
    '-keyfile',
    join(pki, 'ca.key'),
    '-in',
    join(pki, `${name}.csr`),
    '-startdate',
    stamp(new Date(Date.now() - 365 * DAY)),
    '-enddate',
    stamp(notAfter),
    '-out',
    join(pki, `${name}.crt`),
  )
  return readFileSync(join(pki, `${name}.crt`), 'utf8')
}
const inDays = (days: number) => new Date(Date.now() + days * DAY)

// The service, from source, on loopback.
if (!existsSync(CHROMIUM_PATH))
  throw new Error(`Chromium not found at ${CHROMIUM_PATH}: apt-get install chromium, or CHROMIUM_PATH`)
const built = await buildConsole()
console.log(`console built: ${built.files.length} files, ${(built.bytes / 1024).toFixed(1)} KiB`)
const port = 18000 + Math.floor(Math.random() * 1000)
const service = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
  cwd: ROOT,
  env: {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: join(workDir, 'data'),
    AUTH_TOKENS_FILE: join(workDir, 'tokens.json'),
    LOG_LEVEL: 'warn',
  },
  stdio: ['ignore', 'inherit', 'inherit'],
})
children.push(service)
const base = `http://127.0.0.1:${port}`
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${base}/health/ready`)).ok) break
  } catch {
    // not listening yet
  }
  if (i > 600) throw new Error('the service did not start')
  await new Promise((r) => setTimeout(r, 100))
}

// Demo data.
const pem = 'application/x-pem-file'
const put = (alias: string, certificate: string) =>
  call(port, 'PUT', `/keystore/entries/${alias}`, TOKENS.admin, certificate, pem)
const encryptor = (id: string, receiverAliases: string[]) =>
  call(port, 'PUT', `/encryptors/${id}`, TOKENS.dev, JSON.stringify({ receiverAliases }))
// Stored while it was valid; it lapses a few seconds later, still listed by the payments encryptor.
const lapsing = inDays(6 / 86_400)
await put('legacy-bank', receiver('legacy-bank.example', 'Legacy Bank AG', lapsing))
await put('partner-ag', receiver('partner-ag.example', 'Partner AG', inDays(400)))
const partnerEtag = (await fetch(`${base}/keystore/entries/partner-ag`, {
  headers: { authorization: `Bearer ${TOKENS.admin}` },
}).then((r) => r.headers.get('etag')))!
// Replaced once (a kept history), now 21 days from its end.
await fetch(`${base}/keystore/entries/partner-ag`, {
  method: 'PUT',
  headers: { authorization: `Bearer ${TOKENS.admin}`, 'content-type': pem, 'if-match': partnerEtag },
  body: receiver('partner-ag.example', 'Partner AG', inDays(21)),
}).then(async (r) => {
  if (!r.ok) throw new Error(`replace partner-ag: ${r.status} ${await r.text()}`)
})
await put('logistics-gmbh', receiver('edi.logistics-gmbh.example', 'Logistics GmbH', inDays(5)))
await put('billing-ch', receiver('billing.example.ch', 'Billing Services SA', inDays(240)))
await put('archive-2025', receiver('archive.example', 'Example Archive', inDays(600)))
await encryptor('orders-to-partner', ['partner-ag'])
await encryptor('shipments', ['logistics-gmbh'])
await encryptor('payments', ['legacy-bank'])
await encryptor('invoices', ['billing-ch'])
const renewal = await call(
  port,
  'POST',
  '/renewals',
  TOKENS.admin,
  JSON.stringify({
    procedure: 'add-alias',
    encryptorId: 'orders-to-partner',
    currentAlias: 'partner-ag',
    newAlias: 'partner-ag-2027',
    certificate: receiver('partner-ag.example', 'Partner AG', inDays(2 * 365)),
  }),
)
const step = (name: string, token: string, comment: string) =>
  call(port, 'POST', `/renewals/${renewal.id}/steps/${name}`, token, JSON.stringify({ comment }))
await step('add-certificate', TOKENS.admin, 'New key from Partner AG, ticket CHG-2291')
await step('add-alias', TOKENS.dev, 'Both keys from the 14:00 run')
while (Date.now() <= lapsing.getTime() + 1000) await new Promise((r) => setTimeout(r, 250))
const upload = receiver('partner-ag.example', 'Partner AG', inDays(3 * 365))

// The screenshots.
const browserTmp = join(workDir, 'browser')
mkdirSync(browserTmp)
const browser = await launchChromium(browserTmp)
mkdirSync(OUT, { recursive: true })
const problems: string[] = []

async function tab(token: string, viewport = { width: 1280, height: 800 }): Promise<Page> {
  const page = await (await browser.newContext({ viewport })).newPage()
  page.on('pageerror', (e) => problems.push(e.message))
  page.on('console', (m) => m.type() === 'error' && problems.push(m.text()))
  await page.goto(`${base}/console/`)
  await page.getByLabel('Bearer token').fill(token)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByText('Signed in as').waitFor()
  return page
}
async function settled(page: Page) {
  await page.waitForFunction(() => {
    const d = (globalThis as unknown as { document: { querySelector(s: string): unknown } }).document
    return !!d.querySelector('main h1') && !d.querySelector('[aria-busy="true"]') && !d.querySelector('main .loading')
  })
}
async function view(page: Page, hash: string) {
  await page.evaluate((h) => {
    ;(globalThis as unknown as { location: { hash: string } }).location.hash = h
  }, hash)
  await settled(page)
}
async function shoot(page: Page, file: string) {
  // The heading has focus after each move (for screen readers); the picture shows the page at rest.
  // The window is 1280×800 (390×844); a longer page is captured whole.
  await page.evaluate(() =>
    (globalThis as unknown as { document: { activeElement: { blur(): void } } }).document.activeElement.blur(),
  )
  await page.screenshot({ path: join(OUT, file), fullPage: true })
  console.log(`docs/console/${file}`)
}

const admin = await tab(TOKENS.admin)
await view(admin, '#/overview')
await shoot(admin, 'overview.png')
await view(admin, '#/keystore')
await shoot(admin, 'keystore.png')
await view(admin, '#/keystore/partner-ag')
await shoot(admin, 'entry.png')
await view(admin, '#/keystore/+new')
await admin.getByLabel('Alias', { exact: true }).fill('partner-ag-2028')
await admin.getByLabel('Or paste the certificate (PEM)').fill(upload)
await admin.getByRole('button', { name: 'Check certificate' }).click()
await admin.locator('section.checked').waitFor()
await shoot(admin, 'upload-check.png')
await view(admin, `#/renewals/${renewal.id}`)
await shoot(admin, 'renewal.png')
await view(admin, '#/start/shipments/logistics-gmbh')
for (const reply of ['No', 'Yes', 'No']) {
  const answered = await admin.locator('.answered').count()
  await admin.locator('.question').getByRole('button', { name: reply, exact: true }).click()
  await admin.locator('.answered').nth(answered).waitFor()
}
await admin.locator('.recommendation').waitFor()
await shoot(admin, 'wizard.png')
await view(admin, '#/audit')
await shoot(admin, 'audit.png')

const developer = await tab(TOKENS.dev)
await view(developer, '#/encryptors/orders-to-partner')
await shoot(developer, 'encryptor.png')

const phone = await tab(TOKENS.admin, { width: 390, height: 844 })
await view(phone, `#/renewals/${renewal.id}`)
await shoot(phone, 'phone-renewal.png')

await browser.close()
if (problems.length) {
  console.error(`the console reported problems:\n${problems.join('\n')}`)
  process.exitCode = 1
}
process.exit()
