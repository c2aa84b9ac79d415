import { cloneElement, isValidElement, type ComponentChildren } from 'preact'
import { useCallback, useEffect, useState } from 'preact/hooks'
import { Problem } from './api'
import { href } from './route'
import type { Renewal, RetiredCertificate } from './types'

/** A problem as the API said it: title, detail and the stable code, the same a client switches on. */
export function ProblemBox({ problem, id }: { problem: Problem | null; id?: string }) {
  if (!problem) return null
  return (
    <div class="problem" role="alert" id={id}>
      <strong class="problem-title">{problem.title}</strong>
      {problem.detail ? <span class="problem-detail">{problem.detail}</span> : null}
      <code class="problem-code">{problem.code}</code>
      {problem.errors.length ? (
        <ul class="problem-errors">
          {problem.errors.map((e) => (
            <li key={e.path}>
              <code>{e.path || '/'}</code> {e.message}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  )
}

export const asProblem = (err: unknown): Problem =>
  err instanceof Problem ? err : new Problem(0, 'Error', String((err as Error)?.message ?? err), 'CONSOLE_ERROR')

export interface Loaded<T> {
  data: T | undefined
  problem: Problem | null
  loading: boolean
  reload: () => void
}

/** Loads once per change of `deps`; `reload()` loads again (after a change the view made). */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; problem: Problem | null; loading: boolean }>({
    data: undefined,
    problem: null,
    loading: true,
  })
  const [round, setRound] = useState(0)
  useEffect(() => {
    let current = true
    setState((s) => ({ ...s, loading: true }))
    load().then(
      (data) => current && setState({ data, problem: null, loading: false }),
      (err) => current && setState({ data: undefined, problem: asProblem(err), loading: false }),
    )
    return () => {
      current = false
    }
  }, [...deps, round])
  const reload = useCallback(() => setRound((r) => r + 1), [])
  return { ...state, reload }
}

/** An action's progress and its problem, for a button or form. */
export function useAction() {
  const [busy, setBusy] = useState(false)
  const [problem, setProblem] = useState<Problem | null>(null)
  const run = async <T,>(action: () => Promise<T>): Promise<T | undefined> => {
    setBusy(true)
    setProblem(null)
    try {
      return await action()
    } catch (err) {
      setProblem(asProblem(err))
      return undefined
    } finally {
      setBusy(false)
    }
  }
  return { busy, problem, run, clear: () => setProblem(null) }
}

/**
 * A region whose data is loading: it keeps its place (a minimum height set in CSS) so nothing
 * below it moves when the data arrives.
 */
export function Region({
  loaded,
  label,
  children,
  size = 'table',
}: {
  loaded: Pick<Loaded<unknown>, 'loading' | 'problem' | 'data'>
  label: string
  children: () => ComponentChildren
  size?: 'table' | 'card' | 'line'
}) {
  return (
    <div class={`region region-${size}`} aria-busy={loaded.loading && loaded.data === undefined}>
      {loaded.problem ? (
        <ProblemBox problem={loaded.problem} />
      ) : loaded.data === undefined ? (
        <p class="loading">Loading {label.toLowerCase()}…</p>
      ) : (
        children()
      )}
    </div>
  )
}

export type Urgency = 'expired' | 'critical' | 'warning' | 'ok'

/** Expired, a week or less, within the warning period, or fine. */
export function urgency(daysLeft: number, warningDays: number): Urgency {
  if (daysLeft < 0) return 'expired'
  if (daysLeft <= 7) return 'critical'
  if (daysLeft <= warningDays) return 'warning'
  return 'ok'
}

const URGENCY_TEXT: Record<Urgency, string> = {
  expired: 'expired',
  critical: 'urgent',
  warning: 'renew soon',
  ok: 'ok',
}

/** Days left, coloured by urgency, and said in words too (colour is never the only signal). */
export function DaysLeft({ days, warningDays }: { days: number; warningDays: number }) {
  const level = urgency(days, warningDays)
  const text = days < 0 ? `expired ${-days} d ago` : `${days} d`
  return (
    <span class={`days days-${level}`}>
      {text}
      <span class="days-level"> · {URGENCY_TEXT[level]}</span>
    </span>
  )
}

export const date = (iso: string | undefined | null) => (iso ? iso.slice(0, 10) : '—')
export const dateTime = (iso: string | undefined | null) =>
  iso ? iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC') : '—'

export function keyText(k: { algorithm: string; bits?: number; curve?: string }) {
  return k.algorithm === 'RSA' ? `RSA ${k.bits ?? '?'}` : `EC ${k.curve ?? '?'}`
}

/**
 * A labelled form field; what a problem says about it is shown beside it, with the problem's code,
 * and the input is marked invalid and described by it.
 */
export function Field({
  label,
  id,
  problem,
  name,
  hint,
  said: given,
  children,
}: {
  label: string
  id: string
  problem?: Problem | null
  name?: string
  hint?: string
  /** What the problem says about this field, when the caller decides it (else `problem.about(name)`). */
  said?: string | null
  children: ComponentChildren
}) {
  const said = given !== undefined ? given : problem && name ? problem.about(name) : null
  const described = [hint ? `${id}-hint` : '', said ? `${id}-problem` : ''].filter(Boolean).join(' ')
  // The one input of the field gets aria-invalid and aria-describedby (hint, then problem).
  const input =
    isValidElement(children) && typeof children.type === 'string'
      ? cloneElement(children, { 'aria-invalid': said ? true : undefined, 'aria-describedby': described || undefined })
      : children
  return (
    <div class={`field${said ? ' field-invalid' : ''}`}>
      <label for={id}>{label}</label>
      {input}
      {hint ? (
        <small class="hint" id={`${id}-hint`}>
          {hint}
        </small>
      ) : null}
      {said ? (
        <span class="field-problem" id={`${id}-problem`}>
          {said} <code>{problem!.code}</code>
        </span>
      ) : null}
    </div>
  )
}

export function RoleBadge({ role }: { role: string }) {
  return <span class={`role role-${role}`}>{role}</span>
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>
}

/** The certificates an alias or a key pair held before, newest version first as the API lists them. */
export function CertificateHistory({ history }: { history: RetiredCertificate[] }) {
  if (!history.length) return <Empty>No earlier certificate.</Empty>
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">Subject</th>
            <th scope="col">Serial</th>
            <th scope="col">Valid until</th>
            <th scope="col">Retired</th>
            <th scope="col">Why</th>
          </tr>
        </thead>
        <tbody>
          {history.map((h) => (
            <tr key={`${h.version}-${h.retiredAt}`}>
              <td>{h.version}</td>
              <td class="dn">{h.subject}</td>
              <td class="mono">{h.serialNumber}</td>
              <td>{date(h.notAfter)}</td>
              <td>{dateTime(h.retiredAt)}</td>
              <td>{h.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

/** Says that an active renewal owns what the view shows, and that its steps are the way to change it. */
export function OwnedByRenewal({ renewal, what }: { renewal: Renewal | null; what: string }) {
  if (!renewal) return null
  return (
    <p class="notice">
      A renewal owns this {what}:{' '}
      <a href={href('renewals', renewal.id)}>
        {renewal.procedure} of {renewal.encryptorId} ({renewal.currentAlias}
        {renewal.newAlias ? ` → ${renewal.newAlias}` : ''})
      </a>
      . It changes through the renewal's steps.
    </p>
  )
}

/** A titled card of the overview, its body in a region that keeps its place while it loads. */
export function Card({
  id,
  title,
  loaded,
  children,
}: {
  id: string
  title: string
  loaded: Pick<Loaded<unknown>, 'loading' | 'problem' | 'data'>
  children: () => ComponentChildren
}) {
  return (
    <section class="card" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      <Region loaded={loaded} label={title} size="card">
        {children}
      </Region>
    </section>
  )
}

/** Links that open the wizard pre-filled for each encryptor using `alias` (#/start/<encryptor>/<alias>). */
export function RenewLinks({ alias, encryptors }: { alias: string; encryptors: string[] }) {
  return (
    <>
      {encryptors.map((id) => (
        <a key={id} class="renew-link" href={href('start', id, alias)}>
          Renew {alias} for {id}
        </a>
      ))}
    </>
  )
}
