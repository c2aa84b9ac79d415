import t from 'tap'
import { describeSteps, explainAbort, type RenewalSubject } from '../../src/renewals/describe.js'
import { PROCEDURE, PROCEDURES, type Procedure } from '../../src/renewals/procedures.js'

const subject = (procedure: Procedure, extra: Partial<RenewalSubject> = {}): RenewalSubject => ({
  procedure,
  encryptorId: 'orders-to-partner',
  currentAlias: 'partner-ag',
  newAlias: PROCEDURE[procedure].newAlias === 'required' ? 'partner-ag-2027' : null,
  otherRecipients: [],
  downtime: null,
  ...extra,
})

const changeOf = (r: RenewalSubject, step: string) => describeSteps(r).find((s) => s.name === step)!.change

t.test('every step of every procedure says what it changes, with the real aliases', async (t) => {
  for (const procedure of PROCEDURES) {
    const steps = describeSteps(subject(procedure))
    t.same(
      steps.map((s) => s.name),
      PROCEDURE[procedure].steps.map((s) => s.name),
      `${procedure}: one sentence per step, in order`,
    )
    for (const s of steps) {
      t.match(s.change, /partner-ag/, `${procedure}/${s.name}: names the alias`)
      t.notMatch(s.change, /undefined|null/, `${procedure}/${s.name}: no missing value`)
      t.equal(
        s.change.includes('can no longer be aborted'),
        s.name === PROCEDURE[procedure].pointOfNoReturn,
        `${procedure}/${s.name}: the point of no return, and only it, says so`,
      )
    }
    t.match(steps.at(-1)!.change, /the renewal completes\.$/, `${procedure}: the last step completes it`)
  }
})

t.test('the sentences of the steps that change what messages carry', async (t) => {
  const cases: Array<{ name: string; r: RenewalSubject; step: string; change: string | RegExp }> = [
    {
      name: 'add-alias: a second RecipientInfo',
      r: subject('add-alias'),
      step: 'add-alias',
      change:
        'From now on every message from orders-to-partner carries a RecipientInfo for partner-ag-2027 as well as ' +
        'for partner-ag.',
    },
    {
      name: 'add-alias: the other receivers of the encryptor are named too',
      r: subject('add-alias', { otherRecipients: ['audit-office', 'bank'] }),
      step: 'add-alias',
      change: /for partner-ag-2027 as well as for partner-ag, audit-office and bank\.$/,
    },
    {
      name: 'remove-old-alias: only the new key decrypts',
      r: subject('add-alias'),
      step: 'remove-old-alias',
      change:
        'From now on messages from orders-to-partner carry no RecipientInfo for partner-ag: only partner-ag-2027 ' +
        'can decrypt them.',
    },
    {
      name: 'add-alias add-certificate: messages do not change yet',
      r: subject('add-alias'),
      step: 'add-certificate',
      change: /does not list partner-ag-2027 yet, so messages do not change/,
    },
    {
      name: 'prepared-alias add-certificate: the prepared alias fills',
      r: subject('prepared-alias'),
      step: 'add-certificate',
      change: /already lists, empty and skipped: from now on every message carries a RecipientInfo for partner-ag-2027/,
    },
    {
      name: 'prepared-alias remove-old-certificate: the old alias becomes the next prepared one',
      r: subject('prepared-alias'),
      step: 'remove-old-certificate',
      change: /only partner-ag-2027 can decrypt them\. .*prepared alias of the next renewal/,
    },
    {
      name: 'confirm-receiver-switched: records, and closes the way back',
      r: subject('add-alias'),
      step: 'confirm-receiver-switched',
      change:
        /^Changes nothing .*records that the receiver now decrypts with its new key .*can no longer be aborted\.$/,
    },
    {
      name: 'begin-downtime without a window: Retry-After of a minute',
      r: subject('downtime'),
      step: 'begin-downtime',
      change: /^Pauses orders-to-partner: from now on encrypt answers 503 .*Retry-After of 60 seconds/,
    },
    {
      name: 'begin-downtime with a window: Retry-After at its end',
      r: subject('downtime', { downtime: { start: '2027-01-01T08:00:00.000Z', end: '2027-01-01T09:00:00.000Z' } }),
      step: 'begin-downtime',
      change: /Retry-After pointing at the planned end, 2027-01-01T09:00:00.000Z/,
    },
    {
      name: 'downtime exchange-certificate: still paused',
      r: subject('downtime'),
      step: 'exchange-certificate',
      change: /still paused, so nothing is encrypted/,
    },
    {
      name: 'exchange: the new key under the same alias',
      r: subject('exchange'),
      step: 'exchange-certificate',
      change: /replaces the one under partner-ag .*RecipientInfo for partner-ag under the new key/,
    },
  ]
  for (const c of cases) {
    const change = changeOf(c.r, c.step)
    if (typeof c.change === 'string') t.equal(change, c.change, c.name)
    else t.match(change, c.change, c.name)
  }
})

t.test('abort explained: what it restores before the point of no return, why not after it', async (t) => {
  const cases: Array<{
    name: string
    r: RenewalSubject & { state: 'active' | 'completed' | 'aborted'; done: number }
    allowed: boolean
    explanation: string | RegExp
  }> = [
    {
      name: 'add-alias after add-alias: removes the alias and deletes the certificate',
      r: { ...subject('add-alias'), state: 'active', done: 2 },
      allowed: true,
      explanation:
        'Abort removes partner-ag-2027 from orders-to-partner and deletes the certificate stored under ' +
        'partner-ag-2027; messages go to partner-ag only with the current certificate, as before the renewal.',
    },
    {
      name: 'nothing done yet: changes nothing',
      r: { ...subject('exchange'), state: 'active', done: 0 },
      allowed: true,
      explanation: /^Abort closes the renewal and changes nothing else/,
    },
    {
      name: 'downtime after begin-downtime: lifts the pause',
      r: { ...subject('downtime', { otherRecipients: ['bank'] }), state: 'active', done: 1 },
      allowed: true,
      explanation: /^Abort lifts the pause of orders-to-partner; messages go to partner-ag and bank with/,
    },
    {
      name: 'past the point of no return: refused, as abort would refuse it',
      r: { ...subject('add-alias'), state: 'active', done: 3 },
      allowed: false,
      explanation: /past "confirm-receiver-switched".*Finish the remaining steps instead\./,
    },
    {
      name: 'completed: nothing to abort',
      r: { ...subject('exchange'), state: 'completed', done: 1 },
      allowed: false,
      explanation: 'The renewal is completed; there is nothing to abort.',
    },
    {
      name: 'aborted: nothing to abort',
      r: { ...subject('add-alias'), state: 'aborted', done: 1 },
      allowed: false,
      explanation: 'The renewal is aborted; there is nothing to abort.',
    },
  ]
  for (const c of cases) {
    const abort = explainAbort(c.r)
    t.equal(abort.allowed, c.allowed, `${c.name}: allowed`)
    t.equal(abort.pointOfNoReturn, PROCEDURE[c.r.procedure].pointOfNoReturn, `${c.name}: point of no return`)
    if (typeof c.explanation === 'string') t.equal(abort.explanation, c.explanation, c.name)
    else t.match(abort.explanation, c.explanation, c.name)
  }
})
