import { useState } from 'preact/hooks'
import { call, downloadPem, get, seg } from '../api'
import type { ViewProps } from '../app'
import { KeyPairInput } from '../key-pair-input'
import { href } from '../route'
import type { Encryptor, KeyPairUpload, Renewal } from '../types'
import { Field, ProblemBox, Region, RoleBadge, dateTime, useAction, useLoad } from '../ui'

/** A signer-key renewal's aliases name key pairs (their pages), the others' keystore entries. */
function AliasLink({ r, alias, stored = true }: { r: Renewal; alias: string; stored?: boolean }) {
  if (r.procedure !== 'signer-key') return <a href={href('keystore', alias)}>{alias}</a>
  return stored ? <a href={href('key-pairs', alias)}>{alias}</a> : <code>{alias}</code>
}

/**
 * One renewal as a timeline of its procedure's steps, in order. The next step is a button for a
 * token holding its role, saying what it will change; others see whose turn it is.
 */
export function RenewalView({ me, can, params }: ViewProps) {
  const id = params[0]!
  const loaded = useLoad(async () => {
    const renewal = await get<Renewal>(`/renewals/${seg(id)}`)
    // A signer-key renewal changes whom the encryptor signs with, which the renewal itself does not say.
    const signer =
      renewal.procedure === 'signer-key'
        ? ((await get<Encryptor>(`/encryptors/${seg(renewal.encryptorId)}`)).signer?.alias ?? null)
        : null
    return { ...renewal, signer }
  }, [id])
  const [comment, setComment] = useState('')
  const [keyPair, setKeyPair] = useState<KeyPairUpload | null>(null)
  const downloading = useAction()
  const [confirmAbort, setConfirmAbort] = useState(false)
  const action = useAction()
  const r = loaded.data
  const body = () => (comment.trim() ? { json: { comment: comment.trim() } } : {})
  // add-key-pair brings the new key pair in its body, beside the comment.
  const stepBody = (step: string) =>
    step === 'add-key-pair' && keyPair
      ? { json: { ...(comment.trim() ? { comment: comment.trim() } : {}), keyPair } }
      : body()
  const take = async (step: string) => {
    const done = await action.run(() =>
      call<Renewal>(`/renewals/${seg(id)}/steps/${seg(step)}`, { method: 'POST', ...stepBody(step) }),
    )
    if (done) {
      setComment('')
      setKeyPair(null)
      loaded.reload()
    }
  }
  const abort = async () => {
    const done = await action.run(() => call<Renewal>(`/renewals/${seg(id)}/abort`, { method: 'POST', ...body() }))
    if (done) {
      setConfirmAbort(false)
      setComment('')
      loaded.reload()
    }
  }
  const holdsNext = !!r?.next && me.roles.includes(r.next.role)
  const signerKey = r?.procedure === 'signer-key'
  // The new key pair is stored once add-key-pair is done (a signer-key renewal's first step).
  const newKeyPairStored = signerKey && r!.steps[0]?.status === 'done' && r!.state !== 'aborted'
  const bringsKeyPair = r?.next?.step === 'add-key-pair'
  return (
    <section>
      <h1 tabIndex={-1}>{r ? `Renewal: ${r.procedure} of ${r.encryptorId}` : 'Renewal'}</h1>
      <p>
        <a href={href('renewals')}>Back to the renewals</a>
      </p>
      <Region loaded={loaded} label="Renewal" size="card">
        {() => (
          <>
            <dl class="details">
              <dt>State</dt>
              <dd>
                <span class={`state state-${r!.state}`}>{r!.state}</span>
                {r!.paused ? <span class="flag flag-paused"> encrypt paused</span> : null}
              </dd>
              <dt>Encryptor</dt>
              <dd>
                <a href={href('encryptors', r!.encryptorId)}>{r!.encryptorId}</a>, encrypts for now:{' '}
                <strong class="recipients">{r!.recipients.length ? r!.recipients.join(', ') : 'nobody'}</strong>
                {signerKey ? (
                  <>
                    , signs with now: <strong class="signer">{r!.signer ?? 'nothing'}</strong>
                  </>
                ) : null}
              </dd>
              <dt>{signerKey ? 'Current key pair' : 'Current alias'}</dt>
              <dd>
                <AliasLink r={r!} alias={r!.currentAlias} stored={r!.state !== 'completed'} />
              </dd>
              {r!.newAlias ? (
                <>
                  <dt>{signerKey ? 'New key pair' : 'New alias'}</dt>
                  <dd>
                    <AliasLink r={r!} alias={r!.newAlias} stored={newKeyPairStored} />
                  </dd>
                </>
              ) : null}
              <dt>{signerKey ? 'New signer certificate' : 'New certificate'}</dt>
              <dd>
                <span class="dn">{r!.certificate.subject}</span>, valid until {dateTime(r!.certificate.notAfter)}
              </dd>
              {r!.downtime ? (
                <>
                  <dt>Downtime window</dt>
                  <dd>
                    {dateTime(r!.downtime.start)} – {dateTime(r!.downtime.end)}
                  </dd>
                </>
              ) : null}
              <dt>Started</dt>
              <dd>
                {dateTime(r!.createdAt)} by {r!.createdBy}
              </dd>
            </dl>
            <h2>Steps</h2>
            <ol class="timeline">
              {r!.steps.map((s) => (
                <li
                  key={s.name}
                  class={`step step-${s.status}`}
                  aria-current={s.status === 'next' ? 'step' : undefined}
                >
                  <div class="step-head">
                    <code class="step-name">{s.name}</code> <RoleBadge role={s.role} />{' '}
                    <span class="step-status">
                      {s.status === 'done' ? 'done' : s.status === 'next' ? 'next' : 'later'}
                    </span>
                  </div>
                  {s.change ? <p class="step-change">{s.change}</p> : null}
                  {s.status === 'done' ? (
                    <p class="muted">
                      Taken {dateTime(s.at)} by {s.by}
                      {s.comment ? `: “${s.comment}”` : ''}
                    </p>
                  ) : null}
                </li>
              ))}
            </ol>
            {r!.state === 'active' && r!.next ? (
              <section class="next-step" aria-labelledby="next-h">
                <h2 id="next-h">Next: {r!.next.step}</h2>
                {r!.steps.find((s) => s.name === r!.next!.step)?.change ? (
                  <p class="step-change">{r!.steps.find((s) => s.name === r!.next!.step)!.change}</p>
                ) : null}
                {holdsNext ? null : (
                  <p class="waiting">
                    Waiting for a <RoleBadge role={r!.next.role} /> token to take this step.
                  </p>
                )}
                {newKeyPairStored && r!.next.step === 'hand-over-certificate' ? (
                  <>
                    <p>The receivers are given the new certificate to trust before anything is signed with it:</p>
                    <div class="actions">
                      <button
                        type="button"
                        class="secondary"
                        onClick={() =>
                          downloading.run(() =>
                            downloadPem(`/keystore/key-pairs/${seg(r!.newAlias!)}/certificate`, `${r!.newAlias}.pem`),
                          )
                        }
                      >
                        Download the new certificate
                      </button>
                    </div>
                    <ProblemBox problem={downloading.problem} />
                  </>
                ) : null}
                {holdsNext && bringsKeyPair ? (
                  <KeyPairInput id="step-key-pair" onChange={setKeyPair} problem={action.problem} />
                ) : null}
                {can.takesSteps ? (
                  <>
                    {holdsNext || can.startsRenewals ? (
                      <Field label="Comment (kept in the audit record)" id="step-comment">
                        <input
                          id="step-comment"
                          maxLength={2000}
                          value={comment}
                          onInput={(e) => setComment((e.currentTarget as HTMLInputElement).value)}
                        />
                      </Field>
                    ) : null}
                    <div class="actions">
                      <button
                        type="button"
                        disabled={!holdsNext || action.busy || (bringsKeyPair && !keyPair)}
                        onClick={() => take(r!.next!.step)}
                      >
                        Take step: {r!.next.step}
                      </button>
                      {can.startsRenewals && r!.abort?.allowed !== false && !confirmAbort ? (
                        <button
                          type="button"
                          class="danger"
                          disabled={action.busy}
                          onClick={() => setConfirmAbort(true)}
                        >
                          Abort renewal…
                        </button>
                      ) : null}
                    </div>
                  </>
                ) : null}
                <ProblemBox problem={action.problem} id="renewal-problem" />
                {r!.abort ? (
                  <p class={`abort-note${r!.abort.allowed ? '' : ' abort-refused'}`}>
                    <strong>{r!.abort.allowed ? 'Abort is still possible. ' : 'Abort is no longer possible. '}</strong>
                    {r!.abort.explanation} The point of no return is <code>{r!.abort.pointOfNoReturn}</code>.
                  </p>
                ) : null}
                {confirmAbort ? (
                  <div class="confirm" role="group" aria-labelledby="abort-h">
                    <h3 id="abort-h">Abort this renewal?</h3>
                    <p>The keystore and the encryptor go back to where they were before the renewal started.</p>
                    <div class="actions">
                      <button type="button" class="danger" disabled={action.busy} onClick={abort}>
                        Abort renewal
                      </button>
                      <button type="button" class="secondary" onClick={() => setConfirmAbort(false)}>
                        Keep it going
                      </button>
                    </div>
                  </div>
                ) : null}
              </section>
            ) : (
              <p class="notice">
                This renewal is {r!.state}:{' '}
                {r!.state === 'completed' ? 'every step is done.' : 'nothing more can be done.'}
              </p>
            )}
          </>
        )}
      </Region>
    </section>
  )
}
