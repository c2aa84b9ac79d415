import type { Actor } from '../audit/audit.js'
import type { WriteContext } from '../store/transact.js'
import { publishEvent } from '../webhooks/outbox.js'
import type { WaitingRenewal } from '../webhooks/timed-events.js'
import { PROCEDURE, pendingStep, type StepDefinition } from './procedures.js'
import type { Renewal } from './repository.js'

/**
 * The webhook events of a renewal, written in the transaction of its start, step or abort. Each names
 * the step that is next and the role that must take it, so a ticket or chat message can say whose turn
 * it is. All of a renewal's events share one ordering key: a subscriber receives them in order.
 */
const about = (r: Renewal) => ({
  renewalId: r.id,
  procedure: r.procedure,
  encryptorId: r.encryptorId,
  currentAlias: r.currentAlias,
  newAlias: r.newAlias,
})

const next = (r: Renewal) => {
  const pending = pendingStep({ procedure: r.procedure, state: r.state, done: r.done })
  return pending && { step: pending.step, role: pending.role }
}

const orderingKey = (r: Renewal) => `renewals/${r.id}`

export async function publishStarted(ctx: WriteContext, r: Renewal, actor: Actor, auditRecordId: number) {
  await publishEvent(ctx, {
    type: 'renewal.started',
    orderingKey: orderingKey(r),
    data: {
      ...about(r),
      sha256Fingerprint: r.certificateFingerprint,
      downtime: r.downtime,
      by: actor.name,
      steps: PROCEDURE[r.procedure].steps.map((s) => ({ step: s.name, role: s.role })),
      nextStep: next(r),
      auditRecordId,
    },
  })
}

/** `renewal.step-completed`, and `renewal.completed` after it when the step was the last. */
export async function publishStep(
  ctx: WriteContext,
  r: Renewal,
  step: StepDefinition,
  actor: Actor,
  auditRecordId: number,
  comment?: string,
) {
  const total = PROCEDURE[r.procedure].steps.length
  await publishEvent(ctx, {
    type: 'renewal.step-completed',
    orderingKey: orderingKey(r),
    data: {
      ...about(r),
      step: { step: step.name, role: step.role, by: actor.name, comment: comment ?? null },
      done: r.done,
      total,
      nextStep: next(r),
      auditRecordId,
    },
  })
  if (r.state === 'completed') {
    await publishEvent(ctx, {
      type: 'renewal.completed',
      orderingKey: orderingKey(r),
      data: { ...about(r), sha256Fingerprint: r.certificateFingerprint, by: actor.name, auditRecordId },
    })
  }
}

export async function publishAborted(
  ctx: WriteContext,
  r: Renewal,
  undone: string[],
  actor: Actor,
  auditRecordId: number,
  comment?: string,
) {
  await publishEvent(ctx, {
    type: 'renewal.aborted',
    orderingKey: orderingKey(r),
    data: { ...about(r), done: r.done, undone, by: actor.name, comment: comment ?? null, auditRecordId },
  })
}

/** The scheduler's view of an active renewal: what it waits on and since when (`renewal.waiting`). */
export function waitingOf(r: Renewal): WaitingRenewal | null {
  const pending = next(r)
  if (!pending) return null
  return {
    id: r.id,
    procedure: r.procedure,
    encryptorId: r.encryptorId,
    done: r.done,
    since: r.updatedAt,
    waitingFor: pending,
  }
}
