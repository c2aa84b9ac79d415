import { X509Certificate } from 'node:crypto'
import type { Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { TOKENS } from '../helpers/app.js'
import {
  assertAccessible,
  assertClean,
  consoleWindow,
  launchTestChromium,
  startConsoleService,
  type ConsoleTab,
} from '../helpers/browser.js'
import { api, encrypt, opensWith, receivers, seedRenewalAwaitingDeveloper } from './seed.js'

/**
 * The console by keyboard alone (signing in, the navigation, sorting, the wizard, a renewal step,
 * the skip link, a visible focus indicator on everything focused), and replacing a certificate
 * through the entry view, including the 412 when the entry changed between the check and the store.
 * One service process and one browser for the file. Runs in the SQLite pass only (scripts/test.ts
 * SQLITE_ONLY): it starts its own SQLite process.
 */

const service = await startConsoleService(t)
const browser = await launchTestChromium(t)

/** What the test reads of the focused element (the program is compiled without the DOM library). */
interface Focused {
  tag: string
  id: string
  /** aria-label, else the text without aria-hidden parts, else the value of a field. */
  name: string
  outline: string
  boxShadow: string
  /** An outline (not 'none', wider than 0) or a box-shadow. */
  indicated: boolean
  focusVisible: boolean
  inMain: boolean
  inNav: boolean
}

interface FocusElement {
  tagName: string
  id: string
  value?: string
  getAttribute(name: string): string | null
  closest(selector: string): FocusElement | null
  matches(selector: string): boolean
  cloneNode(deep: boolean): { querySelectorAll(s: string): Array<{ remove(): void }>; textContent: string | null }
}

interface FocusGlobals {
  document: { activeElement: FocusElement | null; body: FocusElement }
  getComputedStyle(el: FocusElement): { outlineStyle: string; outlineWidth: string; boxShadow: string }
}

/** The focused element, or null when the focus is on the body (nothing focused). */
function focused(page: Page): Promise<Focused | null> {
  return page.evaluate(() => {
    const w = globalThis as unknown as FocusGlobals
    const el = w.document.activeElement
    if (!el || el === w.document.body) return null
    const clone = el.cloneNode(true)
    for (const hidden of clone.querySelectorAll('[aria-hidden="true"]')) hidden.remove()
    const tag = el.tagName.toLowerCase()
    const text = tag === 'select' || tag === 'input' || tag === 'textarea' ? '' : (clone.textContent ?? '')
    const s = w.getComputedStyle(el)
    return {
      tag,
      id: el.id,
      name: (el.getAttribute('aria-label') ?? text).replace(/\s+/g, ' ').trim(),
      outline: `${s.outlineStyle} ${s.outlineWidth}`,
      boxShadow: s.boxShadow,
      indicated: (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none',
      focusVisible: el.matches(':focus-visible'),
      inMain: !!el.closest('main'),
      inNav: !!el.closest('nav'),
    }
  })
}

const describe = (f: Focused | null) => (f ? `${f.tag}${f.id ? `#${f.id}` : ''} “${f.name}”` : 'nothing (body)')

/** Keyboard only: every key press goes through here, and every element it focuses is checked. */
class Keyboard {
  /** Every element a key moved the focus to, and whether it showed a focus indicator. */
  readonly stops: Array<{ key: string; focused: string; indicated: boolean; outline: string }> = []

  constructor(
    private readonly t: Test,
    readonly tab: ConsoleTab,
  ) {}

  get page() {
    return this.tab.page
  }

  /** Presses `key`; the element then focused must show a focus indicator (headings and main excepted). */
  async press(key: string): Promise<Focused | null> {
    await this.page.keyboard.press(key)
    const f = await focused(this.page)
    if (f && f.tag !== 'h1' && f.tag !== 'main') {
      this.stops.push({ key, focused: describe(f), indicated: f.indicated, outline: `${f.outline}; ${f.boxShadow}` })
    }
    return f
  }

  /** Presses `key` (Tab or Shift+Tab) until the focused element is the one `wanted` says, at most `max` times. */
  async moveTo(key: 'Tab' | 'Shift+Tab', wanted: (f: Focused) => boolean, what: string, max = 40): Promise<Focused> {
    const path: string[] = []
    for (let i = 0; i < max; i++) {
      const f = await this.press(key)
      path.push(describe(f))
      if (f && wanted(f)) {
        this.t.pass(`${what}: reached with ${i + 1}× ${key}`)
        return f
      }
    }
    throw new Error(`${what}: not reached with ${max}× ${key}; passed ${path.join(', ')}`)
  }

  /** Chooses the option of the focused select whose value is `value` with the arrow keys. */
  async choose(select: string, value: string) {
    const field = this.page.locator(select)
    for (let i = 0; i < 20 && (await field.inputValue()) !== value; i++) await this.press('ArrowDown')
    this.t.equal(await field.inputValue(), value, `${select}: ${value} chosen with the arrow keys`)
  }

  /** Every element focused by a key so far showed a focus indicator. */
  assertIndicated(label: string) {
    const missing = this.stops.filter((s) => !s.indicated).map((s) => `${s.focused} (${s.outline})`)
    this.t.same(missing, [], `${label}: each of the ${this.stops.length} elements focused shows a focus indicator`)
    this.t.comment(`${label}: focused ${this.stops.map((s) => `${s.key} → ${s.focused}`).join('; ')}`)
  }
}

/** Waits until the focus is on the view's h1 and it reads `heading`. */
async function focusOnHeading(t: Test, page: Page, heading: string | RegExp) {
  const source = typeof heading === 'string' ? `^${heading.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$` : heading.source
  await page.waitForFunction(
    (pattern) => {
      const el = (globalThis as unknown as FocusGlobals).document.activeElement as
        (FocusElement & { textContent: string | null }) | null
      return (
        !!el && el.tagName === 'H1' && !!el.closest('main') && new RegExp(pattern).test((el.textContent ?? '').trim())
      )
    },
    source,
    { timeout: 15_000 },
  )
  t.pass(`the focus is on the view's h1 “${heading}”`)
}

/** Signs in with the keyboard: the sign-in heading has the focus, Tab to the token field, type, Enter. */
async function signInByKeyboard(t: Test, keys: Keyboard, role: keyof typeof TOKENS) {
  await keys.tab.load()
  await keys.page.locator('#token').waitFor()
  // Whether the document's first view takes the focus is not asked here (see the skip link):
  // from the h1 or from the document's start, one Tab reaches the field.
  t.comment(`the sign-in page loaded, the focus on ${describe(await focused(keys.page))}`)
  await keys.moveTo('Tab', (f) => f.id === 'token', 'the token field')
  await keys.page.keyboard.type(TOKENS[role])
  await keys.press('Enter')
  await keys.page.getByText(`Signed in as test-${role}`).waitFor({ timeout: 15_000 })
  await focusOnHeading(t, keys.page, 'Overview')
  await keys.tab.settled()
}

const ariaSort = (page: Page, column: string) =>
  page
    .locator('table.entries thead th')
    .filter({ has: page.getByRole('button', { name: column, exact: true }) })
    .getAttribute('aria-sort')

t.test('the console is keyboard-operable, with a visible focus indicator on everything focused', async (t) => {
  // A renewal waiting for the developer's add-alias.
  const { renewalId } = await seedRenewalAwaitingDeveloper(t, service)

  const browserWindow = await consoleWindow(browser, service)
  const admin = new Keyboard(t, await browserWindow.newTab())
  const developer = new Keyboard(t, await browserWindow.newTab())
  const page = admin.page

  // Sign in: the token field, then Enter; the focus lands on the overview's h1.
  await signInByKeyboard(t, admin, 'tenant-admin')

  // Back from the heading into the navigation, and the Keystore link opened with Enter.
  const link = await admin.moveTo(
    'Shift+Tab',
    (f) => f.inNav && f.tag === 'a' && f.name === 'Keystore',
    'the Keystore link of the navigation',
  )
  t.ok(link.focusVisible, 'the Keystore link matches :focus-visible')
  await admin.press('Enter')
  await page.waitForURL(/#\/keystore$/)
  await focusOnHeading(t, page, 'Keystore')
  await admin.tab.settled()
  t.equal(
    await page.locator('nav a[aria-current="page"]').textContent(),
    'Keystore',
    'the navigation marks Keystore as the current page',
  )

  // Sort by alias with Enter: ascending, then descending; the focus stays on the button.
  t.equal(await ariaSort(page, 'Days left'), 'ascending', 'the keystore is sorted by days left at first')
  t.equal(await ariaSort(page, 'Alias'), null, 'the Alias column is not sorted at first')
  await admin.moveTo('Tab', (f) => f.tag === 'button' && f.name === 'Alias', 'the Alias sort button')
  const aliases = () => page.locator('table.entries tbody th[scope="row"]').allTextContents()
  await admin.press('Enter')
  await page.locator('table.entries th[aria-sort="ascending"]', { hasText: 'Alias' }).waitFor()
  t.equal(await ariaSort(page, 'Days left'), null, 'Enter: days left is no longer the sort')
  t.same(
    await aliases(),
    ['partner-ag', 'partner-ag-2027', 'spare'],
    'Enter: aria-sort ascending, the rows by alias A–Z',
  )
  t.equal((await focused(page))?.name, 'Alias', 'the focus stays on the sort button')
  await admin.press('Enter')
  await page.locator('table.entries th[aria-sort="descending"]', { hasText: 'Alias' }).waitFor()
  const descending = ['spare', 'partner-ag-2027', 'partner-ag']
  t.same(await aliases(), descending, 'Enter again: aria-sort descending, the rows Z–A')
  await assertAccessible(t, admin.tab, 'keystore, sorted by keyboard')

  // The wizard, from the navigation: the selects by arrow keys, the questions by Yes/No buttons.
  await admin.moveTo('Shift+Tab', (f) => f.inNav && f.name === 'Start a renewal', 'the Start a renewal link')
  await admin.press('Enter')
  await page.waitForURL(/#\/start$/)
  await focusOnHeading(t, page, 'Start a renewal')
  await admin.tab.settled()
  await page.locator('#wz-encryptor option', { hasText: 'invoices' }).waitFor({ state: 'attached' })
  await admin.moveTo('Tab', (f) => f.id === 'wz-encryptor', 'the Encryptor select')
  await admin.choose('#wz-encryptor', 'invoices')
  await admin.moveTo('Tab', (f) => f.id === 'wz-current', 'the Current alias select')
  await admin.choose('#wz-current', 'spare')
  const replies: Array<[string, 'Yes' | 'No']> = [
    ['Can the receiver decrypt with its old and its new key at the same time', 'No'],
    ['Does the receiver accept messages that carry several RecipientInfos?', 'Yes'],
    ['Does the encryptor already list a prepared, empty second alias', 'No'],
  ]
  for (const [index, [question, reply]] of replies.entries()) {
    await page.locator('#wz-q').filter({ hasText: question }).waitFor()
    // The Yes button follows the question; No follows Yes. From an answered question's No, Shift+Tab.
    const current = await focused(page)
    const key = current?.name === 'No' && reply === 'Yes' ? 'Shift+Tab' : 'Tab'
    await admin.moveTo(
      key,
      (f) => f.tag === 'button' && f.name === reply,
      `question ${index + 1} (${question}…): the ${reply} button`,
    )
    // Enter for the first answers, Space for the last: both press a button.
    await admin.press(index === replies.length - 1 ? 'Space' : 'Enter')
    await page.locator('.answered').nth(index).filter({ hasText: question }).filter({ hasText: reply }).waitFor()
  }
  await page.locator('.recommendation').waitFor()
  t.equal(
    await page.locator('.recommendation .procedure').textContent(),
    'add-alias',
    'answered by keyboard: the wizard recommends add-alias',
  )
  t.equal(await page.locator('.question').count(), 0, 'no question is left')
  t.equal(await page.locator('#wz-procedure').inputValue(), 'add-alias', 'the procedure chosen is the recommended one')
  // The question's buttons are gone; the next Tab goes on from where they were, not back to the page's start.
  const after = await admin.press('Tab')
  t.ok(after?.inMain, `after the last answer, Tab stays in the wizard (${describe(after)})`)
  await assertAccessible(t, admin.tab, 'wizard, answered by keyboard')

  // The skip link: on a signed-in view loaded afresh, the first Tab focuses it; Enter moves focus into main.
  await admin.tab.load('#/keystore')
  t.comment(`the keystore loaded afresh, the focus on ${describe(await focused(page))}`)
  const first = await admin.press('Tab')
  t.equal(
    first?.name,
    'Skip to content',
    `the first Tab on a freshly loaded view focuses the skip link (${describe(first)})`,
  )
  const skip = await focused(page)
  t.equal(skip?.tag, 'a', 'the skip link is a link')
  t.ok(skip?.indicated && skip.focusVisible, `the skip link shows a focus indicator (${skip?.outline})`)
  t.ok(
    await page.locator('a.skip').evaluate((a) => {
      const r = (a as unknown as { getBoundingClientRect(): { left: number; width: number } }).getBoundingClientRect()
      return r.left >= 0 && r.width > 0
    }),
    'the focused skip link is on screen',
  )
  await admin.press('Enter')
  await page.waitForFunction(() => (globalThis as unknown as FocusGlobals).document.activeElement?.id === 'main')
  t.pass('Enter on the skip link moves the focus to main')
  const intoMain = await admin.press('Tab')
  t.ok(intoMain?.inMain, `the next Tab focuses the first control in main: ${describe(intoMain)}`)
  t.notOk(intoMain?.inNav, 'not the navigation')
  admin.assertIndicated('tenant-admin')
  await assertClean(t, admin.tab, 'tenant-admin by keyboard')

  // The developer, in a second tab: sign in, Renewals in the navigation, the renewal, the add-alias step.
  await signInByKeyboard(t, developer, 'integration-developer')
  const dev = developer.page
  await developer.moveTo('Shift+Tab', (f) => f.inNav && f.name === 'Renewals', 'the Renewals link')
  await developer.press('Enter')
  await dev.waitForURL(/#\/renewals$/)
  await focusOnHeading(t, dev, 'Renewals')
  await developer.tab.settled()
  await developer.moveTo('Tab', (f) => f.tag === 'a' && f.name === 'add-alias of orders-to-partner', 'the renewal')
  await developer.press('Enter')
  await dev.waitForURL(new RegExp(`#/renewals/${renewalId}$`))
  await focusOnHeading(t, dev, 'Renewal: add-alias of orders-to-partner')
  await developer.tab.settled()
  await developer.moveTo('Tab', (f) => f.id === 'step-comment', 'the comment field')
  await dev.keyboard.type('added by keyboard')
  const stepButton = await developer.moveTo(
    'Tab',
    (f) => f.tag === 'button' && f.name === 'Take step: add-alias',
    'the Take step: add-alias button',
  )
  t.ok(stepButton.focusVisible, 'the step button matches :focus-visible')
  await assertAccessible(t, developer.tab, 'renewal before add-alias, by keyboard')
  await developer.press('Space')
  await dev.locator('li.step-done').filter({ hasText: 'add-alias' }).waitFor()
  await developer.tab.settled()
  const taken = await api<{
    next: { step: string } | null
    recipients: string[]
    steps: Array<{ name: string; status: string; comment?: string }>
  }>(service, 'monitor', 'GET', `/renewals/${renewalId}`)
  t.same(
    taken.steps.filter((s) => s.status === 'done').map((s) => s.name),
    ['add-certificate', 'add-alias'],
    'the API: add-alias is done',
  )
  t.equal(taken.next?.step, 'confirm-receiver-switched', 'the API: next is confirm-receiver-switched')
  t.equal(
    taken.steps.find((s) => s.name === 'add-alias')?.comment,
    'added by keyboard',
    'the comment typed is kept with the step',
  )
  t.same([...taken.recipients].sort(), ['partner-ag', 'partner-ag-2027'], 'the encryptor encrypts for both aliases')
  developer.assertIndicated('integration-developer')
  await assertClean(t, developer.tab, 'integration-developer by keyboard')
})

interface EntryJson {
  alias: string
  version: number
  sha256Fingerprint: string
  subject: string
}

interface CheckJson {
  action: string
  currentVersion: number | null
  certificate: { subject: string; issuer: string; serialNumber: string; sha256Fingerprint: string }
  checks: Array<{ name: string; passed: boolean; detail: string }>
}

t.test('replacing a certificate through the entry view stores version 2; a change meanwhile is a 412', async (t) => {
  const [original, replacement, refused, meanwhile] = receivers(
    t,
    'replace-me-2026',
    'replace-me-2027',
    'replace-me-refused',
    'replace-me-meanwhile',
  )
  const alias = 'replace-me'
  const encryptorId = 'replace-me-flow'
  await api(service, 'tenant-admin', 'PUT', `/keystore/entries/${alias}`, { certificate: original!.pem })
  await api(service, 'integration-developer', 'PUT', `/encryptors/${encryptorId}`, { receiverAliases: [alias] })
  const entry = () => api<EntryJson>(service, 'monitor', 'GET', `/keystore/entries/${alias}`)
  const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256
  const sameFingerprint = (a: string, b: string) =>
    a.replace(/:/g, '').toLowerCase() === b.replace(/:/g, '').toLowerCase()
  /** What the API's check answers for `pem`, asked directly (it stores nothing). */
  const checkByApi = async (pem: string) => {
    const res = await fetch(service.url(`/keystore/entries/${alias}/check`), {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS['tenant-admin']}`, 'content-type': 'application/x-pem-file' },
      body: pem,
    })
    t.equal(res.status, 200, 'the API checks the certificate')
    return (await res.json()) as CheckJson
  }

  const { newTab } = await consoleWindow(browser, service)
  const tab = await newTab()
  await tab.signIn('tenant-admin')
  await tab.load(`#/keystore/${alias}`)
  const page = tab.page
  t.equal(await page.locator('main h1').textContent(), `Keystore entry ${alias}`, 'the entry view')

  /** Opens the replace form, pastes `pem` and checks it: the checked section as the page shows it. */
  const check = async (pem: string) => {
    await page.getByRole('button', { name: 'Replace certificate…' }).click()
    await page.getByRole('heading', { name: `Replace the certificate of ${alias}` }).waitFor()
    await page.getByLabel('Or paste the certificate (PEM)').fill(pem)
    await page.getByRole('button', { name: 'Check certificate' }).click()
    const checked = page.locator('section.checked')
    await checked.waitFor()
    const details = await checked.locator('dl.details').evaluate((dl) => {
      const d = dl as unknown as { querySelectorAll(s: string): Iterable<{ textContent: string | null }> }
      const terms = [...d.querySelectorAll('dt')].map((x) => (x.textContent ?? '').trim())
      const values = [...d.querySelectorAll('dd')].map((x) => (x.textContent ?? '').trim())
      return Object.fromEntries(terms.map((term, i) => [term, values[i] ?? '']))
    })
    return {
      heading: (await checked.locator('h2').textContent())?.trim(),
      details,
      checks: (await checked.locator('ul.checks li').allTextContents()).map((s) => s.replace(/^[✓✗] /, '').trim()),
      passed: await checked.locator('ul.checks li.check-passed').count(),
    }
  }

  // Check the replacement: the parsed details, the checks, what storing it does.
  const before = await entry()
  t.equal(before.version, 1, 'the API: version 1 at first')
  const shown = await check(replacement!.pem)
  const expected = await checkByApi(replacement!.pem)
  t.equal(expected.action, 'replace', 'the API says: replace')
  t.equal(shown.heading, `Replaces the certificate of ${alias} (version 1)`, `the page says: “${shown.heading}”`)
  t.equal(shown.details.Subject, expected.certificate.subject, `the subject parsed: ${shown.details.Subject}`)
  t.match(shown.details.Subject, /CN=replace-me-2027/, 'the subject is the new certificate’s')
  t.equal(shown.details.Issuer, expected.certificate.issuer, 'the issuer parsed')
  t.equal(shown.details.Serial, expected.certificate.serialNumber, 'the serial parsed')
  t.equal(shown.details['SHA-256'], expected.certificate.sha256Fingerprint, 'the SHA-256 fingerprint parsed')
  t.ok(
    sameFingerprint(shown.details['SHA-256']!, fingerprint(replacement!.pem)),
    'the fingerprint is the new certificate’s',
  )
  t.equal(shown.details['Used by'], encryptorId, 'used by the encryptor')
  t.same(
    shown.checks,
    expected.checks.map((c) => c.detail || c.name),
    `the ${shown.checks.length} checks as the API lists them`,
  )
  t.ok(shown.checks.length > 0, 'there are checks')
  t.equal(shown.passed, expected.checks.filter((c) => c.passed).length, 'each marked passed as the API says')
  t.equal((await entry()).version, 1, 'checking stored nothing')
  await assertAccessible(t, tab, 'entry, replacement checked')

  // Store it: version 2, the new fingerprint; a message for the encryptor opens with the new key only.
  await page.getByRole('button', { name: 'Replace certificate', exact: true }).click()
  await page.locator('section.checked').waitFor({ state: 'detached' })
  await page.locator('dl.details dd', { hasText: /^2, stored / }).waitFor()
  await tab.settled()
  t.pass('the page shows version 2')
  const stored = await entry()
  t.equal(stored.version, 2, 'the API: version 2')
  t.ok(sameFingerprint(stored.sha256Fingerprint, fingerprint(replacement!.pem)), 'the API: the new fingerprint')
  t.equal(
    await page.locator('dl.details dd.mono').last().textContent(),
    stored.sha256Fingerprint,
    'the page shows the new fingerprint',
  )
  t.equal(await page.locator('table tbody tr').count(), 1, 'the history holds the replaced version')
  const message = await encrypt(service, encryptorId)
  t.equal(message.header, alias, `X-Cms-Recipients: ${message.header}`)
  t.ok(await opensWith(message, replacement!), 'the new key opens a message encrypted now')
  t.notOk(await opensWith(message, original!), 'the old key does not')
  await assertClean(t, tab, 'replaced')

  // The 412: check another certificate, the entry changes through the API meanwhile, then store.
  const second = await check(refused!.pem)
  t.equal(second.heading, `Replaces the certificate of ${alias} (version 2)`, `checked against version 2`)
  const changed = await fetch(service.url(`/keystore/entries/${alias}`), {
    method: 'PUT',
    headers: {
      authorization: `Bearer ${TOKENS['tenant-admin']}`,
      'content-type': 'application/x-pem-file',
      'if-match': '"2"',
    },
    body: meanwhile!.pem,
  })
  t.equal(changed.status, 200, 'meanwhile, the API replaces the entry (version 2 → 3)')
  await page.getByRole('button', { name: 'Replace certificate', exact: true }).click()
  const box = page.locator('#up-store-problem')
  await box.waitFor()
  const problem = {
    title: await box.locator('.problem-title').textContent(),
    detail: await box.locator('.problem-detail').textContent(),
    code: await box.locator('.problem-code').textContent(),
  }
  t.equal(problem.code, 'CMS_PRECONDITION_FAILED', 'the page shows the code CMS_PRECONDITION_FAILED')
  // The same PUT the console sent (If-Match: "2"), asked of the API: the problem the page should show.
  const res = await fetch(service.url(`/keystore/entries/${alias}`), {
    method: 'PUT',
    headers: {
      authorization: `Bearer ${TOKENS['tenant-admin']}`,
      'content-type': 'application/x-pem-file',
      'if-match': '"2"',
    },
    body: refused!.pem,
  })
  t.equal(res.status, 412, 'the API answers that PUT 412')
  const answer = (await res.json()) as { title: string; detail: string; code: string }
  t.same(
    problem,
    { title: answer.title, detail: answer.detail, code: answer.code },
    'title, detail and code as the API says',
  )
  t.ok(problem.title && problem.detail, `“${problem.title}: ${problem.detail}”`)
  t.equal(await box.getAttribute('role'), 'alert', 'the problem is announced (role=alert)')
  const after = await entry()
  t.equal(after.version, 3, 'the API: version 3, nothing overwritten')
  t.ok(sameFingerprint(after.sha256Fingerprint, fingerprint(meanwhile!.pem)), 'the API: the third certificate')
  t.notOk(sameFingerprint(after.sha256Fingerprint, fingerprint(refused!.pem)), 'not the one checked in the page')
  const later = await encrypt(service, encryptorId)
  t.ok(await opensWith(later, meanwhile!), 'a message encrypted now opens with the third certificate’s key')
  t.notOk(await opensWith(later, refused!), 'not with the refused one’s')
  await assertAccessible(t, tab, 'entry, replace refused with 412')
  await assertClean(t, tab, 'replace 412')
})
