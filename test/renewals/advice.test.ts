import t from 'tap'
import { advise, QUESTION_IDS, QUESTIONS, type Answers, type QuestionId } from '../../src/renewals/advice.js'
import { PROCEDURE, RECEIVER_PROCEDURES } from '../../src/renewals/procedures.js'

t.test('the four situations, each named by the procedure it ends in', async (t) => {
  const cases: Array<{ name: string; answers: Answers; procedure: string }> = [
    { name: 'exchange: decrypts with both keys', answers: { decryptsWithBothKeys: true }, procedure: 'exchange' },
    {
      name: 'downtime: one key, one RecipientInfo only',
      answers: { decryptsWithBothKeys: false, acceptsSeveralRecipientInfos: false },
      procedure: 'downtime',
    },
    {
      name: 'prepared-alias: several RecipientInfos and an empty alias listed',
      answers: { decryptsWithBothKeys: false, acceptsSeveralRecipientInfos: true, hasPreparedAlias: true },
      procedure: 'prepared-alias',
    },
    {
      name: 'add-alias: several RecipientInfos, no prepared alias',
      answers: { decryptsWithBothKeys: false, acceptsSeveralRecipientInfos: true, hasPreparedAlias: false },
      procedure: 'add-alias',
    },
  ]
  for (const c of cases) {
    const advice = advise(c.answers)
    t.equal(advice.question, null, `${c.name}: no question left`)
    const r = advice.recommendation!
    t.equal(r.procedure, c.procedure, c.name)
    t.equal(r.newAlias, PROCEDURE[r.procedure].newAlias, `${c.name}: newAlias from the procedure`)
    t.same(
      r.steps,
      PROCEDURE[r.procedure].steps.map((s) => ({ name: s.name, role: s.role })),
      `${c.name}: the procedure's steps and roles`,
    )
    t.ok(r.why.length > 20, `${c.name}: says why`)
  }
  t.same(new Set(cases.map((c) => c.procedure)), new Set(RECEIVER_PROCEDURES), 'every procedure is reachable')
})

t.test('the questions come in order, each asked until answered', async (t) => {
  const cases: Array<{ name: string; answers: Answers; asks: QuestionId }> = [
    { name: 'nothing answered: asks about both keys first', answers: {}, asks: 'decryptsWithBothKeys' },
    {
      name: 'one key: asks about several RecipientInfos',
      answers: { decryptsWithBothKeys: false },
      asks: 'acceptsSeveralRecipientInfos',
    },
    {
      name: 'several RecipientInfos: asks about a prepared alias',
      answers: { decryptsWithBothKeys: false, acceptsSeveralRecipientInfos: true },
      asks: 'hasPreparedAlias',
    },
    {
      name: 'a later answer without the first: still asks the first',
      answers: { acceptsSeveralRecipientInfos: true, hasPreparedAlias: true },
      asks: 'decryptsWithBothKeys',
    },
  ]
  for (const c of cases) {
    const advice = advise(c.answers)
    t.equal(advice.recommendation, null, `${c.name}: no recommendation yet`)
    t.same(advice.question, { id: c.asks, text: QUESTIONS[c.asks].text, help: QUESTIONS[c.asks].help }, c.name)
  }
})

t.test('answers to questions off the path are ignored', async (t) => {
  const cases: Array<{ name: string; answers: Answers; procedure: string }> = [
    {
      name: 'exchange, whatever the other answers',
      answers: { decryptsWithBothKeys: true, acceptsSeveralRecipientInfos: false, hasPreparedAlias: true },
      procedure: 'exchange',
    },
    {
      name: 'downtime, whatever is said of a prepared alias',
      answers: { decryptsWithBothKeys: false, acceptsSeveralRecipientInfos: false, hasPreparedAlias: true },
      procedure: 'downtime',
    },
  ]
  for (const c of cases) t.equal(advise(c.answers).recommendation?.procedure, c.procedure, c.name)
})

t.test('every question has text and help that end as sentences', async (t) => {
  for (const id of QUESTION_IDS) {
    t.match(QUESTIONS[id].text, /\?$/, `${id}: a question`)
    t.match(QUESTIONS[id].help, /\.$/, `${id}: help is a sentence`)
  }
})
