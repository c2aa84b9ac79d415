import type { Kysely } from 'kysely'
import { randomUUID } from 'node:crypto'
import { recordAudit, recordMutation, type Actor, type MutationContext } from '../audit/audit.js'
import type { Role } from '../auth/tokens.js'
import type { ReceiverCertificate } from '../cms/certificate.js'
import { validateCertificateUpload } from '../cms/pem.js'
import { encryptorAliasUsers } from '../encryptors/alias-users.js'
import { saveEncryptor, setEncryptorPause } from '../encryptors/mutations.js'
import { encryptorRepository } from '../encryptors/repository.js'
import { describeEncryptor, findEncryptor } from '../encryptors/service.js'
import { Errors } from '../errors.js'
import type { KeyPairUpload } from '../cms/key-pair.js'
import { keyAlgorithmOf, signerDefaults } from '../cms/signature-algorithms.js'
import { parseKeyPairUpload } from '../cms/key-pair.js'
import type { KeyEncryptionKeys } from '../keystore/key-encryption-key.js'
import { deleteKeyPair, storeKeyPair } from '../keystore/key-pair-mutations.js'
import { deleteCertificate, storeCertificate } from '../keystore/mutations.js'
import { signerCertificate } from '../store/signer-certificates.js'
import type { ChangeFeed } from '../store/changes.js'
import { loadCertificates, presentAliases } from '../store/receiver-certificates.js'
import type { Database, Executor } from '../store/schema.js'
import { transact } from '../store/transact.js'
import { publishAborted, publishStarted, publishStep } from './events.js'
import { abortPlan, nextStep, type Effect, type RenewalState } from './procedures.js'
import { newCertificateOf, renewalRepository, type Renewal } from './repository.js'
import { validateSignerCertificateUpload } from './signer-start.js'
import { checkStartInput, checkStartPreconditions, type StartRenewal } from './start-checks.js'

/** What a step may bring besides a comment: the add-key-pair step of signer-key brings the new key pair. */
export interface StepInput {
  comment?: string
  keyPair?: KeyPairUpload
}

export interface RenewalDetails extends Renewal {
  parsedCertificate: ReceiverCertificate
  /** The aliases the encryptor encrypts for right now (none while paused). */
  recipients: string[]
  /**
   * The aliases besides the renewal's own that the encryptor lists and the keystore holds (pause
   * aside): the receivers every message goes to whatever the renewal does.
   */
  otherRecipients: string[]
  paused: boolean
}

/**
 * Carries out renewal procedures: every step's keystore/encryptor change, the renewal's progress and
 * the audit records commit in one transaction, or none of them do.
 */
export class RenewalService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly changes: ChangeFeed,
    /** Seals the key pair a signer-key renewal's add-key-pair step stores. */
    private readonly keys?: KeyEncryptionKeys,
  ) {}

  async list(filter: { state?: RenewalState; encryptorId?: string }): Promise<RenewalDetails[]> {
    const renewals = await renewalRepository.list(this.db, filter)
    return Promise.all(renewals.map((r) => this.describe(this.db, r)))
  }

  async get(id: string): Promise<RenewalDetails> {
    return this.describe(this.db, await this.find(this.db, id))
  }

  /** Checks every precondition, in order, before anything is stored; then records the renewal. */
  async start(input: StartRenewal, actor: Actor): Promise<RenewalDetails> {
    checkStartInput(input)
    const certificate =
      input.procedure === 'signer-key'
        ? validateSignerCertificateUpload(input.certificate)
        : validateCertificateUpload(input.certificate)

    const renewal = await transact(this.db, this.changes, async (ctx) => {
      const { tx } = ctx
      const encryptor = await checkStartPreconditions(tx, input, certificate)
      const { currentAlias, newAlias } = input
      const at = new Date().toISOString()
      const renewal: Renewal = {
        id: randomUUID(),
        procedure: input.procedure,
        encryptorId: encryptor.id,
        currentAlias,
        newAlias: newAlias ?? null,
        state: 'active',
        done: 0,
        stepLog: [],
        certificate: certificate.der,
        certificateFingerprint: certificate.sha256Fingerprint,
        downtime: input.downtime ?? null,
        createdBy: actor.name,
        createdAt: at,
        updatedAt: at,
      }
      await renewalRepository.insert(tx, renewal)
      const auditRecordId = await recordAudit(ctx, actor, {
        action: 'renewal.start',
        target: `renewals/${renewal.id}`,
        renewalId: renewal.id,
        after: {
          procedure: renewal.procedure,
          encryptorId: encryptor.id,
          currentAlias,
          newAlias: renewal.newAlias,
          sha256Fingerprint: certificate.sha256Fingerprint,
        },
      })
      await publishStarted(ctx, renewal, actor, auditRecordId)
      return renewal
    })
    return this.get(renewal.id)
  }

  /**
   * Takes one step: applies its effect, records the progress (compare-and-set on the steps done) and
   * the audit record together. Repeating the last completed step answers the same state, changing nothing.
   * `roles` are all the token's roles; the step is recorded (audit, step log) under the one it requires.
   */
  async step(
    id: string,
    stepName: string,
    roles: readonly Role[],
    actor: Actor,
    input: StepInput = {},
  ): Promise<{ renewal: RenewalDetails; repeated: boolean }> {
    const { comment, keyPair } = input
    const repeated = await transact(this.db, this.changes, async (ctx) => {
      const renewal = await this.find(ctx.tx, id)
      const transition = nextStep(
        { procedure: renewal.procedure, state: renewal.state, done: renewal.done },
        stepName,
        roles,
      )
      if (transition.kind === 'repeat') return true
      const bringsKeyPair = transition.step.effect.kind === 'store-key-pair'
      if (bringsKeyPair !== (keyPair !== undefined)) {
        throw new Errors.RENEWAL_INVALID(
          bringsKeyPair
            ? `Step "${stepName}" stores the new key pair: send it as "keyPair" ({"privateKey", "certificateChain"} ` +
                'or {"pkcs12", "password"}).'
            : `Step "${stepName}" takes no key pair; only a signer-key renewal's add-key-pair step does.`,
        )
      }
      // The step's role, not whichever of the token's roles the route matched first: a token with
      // both tenant-admin and integration-developer takes add-alias as the developer.
      const stepActor: Actor = { name: actor.name, role: transition.step.role }
      const mutation: MutationContext = { ...ctx, actor: stepActor, renewalId: id, comment }
      await this.apply(mutation, renewal, transition.step.effect, keyPair)
      const advanced: Renewal = {
        ...renewal,
        state: transition.progress.state,
        done: transition.progress.done,
        updatedAt: new Date().toISOString(),
        stepLog: [
          ...renewal.stepLog,
          {
            name: transition.step.name,
            at: new Date().toISOString(),
            by: stepActor.name,
            role: stepActor.role,
            ...(comment ? { comment } : {}),
          },
        ],
      }
      if (advanced.state === 'completed') await this.checkNothingExpiresSooner(ctx.tx, advanced)
      const auditRecordId = await this.recordProgress(mutation, renewal, advanced, 'renewal.step', {
        step: transition.step.name,
        done: advanced.done,
        state: advanced.state,
      })
      await publishStep(ctx, advanced, transition.step, stepActor, auditRecordId, comment)
      return false
    })
    return { renewal: await this.get(id), repeated }
  }

  /** Rolls keystore and encryptor back to where they were before the renewal, until its point of no return. */
  async abort(id: string, actor: Actor, comment?: string): Promise<RenewalDetails> {
    await transact(this.db, this.changes, async (ctx) => {
      const renewal = await this.find(ctx.tx, id)
      const effects = abortPlan({ procedure: renewal.procedure, state: renewal.state, done: renewal.done })
      const mutation: MutationContext = { ...ctx, actor, renewalId: id, comment }
      for (const effect of effects) await this.apply(mutation, renewal, effect)
      const aborted: Renewal = { ...renewal, state: 'aborted', updatedAt: new Date().toISOString() }
      const undone = effects.map((e) => e.kind)
      const auditRecordId = await this.recordProgress(mutation, renewal, aborted, 'renewal.abort', {
        state: 'aborted',
        undone,
      })
      await publishAborted(ctx, aborted, undone, actor, auditRecordId, comment)
    })
    return this.get(id)
  }

  /**
   * Records the renewal's new state only if nobody else did since it was read (compare-and-set on the
   * steps done: of two requests taking the same step, exactly one wins), with its audit record.
   */
  private async recordProgress(
    ctx: MutationContext,
    before: Renewal,
    after: Renewal,
    action: 'renewal.step' | 'renewal.abort',
    audited: Record<string, unknown>,
  ): Promise<number> {
    if (!(await renewalRepository.advance(ctx.tx, after, before.done))) {
      throw new Errors.STEP_OUT_OF_ORDER(
        `Another request took a step of renewal ${before.id} at the same time; read its state and retry.`,
      )
    }
    return recordMutation(ctx, {
      action,
      target: `renewals/${before.id}`,
      before: { done: before.done, state: before.state },
      after: audited,
    })
  }

  /** Carries out one effect with the same mutations the keystore and encryptor endpoints use. */
  private async apply(ctx: MutationContext, renewal: Renewal, effect: Effect, keyPair?: KeyPairUpload): Promise<void> {
    const alias = (which: 'current' | 'new') => (which === 'current' ? renewal.currentAlias : renewal.newAlias!)
    switch (effect.kind) {
      case 'replace-certificate':
      case 'store-certificate':
        await storeCertificate(ctx, encryptorAliasUsers, alias(effect.alias), newCertificateOf(renewal))
        return
      case 'delete-certificate':
        await deleteCertificate(ctx, encryptorAliasUsers, alias(effect.alias))
        return
      case 'append-alias':
      case 'remove-alias': {
        const encryptor = await findEncryptor(ctx.tx, renewal.encryptorId)
        const target = alias(effect.alias)
        const receiverAliases =
          effect.kind === 'append-alias'
            ? [...encryptor.receiverAliases.filter((a) => a !== target), target]
            : encryptor.receiverAliases.filter((a) => a !== target)
        await saveEncryptor(
          ctx,
          encryptor.id,
          encryptor,
          { ...encryptor, receiverAliases },
          effect.kind === 'append-alias' ? 'encryptor.alias.add' : 'encryptor.alias.remove',
        )
        return
      }
      case 'pause':
        await setEncryptorPause(ctx, renewal.encryptorId, {
          renewalId: renewal.id,
          until: renewal.downtime?.end ?? null,
        })
        return
      case 'resume':
        await setEncryptorPause(ctx, renewal.encryptorId, null)
        return
      case 'record':
        return
      case 'store-key-pair': {
        if (!this.keys) throw new Error('this renewal service was given no key-encryption keys')
        const pair = parseKeyPairUpload(keyPair!, new Date(), alias(effect.alias))
        if (pair.certificate.sha256Fingerprint !== renewal.certificateFingerprint) {
          throw new Errors.RENEWAL_INVALID(
            "The key pair's certificate is not the one this renewal announced (SHA-256 " +
              `${renewal.certificateFingerprint}); send the key pair of that certificate.`,
          )
        }
        await storeKeyPair(ctx, encryptorAliasUsers, this.keys, alias(effect.alias), pair)
        return
      }
      case 'delete-key-pair':
        await deleteKeyPair(ctx, alias(effect.alias))
        return
      case 'switch-signer':
        await this.switchSigner(ctx, renewal, alias(effect.alias))
        return
    }
  }

  /**
   * Signs with the key pair under `alias` from now on, the one the renewal announced (still there:
   * only the renewal's steps change its aliases). A scheme the new key cannot use becomes that key's
   * default; digest, certificates and identifier stay.
   */
  private async switchSigner(ctx: MutationContext, renewal: Renewal, alias: string): Promise<void> {
    const certificate = await signerCertificate(ctx.tx, alias)
    if (certificate?.sha256Fingerprint !== renewal.certificateFingerprint) {
      throw new Errors.RENEWAL_PRECONDITION(`The key pair under "${alias}" is not the one this renewal stored.`)
    }
    const encryptor = await findEncryptor(ctx.tx, renewal.encryptorId)
    const current = encryptor.signer!
    const keyAlgorithm = certificate.publicKey.algorithm
    const signature =
      keyAlgorithmOf(current.signature) === keyAlgorithm ? current.signature : signerDefaults(keyAlgorithm).signature
    await saveEncryptor(
      ctx,
      encryptor.id,
      encryptor,
      { ...encryptor, signer: { ...current, alias, signature } },
      'encryptor.signer.switch',
    )
  }

  /** A completed renewal leaves no alias of its receiver in use whose certificate ends before the new one. */
  private async checkNothingExpiresSooner(tx: Executor, renewal: Renewal): Promise<void> {
    const encryptor = await findEncryptor(tx, renewal.encryptorId)
    const newCertificate = newCertificateOf(renewal)
    const aliases = [renewal.currentAlias, renewal.newAlias].filter(
      (a): a is string => a !== null && encryptor.receiverAliases.includes(a),
    )
    for (const [alias, cert] of await loadCertificates(tx, aliases)) {
      if (cert.notAfter < newCertificate.notAfter) {
        throw new Errors.RENEWAL_PRECONDITION(
          `Alias "${alias}" is still in use with a certificate that expires before the new one; ` +
            'the renewal cannot complete.',
        )
      }
    }
  }

  private async find(db: Executor, id: string): Promise<Renewal> {
    const renewal = await renewalRepository.find(db, id)
    if (!renewal) throw new Errors.RENEWAL_NOT_FOUND(id)
    return renewal
  }

  private async describe(db: Executor, renewal: Renewal): Promise<RenewalDetails> {
    // A completed renewal outlives its encryptor, which may be deleted later.
    const found = await encryptorRepository.find(db, renewal.encryptorId)
    const encryptor = found && (await describeEncryptor(db, found))
    const present = found ? await presentAliases(db, found.receiverAliases) : new Set<string>()
    const own = [renewal.currentAlias, renewal.newAlias]
    return {
      ...renewal,
      parsedCertificate: newCertificateOf(renewal),
      recipients: encryptor?.recipients ?? [],
      otherRecipients: (found?.receiverAliases ?? []).filter((a) => present.has(a) && !own.includes(a)),
      paused: encryptor?.pause != null,
    }
  }
}
