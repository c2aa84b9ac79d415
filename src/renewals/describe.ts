import {
  abortDecision,
  PROCEDURE,
  type Effect,
  type Procedure,
  type RenewalState,
  type StepName,
} from './procedures.js'

/**
 * Sentences for people: what each step of a renewal changes, named with the renewal's real aliases,
 * and what an abort would do now. Pure, so the console shows what the API answers and tests read it.
 */
export interface RenewalSubject {
  procedure: Procedure
  encryptorId: string
  currentAlias: string
  newAlias: string | null
  /**
   * The other aliases the encryptor encrypts for, besides the renewal's two (pause aside): the
   * RecipientInfos every message carries whatever the renewal does.
   */
  otherRecipients: readonly string[]
  downtime: { start: string; end: string } | null
}

/** "a", "a and b", "a, b and c". */
function names(aliases: readonly string[]): string {
  if (aliases.length <= 1) return aliases.join('')
  return `${aliases.slice(0, -1).join(', ')} and ${aliases.at(-1)}`
}

type Sentence = (r: RenewalSubject & { newAlias: string }) => string

const confirmSwitched: Sentence = (r) =>
  `Changes nothing in the keystore or in ${r.encryptorId}: records that the receiver now decrypts with its new ` +
  `key (${r.newAlias}) and no longer holds the key of ${r.currentAlias}.`

const exchangeCertificate =
  (paused: boolean): Sentence =>
  (r) =>
    `The new certificate replaces the one under ${r.currentAlias} (the old one stays in the entry's history). ` +
    (paused
      ? `${r.encryptorId} is still paused, so nothing is encrypted until the downtime ends.`
      : `From now on every message from ${r.encryptorId} carries its RecipientInfo for ${r.currentAlias} ` +
        'under the new key, so the receiver decrypts it with its new key.')

/**
 * One sentence per step of each procedure. Steps without a new alias get the current one in its
 * place (never read: those procedures refuse a new alias).
 */
const CHANGES: { [P in Procedure]: Partial<Record<StepName, Sentence>> } = {
  exchange: { 'exchange-certificate': exchangeCertificate(false) },
  'add-alias': {
    'add-certificate': (r) =>
      `Stores the new certificate under ${r.newAlias}. ${r.encryptorId} does not list ${r.newAlias} yet, so ` +
      `messages do not change: they carry a RecipientInfo for ${names([r.currentAlias, ...r.otherRecipients])} only.`,
    'add-alias': (r) =>
      `From now on every message from ${r.encryptorId} carries a RecipientInfo for ${r.newAlias} as well as ` +
      `for ${names([r.currentAlias, ...r.otherRecipients])}.`,
    'confirm-receiver-switched': confirmSwitched,
    'remove-old-alias': (r) =>
      `From now on messages from ${r.encryptorId} carry no RecipientInfo for ${r.currentAlias}: only ` +
      `${names([r.newAlias, ...r.otherRecipients])} can decrypt them.`,
    'remove-old-certificate': (r) =>
      `Deletes the certificate under ${r.currentAlias} (it stays in the entry's history). ${r.encryptorId} no ` +
      `longer lists ${r.currentAlias}, so messages do not change.`,
  },
  'prepared-alias': {
    'add-certificate': (r) =>
      `Stores the new certificate under ${r.newAlias}, which ${r.encryptorId} already lists, empty and skipped: ` +
      `from now on every message carries a RecipientInfo for ${r.newAlias} as well as for ` +
      `${names([r.currentAlias, ...r.otherRecipients])}.`,
    'confirm-receiver-switched': confirmSwitched,
    'remove-old-certificate': (r) =>
      `Deletes the certificate under ${r.currentAlias} (it stays in the entry's history): from now on messages ` +
      `carry no RecipientInfo for ${r.currentAlias}, only ${names([r.newAlias, ...r.otherRecipients])} can ` +
      `decrypt them. ${r.encryptorId} still lists ${r.currentAlias}, now empty and skipped: the prepared ` +
      'alias of the next renewal.',
  },
  downtime: {
    'begin-downtime': (r) =>
      `Pauses ${r.encryptorId}: from now on encrypt answers 503 CMS_ENCRYPTOR_PAUSED with Retry-After ` +
      (r.downtime ? `pointing at the planned end, ${r.downtime.end}` : 'of 60 seconds (no window was planned)') +
      `, and no message is encrypted for ${names([r.currentAlias, ...r.otherRecipients])} while the receiver ` +
      'swaps its key.',
    'exchange-certificate': exchangeCertificate(true),
    'end-downtime': (r) =>
      `Resumes ${r.encryptorId}: encrypt answers again, and every message carries its RecipientInfo for ` +
      `${r.currentAlias} under the new key.`,
  },
  'signer-key': {
    'add-key-pair': (r) =>
      `Stores the new key pair (its private key sealed) under ${r.newAlias}; it must be the key of the certificate ` +
      `this renewal announced. ${r.encryptorId} still signs with ${r.currentAlias}, so messages do not change.`,
    'hand-over-certificate': (r) =>
      `Changes nothing: records that the certificate of ${r.newAlias} (GET /keystore/key-pairs/${r.newAlias}/` +
      'certificate) was handed to every receiver, for them to add to the certificates they trust.',
    'confirm-receivers-trust': (r) =>
      `Changes nothing: records that every receiver of ${r.encryptorId} trusts the certificate of ${r.newAlias} ` +
      `beside the one of ${r.currentAlias}, so a message signed with either verifies.`,
    'switch-signer': (r) =>
      `From now on every message from ${r.encryptorId} is signed with the key pair under ${r.newAlias} ` +
      `instead of ${r.currentAlias}.`,
    'remove-old-key-pair': (r) =>
      `Deletes the key pair under ${r.currentAlias}: its private key is gone, its certificate stays in the ` +
      `entry's history. ${r.encryptorId} no longer signs with it, so messages do not change.`,
  },
}

/** What taking each step of the renewal's procedure changes, in step order. */
export function describeSteps(r: RenewalSubject): Array<{ name: StepName; change: string }> {
  const definition = PROCEDURE[r.procedure]
  const subject = { ...r, newAlias: r.newAlias ?? r.currentAlias }
  return definition.steps.map((s, i) => {
    const sentence = CHANGES[r.procedure][s.name]
    if (!sentence) throw new Error(`no description for ${r.procedure}/${s.name}`)
    let change = sentence(subject)
    if (s.name === definition.pointOfNoReturn) change += ' After this step the renewal can no longer be aborted.'
    if (i === definition.steps.length - 1) change += ' It is the last step: the renewal completes.'
    return { name: s.name, change }
  })
}

export interface AbortExplanation {
  allowed: boolean
  pointOfNoReturn: StepName
  explanation: string
}

/** What an abort undoes, in the renewal's terms (the inverse effects of the steps done). */
function undone(effect: Effect, r: RenewalSubject): string | null {
  const alias = 'alias' in effect ? (effect.alias === 'new' ? r.newAlias : r.currentAlias) : null
  switch (effect.kind) {
    case 'delete-certificate':
      return `deletes the certificate stored under ${alias}`
    case 'remove-alias':
      return `removes ${alias} from ${r.encryptorId}`
    case 'resume':
      return `lifts the pause of ${r.encryptorId}`
    case 'delete-key-pair':
      return `deletes the key pair stored under ${alias}`
    default:
      return null // a recorded fact has nothing to undo
  }
}

/**
 * Whether the renewal can be aborted now and what that would do, or why not: the decision is
 * abortPlan's (`abortDecision`), only put into words here.
 */
export function explainAbort(r: RenewalSubject & { state: RenewalState; done: number }): AbortExplanation {
  const pointOfNoReturn = PROCEDURE[r.procedure].pointOfNoReturn
  const decision = abortDecision(r)
  if (!decision.allowed) return { allowed: false, pointOfNoReturn, explanation: decision.refusal.message }
  const undo = decision.undo.map((e) => undone(e, r)).filter((s): s is string => s !== null)
  const recipients = names([r.currentAlias, ...r.otherRecipients])
  const restored =
    r.procedure === 'signer-key'
      ? `messages are signed with ${r.currentAlias}, as before the renewal.`
      : `messages go to ${recipients}${r.otherRecipients.length === 0 ? ' only' : ''} with the current ` +
        'certificate, as before the renewal.'
  const explanation =
    undo.length === 0
      ? `Abort closes the renewal and changes nothing else: no step has changed the keystore or ${r.encryptorId} ` +
        `yet, so ${restored}`
      : `Abort ${names(undo)}; ${restored}`
  return { allowed: true, pointOfNoReturn, explanation }
}
