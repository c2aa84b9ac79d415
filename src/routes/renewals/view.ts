import { describeSteps, explainAbort } from '../../renewals/describe.js'
import { pendingStep, PROCEDURE } from '../../renewals/procedures.js'
import type { RenewalDetails } from '../../renewals/service.js'

export function renewalView(r: RenewalDetails) {
  const progress = { procedure: r.procedure, state: r.state, done: r.done }
  const next = pendingStep(progress)
  const changes = describeSteps(r)
  return {
    id: r.id,
    procedure: r.procedure,
    encryptorId: r.encryptorId,
    currentAlias: r.currentAlias,
    newAlias: r.newAlias,
    state: r.state,
    steps: PROCEDURE[r.procedure].steps.map((s, i) => {
      const log = i < r.done ? r.stepLog[i] : undefined
      return {
        name: s.name,
        role: s.role,
        change: changes[i]!.change,
        status: i < r.done ? ('done' as const) : next?.step === s.name ? ('next' as const) : ('pending' as const),
        ...(log ? { at: log.at, by: log.by, ...(log.comment ? { comment: log.comment } : {}) } : {}),
      }
    }),
    next,
    abort: explainAbort(r),
    recipients: r.recipients,
    paused: r.paused,
    certificate: {
      subject: r.parsedCertificate.subject,
      notAfter: r.parsedCertificate.notAfter.toISOString(),
      sha256Fingerprint: r.parsedCertificate.sha256Fingerprint,
    },
    downtime: r.downtime,
    createdBy: r.createdBy,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  }
}
