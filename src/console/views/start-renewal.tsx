import { useEffect, useState } from 'preact/hooks'
import { call, get } from '../api'
import type { ViewProps } from '../app'
import { CertificateInput, type CertificateUpload } from '../certificate-input'
import { keyPairRows, loadEncryptors, loadKeyPairs, loadKeystore } from '../data'
import { href, navigate } from '../route'
import { RECEIVER_PROCEDURES, type Advice, type ReceiverProcedure, type Renewal } from '../types'
import { Field, ProblemBox, RoleBadge, useAction, useLoad } from '../ui'
import { StartSignerRenewal } from './start-signer'

type Answers = Record<string, boolean>

const adviceQuery = (answers: Answers) =>
  new URLSearchParams(Object.entries(answers).map(([k, v]) => [k, String(v)])).toString()

/** A datetime-local value (the person's local time) as an ISO instant, or undefined when empty. */
const instant = (local: string) => (local ? new Date(local).toISOString() : undefined)

/**
 * Start a renewal as a short wizard: which encryptor and alias, then the service's questions that
 * decide the procedure (GET /renewals/advice), then the new alias and certificate it needs. Or, chosen
 * first, the renewal of our own signing key (signer-key), which asks nothing about the receiver.
 * #/start/<encryptor>/<alias> pre-fills the first part (a key pair's alias chooses our signing key).
 */
export function StartRenewalView({ can, params }: ViewProps) {
  const context = useLoad(async () => {
    const [encryptors, keystore, keyPairs] = await Promise.all([loadEncryptors(), loadKeystore(), loadKeyPairs()])
    return {
      encryptors,
      aliases: new Set(keystore.entries.map((e) => e.alias)),
      keyPairs: keyPairRows(keyPairs, encryptors, keystore.warningDays),
      warningDays: keystore.warningDays,
    }
  }, [])
  const [kind, setKind] = useState<'receiver' | 'signer'>('receiver')
  const [encryptorId, setEncryptorId] = useState(params[0] ?? '')
  const [currentAlias, setCurrentAlias] = useState(params[1] ?? '')
  const [answers, setAnswers] = useState<Answers>({})
  const [advice, setAdvice] = useState<Advice | null>(null)
  // The text of each question asked, to show it again beside its answer.
  const [asked, setAsked] = useState<Record<string, string>>({})
  const [procedure, setProcedure] = useState<ReceiverProcedure | ''>('')
  const [newAlias, setNewAlias] = useState('')
  const [upload, setUpload] = useState<CertificateUpload | null>(null)
  const [start, setStart] = useState('')
  const [end, setEnd] = useState('')
  const asking = useAction()
  const starting = useAction()

  // #/start/<encryptor>/<key pair>: the link of a key pair renews our signing key.
  useEffect(() => {
    if (params[1] && context.data?.keyPairs.some((k) => k.alias === params[1])) setKind('signer')
  }, [context.data, params[1]])

  const encryptor = context.data?.encryptors.find((e) => e.id === encryptorId)
  // Aliases the encryptor lists without a certificate: prepared second slots (missingAlias "skip").
  const prepared = encryptor
    ? encryptor.receiverAliases.filter((a) => !context.data!.aliases.has(a) && encryptor.missingAlias === 'skip')
    : []

  useEffect(() => {
    asking.run(async () => {
      const a = await get<Advice>(`/renewals/advice?${adviceQuery(answers)}`)
      setAdvice(a)
      if (a.question) setAsked((q) => ({ ...q, [a.question!.id]: a.question!.text }))
      setProcedure(a.recommendation ? a.recommendation.procedure : '')
    })
    // asking is a fresh object each render; the answers decide what to ask.
  }, [adviceQuery(answers)])

  // A new alias is suggested once per procedure: the prepared slot, or the current alias with a year.
  useEffect(() => {
    if (procedure === 'prepared-alias') setNewAlias(prepared[0] ?? '')
    else if (procedure === 'add-alias' && currentAlias) setNewAlias(`${currentAlias}-${new Date().getFullYear() + 1}`)
    else setNewAlias('')
  }, [procedure, currentAlias, prepared.join(',')])

  // An answer changes the path: the questions after it are asked again.
  const answersBefore = (question: string): Answers => {
    const kept: Answers = {}
    for (const [k, v] of Object.entries(answers)) {
      if (k === question) break
      kept[k] = v
    }
    return kept
  }
  const answer = (question: string, value: boolean) => setAnswers({ ...answersBefore(question), [question]: value })
  const needsNewAlias = procedure === 'add-alias' || procedure === 'prepared-alias'

  const submit = async (e: Event) => {
    e.preventDefault()
    const body = {
      procedure,
      encryptorId,
      currentAlias,
      ...(needsNewAlias ? { newAlias: newAlias.trim() } : {}),
      certificate: upload?.pem ?? '',
      ...(procedure === 'downtime' && start && end ? { downtime: { start: instant(start), end: instant(end) } } : {}),
    }
    const answerOf = await starting.run(() => call<Renewal>('/renewals', { method: 'POST', json: body }))
    if (answerOf) navigate('renewals', answerOf.data.id)
  }

  if (!can.startsRenewals) {
    return (
      <section>
        <h1 tabIndex={-1}>Start a renewal</h1>
        <p>Only a tenant-admin token starts renewals.</p>
      </section>
    )
  }
  return (
    <section>
      <h1 tabIndex={-1}>Start a renewal</h1>
      <p>
        <a href={href('renewals')}>Back to the renewals</a>
      </p>
      {/* The form is there at once (its lists fill in when loaded), so nothing moves when data arrives. */}
      <ProblemBox problem={context.problem} />
      <fieldset class="choice wizard-kind">
        <legend>What needs renewing?</legend>
        <label>
          <input type="radio" name="wz-kind" checked={kind === 'receiver'} onChange={() => setKind('receiver')} /> A
          receiver's key: its new certificate
        </label>
        <label>
          <input type="radio" name="wz-kind" checked={kind === 'signer'} onChange={() => setKind('signer')} /> Our own
          signing key: the key pair that signs
        </label>
      </fieldset>
      {kind === 'signer' ? (
        <StartSignerRenewal
          encryptors={context.data?.encryptors}
          keyPairs={context.data?.keyPairs ?? []}
          warningDays={context.data?.warningDays ?? 30}
          initialEncryptorId={encryptorId}
        />
      ) : (
        <form onSubmit={submit} class="wizard">
          <fieldset>
            <legend>1. Which receiver?</legend>
            <Field label="Encryptor" id="wz-encryptor" problem={starting.problem} name="encryptorId">
              <select
                id="wz-encryptor"
                required
                value={encryptorId}
                onChange={(e) => {
                  setEncryptorId((e.currentTarget as HTMLSelectElement).value)
                  setCurrentAlias('')
                }}
              >
                <option value="">{context.data ? 'Choose an encryptor' : 'Loading the encryptors…'}</option>
                {(context.data?.encryptors ?? []).map((en) => (
                  <option key={en.id} value={en.id}>
                    {en.id}
                  </option>
                ))}
              </select>
            </Field>
            <Field
              label="Current alias (the receiver's old key)"
              id="wz-current"
              problem={starting.problem}
              name="currentAlias"
            >
              <select
                id="wz-current"
                required
                value={currentAlias}
                onChange={(e) => setCurrentAlias((e.currentTarget as HTMLSelectElement).value)}
              >
                <option value="">Choose an alias</option>
                {(encryptor?.receiverAliases ?? [])
                  .filter((a) => context.data?.aliases.has(a))
                  .map((a) => (
                    <option key={a} value={a}>
                      {a}
                    </option>
                  ))}
              </select>
            </Field>
          </fieldset>

          <fieldset>
            <legend>2. What can the receiver do?</legend>
            {Object.entries(answers).map(([question, value]) => (
              <p key={question} class="answered">
                <span>{asked[question] ?? question}</span> <strong>{value ? 'Yes' : 'No'}</strong>{' '}
                <button type="button" class="secondary small" onClick={() => setAnswers(answersBefore(question))}>
                  Change<span class="sr-only"> the answer: {asked[question] ?? question}</span>
                </button>
              </p>
            ))}
            {advice?.question ? (
              <div class="question" role="group" aria-labelledby="wz-q" aria-describedby="wz-q-help">
                <p id="wz-q" class="question-text">
                  {advice.question.text}
                </p>
                <p id="wz-q-help" class="hint">
                  {advice.question.help}
                  {advice.question.id === 'hasPreparedAlias' && encryptor ? (
                    <>
                      {' '}
                      {prepared.length
                        ? `${encryptor.id} lists ${prepared.join(', ')} without a certificate.`
                        : `${encryptor.id} lists no alias without a certificate${
                            encryptor.missingAlias === 'skip' ? '' : ' (and its missingAlias is "fail")'
                          }.`}
                    </>
                  ) : null}
                </p>
                <div class="actions">
                  <button type="button" class="secondary" onClick={() => answer(advice.question!.id, true)}>
                    Yes
                  </button>
                  <button type="button" class="secondary" onClick={() => answer(advice.question!.id, false)}>
                    No
                  </button>
                </div>
              </div>
            ) : null}
            <ProblemBox problem={asking.problem} />
            {advice?.recommendation ? (
              <div class="recommendation" role="status">
                <p>
                  Recommended: <strong class="procedure">{advice.recommendation.procedure}</strong>.{' '}
                  {advice.recommendation.why}
                </p>
                <ol class="plain-steps">
                  {advice.recommendation.steps.map((s) => (
                    <li key={s.name}>
                      <code>{s.name}</code> by <RoleBadge role={s.role} />
                    </li>
                  ))}
                </ol>
              </div>
            ) : null}
          </fieldset>

          {procedure ? (
            <fieldset>
              <legend>3. The new certificate</legend>
              <Field label="Procedure" id="wz-procedure" problem={starting.problem} name="procedure">
                <select
                  id="wz-procedure"
                  value={procedure}
                  onChange={(e) => setProcedure((e.currentTarget as HTMLSelectElement).value as ReceiverProcedure)}
                >
                  {RECEIVER_PROCEDURES.map((p) => (
                    <option key={p} value={p}>
                      {p}
                      {p === advice?.recommendation?.procedure ? ' (recommended)' : ''}
                    </option>
                  ))}
                </select>
              </Field>
              {needsNewAlias ? (
                <Field
                  label="New alias (the receiver's new key)"
                  id="wz-new-alias"
                  problem={starting.problem}
                  name="newAlias"
                  hint={
                    procedure === 'prepared-alias'
                      ? 'The prepared alias the encryptor already lists.'
                      : 'A new alias, added to the encryptor beside the current one.'
                  }
                >
                  <input
                    id="wz-new-alias"
                    required
                    maxLength={250}
                    value={newAlias}
                    onInput={(e) => setNewAlias((e.currentTarget as HTMLInputElement).value)}
                  />
                </Field>
              ) : null}
              <CertificateInput id="wz-cert" value={upload} onChange={setUpload} problem={starting.problem} />
              {procedure === 'downtime' ? (
                <div class="row">
                  <Field label="Downtime starts (optional)" id="wz-start" problem={starting.problem} name="downtime">
                    <input
                      id="wz-start"
                      type="datetime-local"
                      value={start}
                      onInput={(e) => setStart((e.currentTarget as HTMLInputElement).value)}
                    />
                  </Field>
                  <Field label="Downtime ends" id="wz-end">
                    <input
                      id="wz-end"
                      type="datetime-local"
                      value={end}
                      onInput={(e) => setEnd((e.currentTarget as HTMLInputElement).value)}
                    />
                  </Field>
                </div>
              ) : null}
              <ProblemBox problem={starting.problem} id="wz-problem" />
              <button type="submit" disabled={starting.busy || !encryptorId || !currentAlias || !upload}>
                Start renewal
              </button>
            </fieldset>
          ) : null}
        </form>
      )}
    </section>
  )
}
