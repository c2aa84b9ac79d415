import t from 'tap'
import type { Role } from '../../src/auth/tokens.js'
import { storeDir } from '../helpers/app.js'
import {
  assertAccessible,
  assertClean,
  consoleWindow,
  launchTestChromium,
  startConsoleService,
  type ConsoleTab,
  type PageGlobals,
} from '../helpers/browser.js'
import { api, encrypt, opensWith, receivers, recipientInfos, status } from './seed.js'

/**
 * A whole add-alias renewal taken through the console, as two people do it: a tenant admin and an
 * integration developer, each in a tab of their own (sessionStorage is per tab, so each tab holds
 * its own token). After every click the API says where the renewal is, and a message encrypted
 * right then is opened with OpenSSL by the keys the receiver holds: old only, both, new only.
 * Runs in the SQLite pass only (scripts/test.ts SQLITE_ONLY): it starts its own SQLite process.
 */

interface RenewalJson {
  id: string
  state: string
  next: { step: string; role: Role } | null
  recipients: string[]
  steps: Array<{ name: string; role: Role; status: string; change?: string }>
}

const ENCRYPTOR = 'orders-to-partner'

t.test('an add-alias renewal through the console, admin and developer taking turns in two tabs', async (t) => {
  const service = await startConsoleService(t)
  const browser = await launchTestChromium(t)
  const scratch = storeDir(t, 'cms-console-messages-')
  const [oldKey, newKey] = receivers(t, 'partner-ag-2026', 'partner-ag-2027')
  const label = (name: string) => (name === oldKey!.name ? 'old' : name === newKey!.name ? 'new' : name)

  await api(service, 'tenant-admin', 'PUT', '/keystore/entries/partner-ag', { certificate: oldKey!.pem })
  await api(service, 'integration-developer', 'PUT', `/encryptors/${ENCRYPTOR}`, { receiverAliases: ['partner-ag'] })

  // Two tabs of one window: cookies and localStorage shared, sessionStorage (the token) per tab.
  const browserWindow = await consoleWindow(browser, service)
  const admin = await browserWindow.newTab()
  const developer = await browserWindow.newTab()
  await admin.signIn('tenant-admin')
  await developer.signIn('integration-developer')

  // The wizard, in the admin's tab.
  const page = admin.page
  await admin.open('#/start')
  await page.getByLabel('Encryptor').selectOption(ENCRYPTOR)
  await page.getByLabel("Current alias (the receiver's old key)").selectOption('partner-ag')
  const answers: Array<[string, 'Yes' | 'No']> = [
    ['Can the receiver decrypt with its old and its new key at the same time', 'No'],
    ['Does the receiver accept messages that carry several RecipientInfos?', 'Yes'],
    ['Does the encryptor already list a prepared, empty second alias', 'No'],
  ]
  for (const [question, reply] of answers) {
    const asked = page.locator('#wz-q')
    await asked.filter({ hasText: question }).waitFor()
    t.pass(`the wizard asks: ${question}…`)
    await page.locator('.question').getByRole('button', { name: reply, exact: true }).click()
    await page.locator('.answered').filter({ hasText: question }).filter({ hasText: reply }).waitFor()
  }
  const recommendation = page.locator('.recommendation')
  await recommendation.waitFor()
  t.equal(await recommendation.locator('.procedure').textContent(), 'add-alias', 'the wizard recommends add-alias')
  t.equal(await page.getByLabel('Procedure').inputValue(), 'add-alias', 'the procedure chosen is the recommended one')
  const newAlias = await page.getByLabel("New alias (the receiver's new key)").inputValue()
  t.match(newAlias, /^partner-ag-\d{4}$/, `the new alias is prefilled: ${newAlias}`)
  await page.getByLabel('Certificate file (PEM or DER)').setInputFiles(newKey!.certPath)
  // The file is read into the text area asynchronously.
  await page.waitForFunction(() => {
    const { document } = globalThis as unknown as PageGlobals
    return !!(document.querySelector('#wz-cert-pem') as { value?: string } | null)?.value
  })
  t.equal(
    (await page.getByLabel('Or paste the certificate (PEM)').inputValue()).trim(),
    newKey!.pem.trim(),
    'the file given is shown as the PEM that is sent',
  )
  await assertAccessible(t, admin, 'wizard, filled in')
  await page.getByRole('button', { name: 'Start renewal' }).click()
  await page.waitForURL(/#\/renewals\/[^/]+$/)
  await admin.settled()
  const id = decodeURIComponent(new URL(page.url()).hash.split('/').pop()!)
  const started = await api<RenewalJson>(service, 'monitor', 'GET', `/renewals/${id}`)
  t.equal(started.state, 'active', `renewal ${id} started`)
  t.same(
    started.steps.map((s) => s.name),
    ['add-certificate', 'add-alias', 'confirm-receiver-switched', 'remove-old-alias', 'remove-old-certificate'],
    'with the add-alias steps',
  )

  /** The API's view after a step, and what a message encrypted now carries and who opens it. */
  const expectState = async (done: number, aliases: string[], opens: Array<'old' | 'new'>, when: string) => {
    const renewal = await api<RenewalJson>(service, 'monitor', 'GET', `/renewals/${id}`)
    t.same(
      renewal.steps.filter((s) => s.status === 'done').map((s) => s.name),
      started.steps.slice(0, done).map((s) => s.name),
      `${when}: ${done} steps done`,
    )
    const next = started.steps[done]
    t.same(renewal.next, next ? { step: next.name, role: next.role } : null, `${when}: next ${next?.name ?? 'none'}`)
    t.equal(renewal.state, next ? 'active' : 'completed', `${when}: renewal ${renewal.state}`)
    const encryptor = await api<{ receiverAliases: string[]; recipients: string[] }>(
      service,
      'monitor',
      'GET',
      `/encryptors/${ENCRYPTOR}`,
    )
    t.same([...encryptor.recipients].sort(), [...aliases].sort(), `${when}: the encryptor encrypts for ${aliases}`)
    const message = await encrypt(service, ENCRYPTOR)
    t.same(message.header.split(',').sort(), [...aliases].sort(), `${when}: X-Cms-Recipients ${message.header}`)
    const infos = (await recipientInfos(scratch, message, [oldKey!, newKey!])).map(label).sort()
    t.same(infos, [...opens].sort(), `${when}: RecipientInfos for ${infos.join(' and ')}`)
    t.equal(await opensWith(message, oldKey!), opens.includes('old'), `${when}: old key opens it: ${opens}`)
    t.equal(await opensWith(message, newKey!), opens.includes('new'), `${when}: new key opens it: ${opens}`)
    return renewal
  }

  let renewal = await expectState(0, ['partner-ag'], ['old'], 'started')
  const tabs: Record<string, ConsoleTab> = { 'tenant-admin': admin, 'integration-developer': developer }
  const after: Array<{ aliases: string[]; opens: Array<'old' | 'new'> }> = [
    { aliases: ['partner-ag'], opens: ['old'] },
    { aliases: ['partner-ag', newAlias], opens: ['old', 'new'] },
    { aliases: ['partner-ag', newAlias], opens: ['old', 'new'] },
    { aliases: [newAlias], opens: ['new'] },
    { aliases: [newAlias], opens: ['new'] },
  ]
  for (const [index, step] of started.steps.entries()) {
    const actor = tabs[step.role]!
    const other = actor === admin ? developer : admin
    for (const tab of [actor, other]) {
      if (tab.page.url() === tab.url(`#/renewals/${id}`)) await tab.reload()
      else await tab.load(`#/renewals/${id}`)
    }
    const button = (tab: ConsoleTab) => tab.page.getByRole('button', { name: `Take step: ${step.name}` })
    const change = renewal.steps[index]!.change
    t.ok(change, `${step.name}: the API says what it changes`)
    t.equal(
      await actor.page.locator('.next-step .step-change').textContent(),
      change,
      `${step.name}: the change is shown before the click: “${change}”`,
    )
    t.ok(await button(actor).isEnabled(), `${step.name}: the ${step.role} tab may take it`)
    t.ok(await button(other).isDisabled(), `${step.name}: the other tab sees the button disabled`)
    t.equal(
      (await other.page.locator('.next-step .waiting').textContent())?.trim(),
      `Waiting for a ${step.role} token to take this step.`,
      `${step.name}: the other tab sees whose turn it is`,
    )
    await assertAccessible(t, actor, `renewal before ${step.name}`)
    await button(actor).click()
    await actor.page.locator('li.step-done').filter({ hasText: step.name }).waitFor()
    await actor.settled()
    const { aliases, opens } = after[index]!
    renewal = await expectState(index + 1, aliases, opens, `after ${step.name}`)
    await assertClean(t, actor, `after ${step.name}`)
  }

  await admin.page.getByText('This renewal is completed: every step is done.').waitFor()
  t.equal(await admin.page.getByRole('button', { name: /^Take step/ }).count(), 0, 'no step is left to take')
  t.equal(await status(service, '/keystore/entries/partner-ag'), 404, 'the old certificate is gone from the keystore')
  t.equal(await status(service, `/keystore/entries/${newAlias}`), 200, 'the new one is stored')
  await assertClean(t, admin, 'admin tab')
  await assertClean(t, developer, 'developer tab')
})
