import t from 'tap'
import type { Role } from '../../src/auth/tokens.js'
import { abortPlan, nextStep, PROCEDURE, PROCEDURES, type RenewalProgress } from '../../src/renewals/procedures.js'

const ALL_ROLES: Role[] = ['tenant-admin', 'integration-developer', 'integration-flow', 'monitor']

t.test('each procedure walks its steps in order, with the right role, to completion', async (t) => {
  for (const procedure of PROCEDURES) {
    let progress: RenewalProgress = { procedure, state: 'active', done: 0 }
    for (const step of PROCEDURE[procedure].steps) {
      for (const role of ALL_ROLES.filter((r) => r !== step.role)) {
        t.throws(
          () => nextStep(progress, step.name, [role]),
          { code: 'CMS_STEP_FORBIDDEN' },
          `${procedure}/${step.name}: ${role} may not`,
        )
      }
      const later = PROCEDURE[procedure].steps[progress.done + 1]
      if (later)
        t.throws(
          () => nextStep(progress, later.name, [later.role]),
          { code: 'CMS_STEP_OUT_OF_ORDER' },
          `${procedure}: ${later.name} before ${step.name}`,
        )
      const transition = nextStep(progress, step.name, [step.role])
      if (transition.kind !== 'apply') throw new Error('expected apply')
      progress = transition.progress
      t.same(
        nextStep(progress, step.name, [step.role]),
        { kind: 'repeat' },
        `${procedure}/${step.name} repeated is idempotent`,
      )
    }
    t.equal(progress.state, 'completed', `${procedure} completes`)
    t.throws(() => abortPlan(progress), { code: 'CMS_RENEWAL_NOT_ACTIVE' })
    const first = PROCEDURE[procedure].steps[0]!
    if (PROCEDURE[procedure].steps.length > 1)
      t.throws(() => nextStep(progress, first.name, [first.role]), { code: 'CMS_RENEWAL_NOT_ACTIVE' })
  }
})

t.test('an unknown step names the steps of the procedure', async (t) => {
  t.throws(() => nextStep({ procedure: 'exchange', state: 'active', done: 0 }, 'add-alias', ['tenant-admin']), {
    code: 'CMS_STEP_UNKNOWN',
    message: /exchange-certificate/,
  })
})

t.test('abort undoes the steps done, newest first, until the point of no return', async (t) => {
  const cases: Array<[RenewalProgress, string[] | string]> = [
    [{ procedure: 'add-alias', state: 'active', done: 0 }, []],
    [{ procedure: 'add-alias', state: 'active', done: 1 }, ['delete-certificate']],
    [{ procedure: 'add-alias', state: 'active', done: 2 }, ['remove-alias', 'delete-certificate']],
    [{ procedure: 'add-alias', state: 'active', done: 3 }, 'CMS_ABORT_REFUSED'],
    [{ procedure: 'prepared-alias', state: 'active', done: 1 }, ['delete-certificate']],
    [{ procedure: 'prepared-alias', state: 'active', done: 2 }, 'CMS_ABORT_REFUSED'],
    [{ procedure: 'downtime', state: 'active', done: 1 }, ['resume']],
    [{ procedure: 'downtime', state: 'active', done: 2 }, 'CMS_ABORT_REFUSED'],
    [{ procedure: 'exchange', state: 'active', done: 0 }, []],
    [{ procedure: 'exchange', state: 'aborted', done: 0 }, 'CMS_RENEWAL_NOT_ACTIVE'],
  ]
  for (const [progress, expected] of cases) {
    const label = `${progress.procedure} after ${progress.done} step(s), ${progress.state}`
    if (typeof expected === 'string') t.throws(() => abortPlan(progress), { code: expected }, label)
    else
      t.same(
        abortPlan(progress).map((e) => e.kind),
        expected,
        label,
      )
  }
})
