import t from 'tap'
import type { Role } from '../../src/auth/tokens.js'
import { TOKENS } from '../helpers/app.js'
import {
  assertAccessible,
  assertClean,
  consoleWindow,
  launchTestChromium,
  startConsoleService,
  type ConsoleTab,
} from '../helpers/browser.js'
import { opensslPkcs12 } from '../helpers/pkcs12-files.js'
import type { TestCertificate } from '../helpers/pki.js'
import type { Replica } from '../helpers/replica.js'
import { decryptAndVerify, type Trust } from '../helpers/signed.js'
import { signerPki, type TestSigner } from '../helpers/signer-pki.js'
import { api, receivers, status } from './seed.js'

/**
 * Our own signing key in the console: the key pair an encryptor signs with shown with its days left
 * (keystore, overview, its own page, the encryptor), and a whole signer-key renewal taken through the
 * console by a tenant admin and an integration developer in two tabs: started from the key pair's
 * "Renew" link, the new key pair uploaded at add-key-pair (two refused uploads first, each problem
 * beside its field), the new certificate downloaded for the receivers, the switch by the developer.
 * After every click the API says where the renewal is, and a message encrypted right then is decrypted
 * and verified with `openssl cms -verify` against the signer certificate the receiver trusts: the old
 * one until switch-signer, the new one from then on. Runs in the SQLite pass only (scripts/test.ts SQLITE_ONLY).
 */

interface RenewalJson {
  id: string
  procedure: string
  state: string
  next: { step: string; role: Role } | null
  steps: Array<{ name: string; role: Role; status: string; change?: string }>
}

const ENCRYPTOR = 'orders-signed'
const DAY = 86_400_000
const STEPS = [
  'add-key-pair',
  'hand-over-certificate',
  'confirm-receivers-trust',
  'switch-signer',
  'remove-old-key-pair',
]

/** Encrypts a fresh payload with the integration-flow token: the CMS and the key pair that signed it. */
async function encryptSigned(service: Replica) {
  const payload = `signed console journey ${Math.random()}`
  const res = await fetch(service.url(`/encryptors/${ENCRYPTOR}/encrypt`), {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKENS['integration-flow']}`, 'content-type': 'application/octet-stream' },
    body: payload,
  })
  const cms = Buffer.from(await res.arrayBuffer())
  if (res.status !== 200) throw new Error(`encrypt ${ENCRYPTOR}: ${res.status} ${cms.toString()}`)
  return { payload, cms, signer: res.headers.get('x-cms-signer') }
}

const daysLeft = (notAfter: string) => Math.floor((Date.parse(notAfter) - Date.now()) / DAY)

t.test('a signer-key renewal through the console, with the key pair and its days left in view', async (t) => {
  const service = await startConsoleService(t)
  const browser = await launchTestChromium(t)
  const [receiver] = receivers(t, 'signed-partner-2026') as [TestCertificate]
  const pki = await signerPki()
  // The old signer within EXPIRY_WARNING_DAYS (30): amber, "renew soon". The new one lasts longer.
  const old = await pki.issue('sig-2026', { days: 20 })
  const next = await pki.issue('sig-2027', { days: 400 })
  const trusting = (signer: TestSigner): Trust => ({
    ca: [pki.rootPath, pki.intermediatePath],
    certfiles: [signer.certPath],
  })

  await api(service, 'tenant-admin', 'PUT', '/keystore/entries/partner-ag', { certificate: receiver.pem })
  await api(service, 'tenant-admin', 'PUT', '/keystore/key-pairs/sig-2026', {
    privateKey: old.keyPem,
    certificateChain: old.certPem + old.chainPem,
  })
  // includeCertificates "none": the receiver verifies with the signer certificate it trusts, so the test
  // sees which key signed.
  await api(service, 'integration-developer', 'PUT', `/encryptors/${ENCRYPTOR}`, {
    receiverAliases: ['partner-ag'],
    signer: { alias: 'sig-2026', includeCertificates: 'none' },
  })
  await api(service, 'integration-developer', 'PUT', '/encryptors/unsigned', { receiverAliases: ['partner-ag'] })

  /** A message encrypted now decrypts, and verifies against `signer`'s certificate and not against `not`'s. */
  const expectSignedBy = async (signer: TestSigner, not: TestSigner, when: string) => {
    const message = await encryptSigned(service)
    t.equal(message.signer, signer.name, `${when}: X-Cms-Signer ${message.signer}`)
    const verified = await decryptAndVerify(message.cms, receiver, trusting(signer))
    t.equal(verified.toString(), message.payload, `${when}: openssl cms -verify with ${signer.name}'s certificate`)
    await t.rejects(decryptAndVerify(message.cms, receiver, trusting(not)), `${when}: not with ${not.name}'s`)
  }
  await expectSignedBy(old, next, 'before the renewal')

  const browserWindow = await consoleWindow(browser, service)
  const admin = await browserWindow.newTab()
  const developer = await browserWindow.newTab()
  await admin.signIn('tenant-admin')
  await developer.signIn('integration-developer')
  const page = admin.page

  // The overview: the key pair beside the expiring certificates, coloured and said in words.
  const oldNotAfter = (
    await api<{ certificate: { notAfter: string } }>(service, 'monitor', 'GET', '/keystore/key-pairs/sig-2026')
  ).certificate.notAfter
  const oldDays = daysLeft(oldNotAfter)
  t.ok(oldDays > 7 && oldDays <= 30, `the old signer has ${oldDays} days left`)
  const expiring = page.locator('section[aria-labelledby="ov-expiring"] li', { hasText: 'sig-2026' })
  await expiring.waitFor()
  t.match(await expiring.textContent(), /key pair/, 'overview: listed as a key pair')
  t.equal(await expiring.locator('.days').textContent(), `${oldDays} d · renew soon`, 'overview: its days left')
  t.equal(
    await expiring.locator('.days.days-warning').count(),
    1,
    'overview: amber, as a certificate within the warning',
  )
  t.match(await expiring.textContent(), new RegExp(`signs for ${ENCRYPTOR}`), 'overview: the encryptor it signs for')
  await assertAccessible(t, admin, 'overview with a key pair')

  // The keystore: a key-pairs table beside the certificates.
  await admin.open('#/keystore')
  const row = page.locator('table.key-pairs tbody tr', { hasText: 'sig-2026' })
  t.equal(await row.locator('th[scope="row"]').textContent(), 'sig-2026', 'keystore: the key pair by its alias')
  t.equal(await row.locator('.days.days-warning').textContent(), `${oldDays} d · renew soon`, 'keystore: days left')
  t.match(await row.textContent(), /RSA 2048/, 'keystore: its key type')
  t.match(await row.textContent(), /CN=sig-2026/, 'keystore: its subject')
  t.equal(await row.getByRole('link', { name: ENCRYPTOR }).count(), 1, 'keystore: the encryptor that signs with it')
  t.equal(
    await page.locator('table.entries tbody th[scope="row"]', { hasText: 'sig-2026' }).count(),
    0,
    'not a receiver',
  )
  await assertAccessible(t, admin, 'keystore with a key pair')

  // The encryptors: whom each signs with.
  await admin.open('#/encryptors')
  const signed = page.locator('tbody tr', { hasText: ENCRYPTOR })
  t.equal(await signed.getByRole('link', { name: 'sig-2026' }).count(), 1, 'encryptors: the signer alias')
  t.match(await page.locator('tbody tr', { hasText: 'unsigned' }).textContent(), /does not sign/, 'and who does not')

  // The key pair's page, from the keystore: certificate, chain, download.
  await admin.open('#/keystore')
  await row.getByRole('link', { name: 'sig-2026' }).click()
  await page.waitForURL(/#\/key-pairs\/sig-2026$/)
  await admin.settled()
  t.match(await page.locator('dl.details').textContent(), /CN=sig-2026/, 'key pair: its subject')
  t.equal(await page.locator('dl.details .days').textContent(), `${oldDays} d · renew soon`, 'key pair: days left')
  t.match(await page.locator('table.chain').textContent(), /CN=cms-encryptor Test Signing CA/, 'key pair: its chain')
  t.equal(await page.locator('nav a[aria-current="page"]').textContent(), 'Keystore', 'the navigation marks Keystore')
  const downloaded = page.waitForResponse((r) => r.url().endsWith('/keystore/key-pairs/sig-2026/certificate'))
  await page.getByRole('button', { name: 'Download certificate', exact: true }).click()
  t.equal((await (await downloaded).text()).trim(), old.certPem.trim(), 'key pair: Download certificate is its PEM')
  await assertAccessible(t, admin, 'key pair')

  // The wizard, from the key pair's Renew link: our signing key chosen, the new alias suggested.
  await page.getByRole('link', { name: `Renew sig-2026 for ${ENCRYPTOR}` }).click()
  await page.waitForURL(/#\/start\//)
  await admin.settled()
  const ours = page.getByRole('radio', { name: /Our own signing key/ })
  await page.waitForFunction(() => {
    const { document } = globalThis as unknown as { document: { querySelector(s: string): unknown } }
    return !!document.querySelector('#wz-signer-encryptor')
  })
  t.ok(await ours.isChecked(), 'wizard: "our own signing key" is chosen by the link')
  t.equal(await page.locator('#wz-signer-encryptor').inputValue(), ENCRYPTOR, 'wizard: the encryptor is chosen')
  t.same(
    await page.locator('#wz-signer-encryptor option').allTextContents(),
    ['Choose an encryptor', `${ENCRYPTOR} (signs with sig-2026)`],
    'wizard: only the encryptors that sign are offered',
  )
  t.match(
    await page.locator('.current-key-pair').textContent(),
    /Current key pair: sig-2026/,
    'wizard: the current one',
  )
  t.equal(await page.locator('#wz-signer-new-alias').inputValue(), 'sig-2027', 'wizard: the new alias is suggested')
  await page.locator('#wz-signer-cert-file').setInputFiles(next.certPath)
  await page.waitForFunction(() => {
    const { document } = globalThis as unknown as { document: { querySelector(s: string): { value?: string } | null } }
    return !!document.querySelector('#wz-signer-cert-pem')?.value
  })
  await assertAccessible(t, admin, 'wizard, our signing key')
  await page.getByRole('button', { name: 'Start renewal' }).click()
  await page.waitForURL(/#\/renewals\/[^/]+$/)
  await admin.settled()
  const id = decodeURIComponent(new URL(page.url()).hash.split('/').pop()!)
  const started = await api<RenewalJson>(service, 'monitor', 'GET', `/renewals/${id}`)
  t.equal(started.procedure, 'signer-key', `renewal ${id} is a signer-key renewal`)
  t.same(
    started.steps.map((s) => s.name),
    STEPS,
    'with the signer-key steps',
  )

  // The renewals list: whose turn it is.
  await developer.load('#/renewals')
  const listed = developer.page.locator('tbody tr', { hasText: `signer-key of ${ENCRYPTOR}` })
  t.match(await listed.textContent(), /sig-2026 → sig-2027/, 'renewals: the two key pairs')
  t.match(await listed.textContent(), /add-key-pair by tenant-admin/, 'renewals: waits for the admin')
  t.equal(await listed.locator('.your-turn').count(), 0, "renewals: not the developer's turn")

  /** The API after a step: how many are done, and what comes next. */
  const expectDone = async (done: number, when: string) => {
    const renewal = await api<RenewalJson>(service, 'monitor', 'GET', `/renewals/${id}`)
    t.same(
      renewal.steps.filter((s) => s.status === 'done').map((s) => s.name),
      STEPS.slice(0, done),
      `${when}: ${done} steps done`,
    )
    const following = started.steps[done]
    t.same(renewal.next, following ? { step: following.name, role: following.role } : null, `${when}: next`)
    t.equal(renewal.state, following ? 'active' : 'completed', `${when}: ${renewal.state}`)
  }

  const tabs: Record<string, ConsoleTab> = { 'tenant-admin': admin, 'integration-developer': developer }
  const button = (tab: ConsoleTab, step: string) => tab.page.getByRole('button', { name: `Take step: ${step}` })

  /** Both tabs on the renewal, before `step`: the actor may take it, the other sees whose turn it is. */
  const before = async (step: string, role: Role) => {
    const actor = tabs[role]!
    const other = actor === admin ? developer : admin
    for (const tab of [actor, other]) await tab.load(`#/renewals/${id}`)
    t.equal(
      (await other.page.locator('.next-step .waiting').textContent())?.trim(),
      `Waiting for a ${role} token to take this step.`,
      `${step}: the other tab sees whose turn it is`,
    )
    t.ok(await button(other, step).isDisabled(), `${step}: the other tab's button is disabled`)
    return actor
  }
  const take = async (actor: ConsoleTab, step: string) => {
    await button(actor, step).click()
    await actor.page.locator('li.step-done').filter({ hasText: step }).waitFor()
    await actor.settled()
  }

  // add-key-pair: the admin uploads the key pair; two wrong uploads first, each refused beside its field.
  const adder = await before('add-key-pair', 'tenant-admin')
  t.ok(await button(adder, 'add-key-pair').isDisabled(), 'add-key-pair: disabled until a key pair is given')
  await page.locator('#step-key-pair-key').fill(old.keyPem)
  await page.locator('#step-key-pair-chain').fill(next.certPem + next.chainPem)
  await assertAccessible(t, admin, 'renewal, add-key-pair filled in')
  await button(admin, 'add-key-pair').click()
  await page.locator('#renewal-problem').waitFor()
  t.match(await page.locator('#renewal-problem').textContent(), /CMS_KEY_PAIR_MISMATCH/, 'the wrong key: its code')
  t.equal(
    await page.locator('#step-key-pair-key').getAttribute('aria-invalid'),
    'true',
    'the wrong key: the private key field is marked invalid',
  )
  t.match(await page.locator('.field-invalid').textContent(), /CMS_KEY_PAIR_MISMATCH/, 'and the problem is beside it')
  await assertAccessible(t, admin, 'renewal, a refused key pair')

  // Then the right key pair as a PKCS#12 file made by OpenSSL, with a wrong password first.
  const file = await opensslPkcs12({ keyPem: next.keyPem, certPems: [next.certPem, next.chainPem] }, 's3cret')
  await page.getByRole('radio', { name: 'PKCS#12 file and its password' }).check()
  await page
    .locator('#step-key-pair-p12')
    .setInputFiles({ name: 'sig-2027.p12', mimeType: 'application/x-pkcs12', buffer: Buffer.from(file, 'base64') })
  await page.locator('#step-key-pair-password').fill('wrong')
  await page.locator('#step-key-pair-p12-hint', { hasText: 'Chosen: sig-2027.p12' }).waitFor()
  await button(admin, 'add-key-pair').click()
  await page.locator('#renewal-problem', { hasText: 'CMS_PKCS12_PASSWORD_INCORRECT' }).waitFor()
  t.equal(
    await page.locator('#step-key-pair-password').getAttribute('aria-invalid'),
    'true',
    'the wrong password: the password field is marked invalid',
  )
  await expectDone(0, 'after two refused uploads')
  t.equal(await status(service, '/keystore/key-pairs/sig-2027'), 404, 'nothing is stored')
  await page.locator('#step-key-pair-password').fill('s3cret')
  await take(admin, 'add-key-pair')
  await expectDone(1, 'after add-key-pair')
  t.equal(await status(service, '/keystore/key-pairs/sig-2027'), 200, 'the new key pair is stored')
  await expectSignedBy(old, next, 'after add-key-pair')
  await assertClean(t, admin, 'after add-key-pair')

  // hand-over-certificate: the new certificate, downloaded from the renewal, is what the receivers get.
  const handing = await before('hand-over-certificate', 'tenant-admin')
  const newCertificate = handing.page.waitForResponse((r) =>
    r.url().endsWith('/keystore/key-pairs/sig-2027/certificate'),
  )
  await handing.page.getByRole('button', { name: 'Download the new certificate' }).click()
  t.equal((await (await newCertificate).text()).trim(), next.certPem.trim(), 'hand-over: the new certificate PEM')
  await assertAccessible(t, handing, 'renewal before hand-over-certificate')
  await take(handing, 'hand-over-certificate')
  await expectDone(2, 'after hand-over-certificate')
  await expectSignedBy(old, next, 'after hand-over-certificate')

  const confirming = await before('confirm-receivers-trust', 'tenant-admin')
  await take(confirming, 'confirm-receivers-trust')
  await expectDone(3, 'after confirm-receivers-trust')
  await expectSignedBy(old, next, 'after confirm-receivers-trust')

  // switch-signer: the developer's, the point of no return.
  const switching = await before('switch-signer', 'integration-developer')
  t.equal(switching, developer, 'switch-signer is the developer tab')
  t.match(await developer.page.locator('.signer').first().textContent(), /sig-2026/, 'signs with sig-2026 still')
  await assertAccessible(t, developer, 'renewal before switch-signer')
  await take(developer, 'switch-signer')
  await expectDone(4, 'after switch-signer')
  await developer.page.locator('strong.signer', { hasText: 'sig-2027' }).waitFor()
  t.pass('the renewal shows that the encryptor signs with sig-2027 now')
  await expectSignedBy(next, old, 'after switch-signer')

  const removing = await before('remove-old-key-pair', 'tenant-admin')
  t.match(await removing.page.locator('.abort-note').textContent(), /no longer possible/, 'no abort after the switch')
  await take(removing, 'remove-old-key-pair')
  await expectDone(5, 'after remove-old-key-pair')
  await admin.page.getByText('This renewal is completed: every step is done.').waitFor()
  t.equal(await status(service, '/keystore/key-pairs/sig-2026'), 404, 'the old key pair is gone')
  await expectSignedBy(next, old, 'completed')

  // A monitor sees the new key pair, with its days left, and whom the encryptor signs with.
  const monitor = await browserWindow.newTab()
  await monitor.signIn('monitor')
  await monitor.open('#/keystore')
  const newRow = monitor.page.locator('table.key-pairs tbody tr', { hasText: 'sig-2027' })
  const newNotAfter = (
    await api<{ certificate: { notAfter: string } }>(service, 'monitor', 'GET', '/keystore/key-pairs/sig-2027')
  ).certificate.notAfter
  t.equal(
    await newRow.locator('.days.days-ok').textContent(),
    `${daysLeft(newNotAfter)} d · ok`,
    'monitor: sig-2027, ok',
  )
  t.equal(await monitor.page.locator('table.key-pairs tbody tr').count(), 1, 'monitor: sig-2026 is gone')
  await monitor.open(`#/encryptors/${ENCRYPTOR}`)
  t.equal(
    await monitor.page.locator('a.signer').textContent(),
    'sig-2027',
    'monitor: the encryptor signs with sig-2027',
  )
  for (const tab of [admin, developer, monitor]) await assertClean(t, tab, 'every tab')
})
