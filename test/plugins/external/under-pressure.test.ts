import t from 'tap'
import { buildTestApp } from '../../helpers/app.js'
import { asRoleOn } from '../../helpers/as-role.js'
import { assertProblem } from '../../helpers/requests.js'

/** Turns of lag (or of waiting) after which waiting longer is pointless; a slow machine only needs more of them. */
const MAX_TURNS = 150
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

t.test('load shedding: a lagging event loop answers 503 with Retry-After, then serves again', async (t) => {
  const app = await buildTestApp(t, { MAX_EVENT_LOOP_DELAY_MS: '50' })
  const get = () => asRoleOn(app)('monitor').get('/keystore/entries')
  await app.ready()

  // Block the loop in turns of 200 ms, as an overloaded process would, until under-pressure (which
  // samples about once a second) notices. What is asserted is the outcome, not how soon it came.
  let res = await get()
  let turns = 0
  for (; res.statusCode !== 503 && turns < MAX_TURNS; turns++) {
    const until = Date.now() + 200
    while (Date.now() < until) {
      /* lag */
    }
    await sleep(20)
    res = await get()
  }
  t.comment(`503 after ${turns} turns of lag`)
  assertProblem(t, res, 503, 'CMS_OVERLOADED')
  t.ok(Number(res.headers['retry-after']) > 0, 'Retry-After')

  // Once the loop keeps up again, the same request is served.
  let waited = 0
  for (; res.statusCode === 503 && waited < MAX_TURNS; waited++) {
    await sleep(100)
    res = await get()
  }
  t.comment(`served again after ${waited} turns of 100 ms`)
  t.equal(res.statusCode, 200, 'served again once the loop keeps up')
})
