import type { Role } from '../auth/tokens.js'
import { Errors } from '../errors.js'

/**
 * The four receiver renewal procedures integration platforms document, and the renewal of our own
 * signing key (signer-key), as data: an ordered table of steps,
 * each with the role that takes it and the effect it has. `nextStep` and `abortPlan` are pure; the
 * renewal service applies the effects they return in one transaction.
 */
export const PROCEDURES = ['exchange', 'add-alias', 'prepared-alias', 'downtime', 'signer-key'] as const
export type Procedure = (typeof PROCEDURES)[number]
/** The procedures that renew a receiver's key (signer-key renews ours). */
export const RECEIVER_PROCEDURES = PROCEDURES.filter((p) => p !== 'signer-key')

export const STEPS = [
  'exchange-certificate',
  'add-certificate',
  'add-alias',
  'confirm-receiver-switched',
  'remove-old-alias',
  'remove-old-certificate',
  'begin-downtime',
  'end-downtime',
  'add-key-pair',
  'hand-over-certificate',
  'confirm-receivers-trust',
  'switch-signer',
  'remove-old-key-pair',
] as const
export type StepName = (typeof STEPS)[number]

/** What a step does to the keystore and the encryptor (aliases as in the renewal). */
export type Effect =
  | { kind: 'replace-certificate'; alias: 'current' } // the new certificate under the current alias
  | { kind: 'store-certificate'; alias: 'new' } // the new certificate under the new alias
  | { kind: 'delete-certificate'; alias: 'current' | 'new' }
  | { kind: 'append-alias'; alias: 'new' }
  | { kind: 'remove-alias'; alias: 'current' | 'new' }
  | { kind: 'pause' }
  | { kind: 'resume' }
  | { kind: 'record' } // nothing changes; the step is a recorded fact (the receiver switched)
  | { kind: 'store-key-pair'; alias: 'new' } // the key pair the step brings, under the new alias
  | { kind: 'delete-key-pair'; alias: 'current' | 'new' }
  | { kind: 'switch-signer'; alias: 'new' } // the encryptor signs with the new alias's key pair

export interface StepDefinition {
  name: StepName
  role: Role
  effect: Effect
}

export interface ProcedureDefinition {
  /** Whether the procedure takes a second alias. */
  newAlias: 'required' | 'refused'
  steps: readonly StepDefinition[]
  /**
   * Abort is possible until this step is done: after it the receiver holds only its new key, so
   * going back would produce messages it cannot decrypt.
   */
  pointOfNoReturn: StepName
}

const step = (name: StepName, role: Role, effect: Effect): StepDefinition => ({ name, role, effect })

export const PROCEDURE: Record<Procedure, ProcedureDefinition> = {
  // The receiver decrypts with its old and new key alike: swap the certificate in one step.
  exchange: {
    newAlias: 'refused',
    steps: [step('exchange-certificate', 'tenant-admin', { kind: 'replace-certificate', alias: 'current' })],
    pointOfNoReturn: 'exchange-certificate',
  },
  // One key at a time, several RecipientInfos accepted: send to both, let the receiver switch, drop the old.
  'add-alias': {
    newAlias: 'required',
    steps: [
      step('add-certificate', 'tenant-admin', { kind: 'store-certificate', alias: 'new' }),
      step('add-alias', 'integration-developer', { kind: 'append-alias', alias: 'new' }),
      step('confirm-receiver-switched', 'tenant-admin', { kind: 'record' }),
      step('remove-old-alias', 'integration-developer', { kind: 'remove-alias', alias: 'current' }),
      step('remove-old-certificate', 'tenant-admin', { kind: 'delete-certificate', alias: 'current' }),
    ],
    pointOfNoReturn: 'confirm-receiver-switched',
  },
  // The encryptor already lists an empty second slot (missingAlias "skip"): fill it, then empty the old one.
  'prepared-alias': {
    newAlias: 'required',
    steps: [
      step('add-certificate', 'tenant-admin', { kind: 'store-certificate', alias: 'new' }),
      step('confirm-receiver-switched', 'tenant-admin', { kind: 'record' }),
      step('remove-old-certificate', 'tenant-admin', { kind: 'delete-certificate', alias: 'current' }),
    ],
    pointOfNoReturn: 'confirm-receiver-switched',
  },
  // One key, one RecipientInfo: pause encrypting while the receiver swaps its key.
  downtime: {
    newAlias: 'refused',
    steps: [
      step('begin-downtime', 'tenant-admin', { kind: 'pause' }),
      step('exchange-certificate', 'tenant-admin', { kind: 'replace-certificate', alias: 'current' }),
      step('end-downtime', 'tenant-admin', { kind: 'resume' }),
    ],
    pointOfNoReturn: 'exchange-certificate',
  },
  // Our own signing key: receivers must trust the new certificate before any message is signed with it.
  'signer-key': {
    newAlias: 'required',
    steps: [
      step('add-key-pair', 'tenant-admin', { kind: 'store-key-pair', alias: 'new' }),
      step('hand-over-certificate', 'tenant-admin', { kind: 'record' }),
      step('confirm-receivers-trust', 'tenant-admin', { kind: 'record' }),
      step('switch-signer', 'integration-developer', { kind: 'switch-signer', alias: 'new' }),
      step('remove-old-key-pair', 'tenant-admin', { kind: 'delete-key-pair', alias: 'current' }),
    ],
    pointOfNoReturn: 'switch-signer',
  },
}

export type RenewalState = 'active' | 'completed' | 'aborted'

/** The part of a renewal the transition functions look at. */
export interface RenewalProgress {
  procedure: Procedure
  state: RenewalState
  /** How many steps are done. */
  done: number
}

export type StepTransition =
  | { kind: 'apply'; step: StepDefinition; progress: RenewalProgress }
  /** The last completed step again: idempotent, nothing changes. */
  | { kind: 'repeat' }

/**
 * Decides whether `stepName` may be taken now by a caller holding `roles`. Checks, in order: the
 * step belongs to the procedure, the caller's role may take it, it is a repeat of the last step
 * (idempotent), the renewal is active, and it is the next step.
 */
export function nextStep(progress: RenewalProgress, stepName: string, roles: readonly Role[]): StepTransition {
  const definition = PROCEDURE[progress.procedure]
  const index = definition.steps.findIndex((s) => s.name === stepName)
  if (index === -1) {
    throw new Errors.STEP_UNKNOWN(
      `The ${progress.procedure} procedure has no step "${stepName}"; ` +
        `its steps are ${definition.steps.map((s) => s.name).join(', ')}.`,
    )
  }
  const step = definition.steps[index]!
  if (!roles.includes(step.role)) {
    throw new Errors.STEP_FORBIDDEN(
      `Step "${step.name}" is taken by the ${step.role} role; this token has ${roles.join(', ')}.`,
    )
  }
  if (index === progress.done - 1) return { kind: 'repeat' }
  if (progress.state !== 'active') {
    throw new Errors.RENEWAL_NOT_ACTIVE(`The renewal is ${progress.state}; no step can be taken.`)
  }
  if (index !== progress.done) {
    const next = definition.steps[progress.done]!
    throw new Errors.STEP_OUT_OF_ORDER(
      `Step "${step.name}" is not next: ` +
        `${index < progress.done ? 'it is already done' : 'earlier steps are not done'}. ` +
        `The next step is "${next.name}", taken by ${next.role}.`,
    )
  }
  const done = index + 1
  return {
    kind: 'apply',
    step,
    progress: { ...progress, done, state: done === definition.steps.length ? 'completed' : 'active' },
  }
}

/** The inverse of an effect taken before the point of no return. */
const INVERSE: Partial<Record<Effect['kind'], (e: Effect) => Effect>> = {
  'store-certificate': () => ({ kind: 'delete-certificate', alias: 'new' }),
  'store-key-pair': () => ({ kind: 'delete-key-pair', alias: 'new' }),
  'append-alias': () => ({ kind: 'remove-alias', alias: 'new' }),
  pause: () => ({ kind: 'resume' }),
  record: () => ({ kind: 'record' }),
}

/** Whether an abort may run now: the effects that undo the steps done, or the refusal to throw. */
export type AbortDecision = { allowed: true; undo: Effect[] } | { allowed: false; refusal: Error }

/**
 * What an abort must undo: the inverses of the steps done, newest first, returning keystore and
 * encryptor to where they were before the renewal. Refused once the point of no return is passed.
 * Decided without throwing, so the renewal view can explain the answer before anyone asks for it.
 */
export function abortDecision(progress: RenewalProgress): AbortDecision {
  const definition = PROCEDURE[progress.procedure]
  if (progress.state !== 'active') {
    const refusal = new Errors.RENEWAL_NOT_ACTIVE(`The renewal is ${progress.state}; there is nothing to abort.`)
    return { allowed: false, refusal }
  }
  const done = definition.steps.slice(0, progress.done)
  if (done.some((s) => s.name === definition.pointOfNoReturn)) {
    const refusal = new Errors.ABORT_REFUSED(
      `The ${progress.procedure} renewal is past "${definition.pointOfNoReturn}": ` +
        (progress.procedure === 'signer-key'
          ? 'messages are signed with the new key now. '
          : 'the receiver holds only its new key now, so restoring the old one would produce messages it cannot ' +
            'decrypt. ') +
        'Finish the remaining steps instead.',
    )
    return { allowed: false, refusal }
  }
  const undo = done.reverse().map((s) => {
    const inverse = INVERSE[s.effect.kind]
    if (!inverse) throw new Error(`no inverse for ${s.effect.kind} before the point of no return`)
    return inverse(s.effect)
  })
  return { allowed: true, undo }
}

/** The effects an abort applies, or the catalogue error that refuses it (see `abortDecision`). */
export function abortPlan(progress: RenewalProgress): Effect[] {
  const decision = abortDecision(progress)
  if (!decision.allowed) throw decision.refusal
  return decision.undo
}

/** The next step and its role, or null when the renewal is over. */
export function pendingStep(progress: RenewalProgress): { step: StepName; role: Role } | null {
  if (progress.state !== 'active') return null
  const next = PROCEDURE[progress.procedure].steps[progress.done]
  return next ? { step: next.name, role: next.role } : null
}
