import t from 'tap'
import { TOKENS } from '../helpers/app.js'
import {
  assertAccessible,
  assertClean,
  consoleWindow,
  launchTestChromium,
  startConsoleService,
  type ConsoleTab,
  type PageGlobals,
} from '../helpers/browser.js'
import { LOCAL_RECEIVER, WebhookReceiver, type ReceivedEvent } from '../helpers/webhook-receiver.js'
import { api } from './seed.js'

/**
 * The console's Webhooks view, in a real browser, against a receiver on 127.0.0.1 that verifies every
 * request with the standardwebhooks package: subscribing through the form (the secret shown once), a
 * refused URL shown beside its field, the test event delivered and in the delivery log, sending again,
 * rotating the secret (the new one signs), disabling, enabling and deleting; and no Webhooks link for
 * the roles that may not use it. One service process (allowed to deliver over http to 127.0.0.1), one
 * browser and one receiver for the file; nothing is ever subscribed beyond 127.0.0.1 (the refused URLs
 * are never stored). Runs in the SQLite pass only (scripts/test.ts SQLITE_ONLY).
 */

interface Subscription {
  id: string
  url: string
  events: string[]
  enabled: boolean
  previousSecretValidUntil: string | null
  secret?: string
}

interface Delivery {
  id: string
  eventId: string
  eventType: string
  state: 'pending' | 'delivered' | 'failed'
  attempts: Array<{ status: number | null }>
}

const service = await startConsoleService(t, LOCAL_RECEIVER)
const browser = await launchTestChromium(t)
const receiver = await WebhookReceiver.start(t)

const UTC_TIME = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/

const subscriptions = () =>
  api<{ webhooks: Subscription[] }>(service, 'tenant-admin', 'GET', '/webhooks').then((l) => l.webhooks)
const deliveries = (id: string) =>
  api<{ deliveries: Delivery[] }>(service, 'tenant-admin', 'GET', `/webhooks/${id}/deliveries`).then(
    (l) => l.deliveries,
  )

/** Waits (bounded, against hanging) until the API's delivery log of `id` satisfies `done`. */
async function logUntil(id: string, done: (log: Delivery[]) => boolean, what: string): Promise<Delivery[]> {
  const start = Date.now()
  for (;;) {
    const log = await deliveries(id)
    if (done(log)) return log
    if (Date.now() - start > 30_000) throw new Error(`delivery log of ${id}: still waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** The navigation's link texts. */
const navLinks = (tab: ConsoleTab) => tab.page.locator('nav a').allTextContents()

/** The secret the page shows once, or null when it shows none. */
async function shownSecret(tab: ConsoleTab): Promise<string | null> {
  const box = tab.page.locator('.secret-once')
  if ((await box.count()) === 0) return null
  return (await box.locator('code.secret').textContent())?.trim() ?? ''
}

/** The delivery log's rows as the page shows them. */
function shownLog(tab: ConsoleTab) {
  return tab.page.locator('main table tbody tr').evaluateAll((rows) =>
    rows.map((row) => {
      const r = row as unknown as {
        querySelectorAll(s: string): Array<{ textContent: string | null }>
        querySelector(s: string): { textContent: string | null } | null
      }
      const cells = r.querySelectorAll('th, td')
      const text = (i: number) => (cells[i]?.textContent ?? '').replace(/\s+/g, ' ').trim()
      return {
        event: text(0),
        eventId: (r.querySelector('th small')?.textContent ?? '').trim(),
        state: text(1),
        attempts: text(2),
        lastAttempt: text(3),
      }
    }),
  )
}

t.test('no Webhooks link for the roles that may not manage webhooks', async (t) => {
  const { newTab } = await consoleWindow(browser, service)
  for (const role of ['monitor', 'integration-developer'] as const) {
    const tab = await newTab()
    await tab.signIn(role)
    const links = await navLinks(tab)
    t.ok(links.length > 0, `${role}: the navigation is there (${links.join(', ')})`)
    t.notOk(links.includes('Webhooks'), `${role}: no Webhooks link`)
    t.equal(await tab.page.locator('nav a[href="#/webhooks"]').count(), 0, `${role}: no link to #/webhooks`)
    // The address typed in: the API's refusal, as it says it.
    await tab.open('#/webhooks')
    const res = await fetch(service.url('/webhooks'), { headers: { authorization: `Bearer ${TOKENS[role]}` } })
    const problem = (await res.json()) as { code: string }
    t.equal(res.status, 403, `${role}: the API refuses /webhooks`)
    t.equal(
      await tab.page.locator('main .problem .problem-code').textContent(),
      problem.code,
      `${role}: #/webhooks shows the refusal (${problem.code})`,
    )
    await assertAccessible(t, tab, `${role}: #/webhooks refused`)
    await assertClean(t, tab, role)
  }
})

t.test('a tenant admin subscribes, tests, rotates, disables, enables and deletes through the console', async (t) => {
  const { newTab } = await consoleWindow(browser, service)
  const tab = await newTab()
  const { page } = tab
  const requested: string[] = []
  page.on('request', (r) => requested.push(r.url()))
  await tab.signIn('tenant-admin')

  t.ok((await navLinks(tab)).includes('Webhooks'), 'the navigation has Webhooks')
  await page.locator('nav').getByRole('link', { name: 'Webhooks', exact: true }).click()
  await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor()
  await tab.settled()
  t.equal(await page.locator('nav a[aria-current="page"]').textContent(), 'Webhooks', 'marked the current page')
  t.ok(await page.getByText('No subscription yet.').isVisible(), 'no subscription yet')
  await assertAccessible(t, tab, 'webhooks, empty')

  const urlField = page.getByLabel('URL', { exact: true })
  const subscribeButton = page.getByRole('button', { name: 'Subscribe', exact: true })

  await t.test('a refused URL is shown beside the URL field, and nothing is stored', async (t) => {
    // Refused on any settings: never stored, so the service never tries to reach them.
    for (const url of ['https://u:p@hooks.example.com/', 'ftp://x.example/']) {
      await urlField.fill(url)
      await subscribeButton.click()
      const beside = page.locator('#hook-url-problem')
      await beside.waitFor()
      const res = await fetch(service.url('/webhooks'), {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKENS['tenant-admin']}`, 'content-type': 'application/json' },
        body: JSON.stringify({ url, events: ['*'] }),
      })
      const problem = (await res.json()) as { title: string; detail: string; code: string }
      t.equal(res.status, 422, `${url}: the API refuses it`)
      t.equal(problem.code, 'CMS_WEBHOOK_URL_REFUSED', `${url}: ${problem.detail}`)
      t.equal(await beside.textContent(), `${problem.detail} ${problem.code}`, `${url}: beside the URL field`)
      t.equal(await urlField.getAttribute('aria-invalid'), 'true', `${url}: the field is invalid`)
      t.match(
        await urlField.getAttribute('aria-describedby'),
        /(^| )hook-url-problem$/,
        `${url}: the field is described by the problem`,
      )
      const box = page.locator('#hook-problem')
      t.same(
        {
          title: await box.locator('.problem-title').textContent(),
          detail: await box.locator('.problem-detail').textContent(),
          code: await box.locator('.problem-code').textContent(),
        },
        { title: problem.title, detail: problem.detail, code: problem.code },
        `${url}: the problem box says what the API says`,
      )
      t.equal(await shownSecret(tab), null, `${url}: no secret`)
      await assertAccessible(t, tab, `webhooks, ${url} refused`)
    }
    t.same(await subscriptions(), [], 'nothing was stored')
    t.ok(await page.getByText('No subscription yet.').isVisible(), 'the list is still empty')
  })

  let first!: Subscription
  let firstSecret!: string
  let second!: Subscription

  await t.test('subscribing the receiver shows its secret once, and lists it', async (t) => {
    await urlField.fill(receiver.url)
    t.ok(await page.getByLabel('All events, those added later included').isChecked(), 'all events, by default')
    await subscribeButton.click()
    await page.locator('.secret-once').waitFor()
    firstSecret = (await shownSecret(tab))!
    t.match(firstSecret, /^whsec_/, 'the secret is shown')
    t.equal(await urlField.inputValue(), '', 'the URL field is emptied')
    t.not(await urlField.getAttribute('aria-invalid'), 'true', 'and no longer invalid')
    t.equal(await page.locator('#hook-url-problem, #hook-problem').count(), 0, 'the problem is gone')
    const list = await subscriptions()
    t.equal(list.length, 1, 'one subscription')
    first = list[0]!
    t.same([first.url, first.events, first.enabled], [receiver.url, ['*'], true], 'to the receiver, all events')
    t.notOk('secret' in first, 'the API lists it without the secret')
    receiver.secrets.push(firstSecret)
    const row = page.locator('main table tbody tr').filter({ hasText: receiver.url })
    await row.waitFor()
    t.same(
      (await row.locator('th, td').allTextContents()).slice(0, 3),
      [receiver.url, '*', 'enabled'],
      'listed: its URL, all events, enabled',
    )
    t.match((await row.locator('td').nth(2).textContent()) ?? '', UTC_TIME, 'with the time it was made')
    await assertAccessible(t, tab, 'webhooks, secret shown')

    // Another view and back: the secret is gone for good.
    await tab.open('#/overview')
    await tab.open('#/webhooks')
    t.equal(await shownSecret(tab), null, 'away and back: no secret')
    t.notOk((await page.content()).includes(firstSecret), 'nowhere in the page')
    await tab.reload()
    t.notOk((await page.content()).includes(firstSecret), 'nor after a reload')
    t.equal(await page.locator('main table tbody tr').count(), 1, 'still listed')
  })

  await t.test('a subscription to chosen event types, by the checkboxes', async (t) => {
    const url = `${receiver.url}-chosen`
    await urlField.fill(url)
    await page.getByLabel('All events, those added later included').uncheck()
    t.ok(await subscribeButton.isDisabled(), 'no type chosen: Subscribe is disabled')
    await page.getByLabel('keystore.changed', { exact: true }).check()
    await page.getByLabel('encryptor.changed', { exact: true }).check()
    await assertAccessible(t, tab, 'webhooks, event types listed')
    await subscribeButton.click()
    await page.locator('main table tbody tr').filter({ hasText: url }).waitFor()
    const secret = await shownSecret(tab)
    t.match(secret, /^whsec_/, 'its own secret is shown')
    t.not(secret, firstSecret, 'not the first one')
    second = (await subscriptions()).find((s) => s.url === url)!
    t.same([...second.events].sort(), ['encryptor.changed', 'keystore.changed'], 'the API has the chosen types')
    t.equal(
      await page.locator('main table tbody tr').filter({ hasText: url }).locator('td').first().textContent(),
      second.events.join(', '),
      `listed with its types: ${second.events.join(', ')}`,
    )
    t.equal(await page.locator('main table tbody tr').count(), 2, 'two subscriptions listed')
  })

  let firstEvent!: ReceivedEvent

  await t.test('"Send a test event": a verified webhook.test, delivered in the log', async (t) => {
    await page.getByRole('link', { name: receiver.url, exact: true }).click()
    await page.getByRole('heading', { level: 1, name: 'Webhook subscription' }).waitFor()
    await tab.settled()
    t.equal(page.url(), tab.url(`#/webhooks/${first.id}`), 'the subscription has its address')
    t.equal(await shownSecret(tab), null, 'no secret on its page')
    t.ok(await page.getByText('Nothing delivered yet.').isVisible(), 'nothing delivered yet')
    t.equal(await page.locator('dl.details dd').first().textContent(), receiver.url, 'its URL')
    await assertAccessible(t, tab, 'subscription, nothing delivered')

    await page.getByRole('button', { name: 'Send a test event' }).click()
    await receiver.until(() => receiver.received.length >= 1, 'the test event')
    firstEvent = receiver.received[0]!
    t.equal(firstEvent.type, 'webhook.test', 'the receiver gets webhook.test')
    t.ok(firstEvent.verified, 'its signature verifies with the secret the page showed (standardwebhooks)')
    t.match(firstEvent.id, /^evt_/, `webhook-id ${firstEvent.id}`)

    const [logged] = await logUntil(first.id, (l) => l[0]?.state === 'delivered', 'delivered')
    t.equal(logged!.eventId, firstEvent.id, 'the log has the event the receiver got')
    await tab.reload()
    const shown = await shownLog(tab)
    t.equal(shown.length, 1, 'after a reload, the delivery log has one delivery')
    t.same(
      { ...shown[0], lastAttempt: undefined },
      { event: `webhook.test ${firstEvent.id}`, eventId: firstEvent.id, state: 'delivered', attempts: '1' },
      'the test event, delivered in one attempt',
    )
    t.match(shown[0]?.lastAttempt, /^204, \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/, 'the last attempt: 204, when')
    await assertAccessible(t, tab, 'subscription, delivered')
  })

  await t.test('"Send again": the same event once more', async (t) => {
    const again = page.getByRole('button', { name: /^Send again/ })
    t.equal(await again.count(), 1, 'one Send again button, for the delivered event')
    t.equal((await again.textContent())?.trim(), 'Send again', 'it reads Send again')
    await again.click()
    await receiver.until(() => receiver.received.length >= 2, 'the event sent again')
    const repeat = receiver.received[1]!
    t.same([repeat.id, repeat.type, repeat.verified], [firstEvent.id, 'webhook.test', true], 'same id, verified')
    await logUntil(first.id, (l) => l[0]?.state === 'delivered' && l[0].attempts.length === 2, 'two attempts')
    await tab.reload()
    const [row] = await shownLog(tab)
    t.same([row?.eventId, row?.state, row?.attempts], [firstEvent.id, 'delivered', '2'], 'the log: two attempts')
  })

  let rotatedSecret!: string

  await t.test('"Rotate the secret": a new secret, which signs, and the previous one until when', async (t) => {
    t.equal(await page.getByText('Previous secret').count(), 0, 'no previous secret before rotating')
    await page.getByRole('button', { name: 'Rotate the secret' }).click()
    await page.locator('.secret-once').waitFor()
    rotatedSecret = (await shownSecret(tab))!
    t.match(rotatedSecret, /^whsec_/, 'a new secret is shown')
    t.not(rotatedSecret, firstSecret, 'not the old one')
    const term = page.locator('dl.details dt').filter({ hasText: 'Previous secret' })
    await term.waitFor()
    const until = (await page.locator('dl.details dt:text-is("Previous secret") + dd').textContent()) ?? ''
    const rotated = (await subscriptions()).find((s) => s.id === first.id)!
    t.ok(rotated.previousSecretValidUntil, `the API: previous secret valid until ${rotated.previousSecretValidUntil}`)
    const shown = rotated.previousSecretValidUntil!.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC')
    t.equal(until, `still signs beside the new one until ${shown}`, `“Previous secret: ${until}”`)
    const hours = (Date.parse(rotated.previousSecretValidUntil!) - Date.now()) / 3_600_000
    t.ok(hours > 23 && hours <= 24, `about a day from now (${hours.toFixed(2)} h)`)
    await assertAccessible(t, tab, 'subscription, secret rotated')

    // The receiver knows only the new secret now: the next test event verifies with it alone.
    receiver.secrets.splice(0, receiver.secrets.length, rotatedSecret)
    await page.getByRole('button', { name: 'Send a test event' }).click()
    await receiver.until(() => receiver.received.length >= 3, 'a test event after rotating')
    const after = receiver.received[2]!
    t.equal(after.type, 'webhook.test', 'another webhook.test')
    t.not(after.id, firstEvent.id, 'a new event')
    t.ok(after.verified, 'it verifies with the rotated secret alone')
    t.equal(
      String(after.headers['webhook-signature']).split(' ').length,
      2,
      'signed twice while the previous secret runs',
    )
    await logUntil(first.id, (l) => l.length === 2 && l.every((d) => d.state === 'delivered'), 'both delivered')
    await tab.reload()
    t.equal(await shownSecret(tab), null, 'after a reload, the rotated secret is not shown')
    t.notOk((await page.content()).includes(rotatedSecret), 'nowhere in the page')
    t.same(
      (await shownLog(tab)).map((r) => [r.eventId, r.state]),
      [
        [after.id, 'delivered'],
        [firstEvent.id, 'delivered'],
      ],
      'the log, newest first',
    )
  })

  await t.test("one subscription's secret is not shown on another's page", async (t) => {
    await page.getByRole('button', { name: 'Rotate the secret' }).click()
    await page.locator('.secret-once').waitFor()
    const again = (await shownSecret(tab))!
    receiver.secrets.push(again)
    // Straight to the other subscription's address (typed in, or back in the history).
    await tab.open(`#/webhooks/${second.id}`)
    await page.locator('dl.details').getByText(second.url, { exact: true }).waitFor()
    t.equal(await shownSecret(tab), null, 'no secret on the other subscription')
    t.notOk((await page.content()).includes(again), "the first one's secret is nowhere in the page")
    t.equal(await page.getByText('Previous secret').count(), 0, 'the other one was never rotated')
    await tab.open(`#/webhooks/${first.id}`)
    await page.locator('dl.details').getByText(receiver.url, { exact: true }).waitFor()
    t.equal(await shownSecret(tab), null, 'back on the first: not shown again either')
  })

  await t.test('Disable, then Enable', async (t) => {
    const state = page.locator('dl.details dt:text-is("State") + dd')
    t.equal(await state.textContent(), 'enabled', 'enabled')
    await page.getByRole('button', { name: 'Disable', exact: true }).click()
    await page.getByRole('button', { name: 'Enable', exact: true }).waitFor()
    await state.filter({ hasText: /^disabled/ }).waitFor()
    t.equal(await state.textContent(), 'disabled: no delivery is made; pending ones wait', 'the page says disabled')
    t.equal((await subscriptions()).find((s) => s.id === first.id)?.enabled, false, 'the API says disabled')
    await assertAccessible(t, tab, 'subscription, disabled')
    await tab.open('#/webhooks')
    const row = page.locator('main table tbody tr').filter({
      has: page.getByRole('link', { name: receiver.url, exact: true }),
    })
    t.equal(await row.locator('td').nth(1).textContent(), 'disabled', 'listed as disabled')
    await row.getByRole('link').click()
    await page.getByRole('button', { name: 'Enable', exact: true }).click()
    await page.getByRole('button', { name: 'Disable', exact: true }).waitFor()
    await state.filter({ hasText: /^enabled$/ }).waitFor()
    t.pass('the page says enabled again')
    t.equal((await subscriptions()).find((s) => s.id === first.id)?.enabled, true, 'the API says enabled')
  })

  await t.test('at 390 px wide, the views do not scroll sideways', async (t) => {
    const phone = await consoleWindow(browser, service, { width: 390, height: 844 })
    const small = await phone.newTab()
    await small.signIn('tenant-admin')
    for (const hash of ['#/webhooks', `#/webhooks/${first.id}`]) {
      await small.open(hash)
      if (hash !== '#/webhooks') {
        await small.page.getByRole('button', { name: 'Rotate the secret' }).click()
        await small.page.locator('.secret-once').waitFor()
        receiver.secrets.push((await shownSecret(small))!)
      }
      const m = await small.page.evaluate(() => {
        const w = globalThis as unknown as PageGlobals
        const width = w.document.body.getBoundingClientRect().width
        const wider = [...w.document.querySelectorAll('body *')]
          .filter((e) => e.getBoundingClientRect().right > width + 0.5 && !e.closest('.table-wrap'))
          .map((e) => `${e.tagName.toLowerCase()}${e.className ? `.${e.className}` : ''}`)
        w.scrollTo(10_000, 0)
        const scrolled = w.scrollX
        w.scrollTo(0, 0)
        return { scrollWidth: w.document.documentElement.scrollWidth, scrolled, wider: wider.slice(0, 4) }
      })
      t.ok(m.scrollWidth <= 390, `${hash} at 390 px: scrollWidth ${m.scrollWidth} ≤ 390`)
      t.equal(m.scrolled, 0, `${hash} at 390 px: does not scroll sideways ${m.wider.join(', ')}`)
    }
    await assertClean(t, small, '390×844')
  })

  await t.test('Delete, through its confirmation: the page says deleted, and the list is empty', async (t) => {
    await tab.open(`#/webhooks/${first.id}`)
    await page.getByRole('button', { name: 'Delete', exact: true }).click()
    const group = page.getByRole('group', { name: 'Delete this subscription?' })
    await group.waitFor()
    t.equal(await page.getByRole('button', { name: 'Delete', exact: true }).count(), 0, 'Delete is replaced')
    await assertAccessible(t, tab, 'subscription, confirm delete')
    await group.getByRole('button', { name: 'Keep it' }).click()
    await group.waitFor({ state: 'detached' })
    t.ok(await page.getByRole('button', { name: 'Delete', exact: true }).isVisible(), 'kept: Delete is back')
    t.equal((await subscriptions()).length, 2, 'kept: nothing deleted')

    for (const s of [first, second]) {
      await tab.open(`#/webhooks/${s.id}`)
      await page.getByRole('button', { name: 'Delete', exact: true }).click()
      await group.getByRole('button', { name: 'Delete subscription' }).click()
      await page.getByRole('heading', { level: 1, name: 'Subscription deleted' }).waitFor()
      t.pass(`${s.url}: the page says deleted`)
      const res = await fetch(service.url(`/webhooks/${s.id}`), {
        headers: { authorization: `Bearer ${TOKENS['tenant-admin']}` },
      })
      await res.arrayBuffer()
      t.equal(res.status, 404, `${s.url}: gone from the API`)
      await assertAccessible(t, tab, 'subscription deleted')
      await page.getByRole('link', { name: 'Back to the webhooks' }).click()
      await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor()
      await tab.settled()
    }
    t.ok(await page.getByText('No subscription yet.').isVisible(), 'the list is empty')
    t.same(await subscriptions(), [], 'and so is the API')
  })

  t.same(
    receiver.received.filter((e) => !e.verified || e.type !== 'webhook.test'),
    [],
    `the receiver got ${receiver.received.length} requests, every one a verified webhook.test`,
  )
  const origin = service.url('')
  t.same(
    requested.filter((u) => !u.startsWith(`${origin}/`)),
    [],
    `the page's ${requested.length} requests all went to the service on 127.0.0.1`,
  )
  await assertClean(t, tab, 'tenant admin')
  t.same(service.problems, [], 'the service logged no warning or error')
})
