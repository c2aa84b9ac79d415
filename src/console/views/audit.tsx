import { useState } from 'preact/hooks'
import { get } from '../api'
import type { ViewProps } from '../app'
import type { AuditRecord, AuditVerification } from '../types'
import { Empty, Field, ProblemBox, Region, dateTime, useAction, useLoad } from '../ui'

const FILTERS = [
  { name: 'action', label: 'Action', hint: 'e.g. keystore.replace, renewal.step' },
  { name: 'target', label: 'Target', hint: 'e.g. keystore/partner-ag' },
  { name: 'actor', label: 'Actor (token name)', hint: '' },
  { name: 'renewalId', label: 'Renewal id', hint: '' },
  { name: 'since', label: 'Since', hint: '', type: 'datetime-local' },
  { name: 'until', label: 'Until', hint: '', type: 'datetime-local' },
] as const

type Filters = Record<(typeof FILTERS)[number]['name'], string>
const EMPTY: Filters = { action: '', target: '', actor: '', renewalId: '', since: '', until: '' }

function query(filters: Filters, before?: number) {
  const q = new URLSearchParams({ limit: '50' })
  for (const [k, v] of Object.entries(filters)) {
    if (!v.trim()) continue
    q.set(k, k === 'since' || k === 'until' ? new Date(v).toISOString() : v.trim())
  }
  if (before) q.set('before', String(before))
  return q.toString()
}

const summary = (value: unknown) => (value === null || value === undefined ? '—' : JSON.stringify(value))

/** The audit log with filters, and whether its hash chain still holds. */
export function AuditView(_props: ViewProps) {
  const verification = useLoad(() => get<AuditVerification>('/audit/verify'), [])
  const [draft, setDraft] = useState<Filters>(EMPTY)
  const [filters, setFilters] = useState<Filters>(EMPTY)
  const page = useLoad(
    () => get<{ records: AuditRecord[]; next: number | null }>(`/audit?${query(filters)}`),
    [JSON.stringify(filters)],
  )
  const [more, setMore] = useState<{ records: AuditRecord[]; next: number | null } | null>(null)
  const loadingMore = useAction()
  const records = [...(page.data?.records ?? []), ...(more?.records ?? [])]
  const next = more ? more.next : page.data?.next
  const v = verification.data
  return (
    <section>
      <h1 tabIndex={-1}>Audit log</h1>
      <Region loaded={verification} label="Hash chain verification" size="line">
        {() => (
          <p class={`verification ${v!.valid ? 'verification-valid' : 'verification-invalid'}`} role="status">
            {v!.valid
              ? `The hash chain holds: ${v!.records} records verified up to the signed head`
              : `The hash chain is broken (${v!.problem ?? 'unknown problem'})${
                  v!.firstInvalidId ? `, first at record ${v!.firstInvalidId}` : ''
                }; ${v!.records} records verified before the break`}
            {v!.unchained ? `; ${v!.unchained} older records are not chained` : ''}.
          </p>
        )}
      </Region>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault()
          setMore(null)
          setFilters(draft)
        }}
      >
        {FILTERS.map((f) => (
          <Field key={f.name} label={f.label} id={`au-${f.name}`} problem={page.problem} name={f.name}>
            <input
              id={`au-${f.name}`}
              {...('type' in f ? { type: f.type } : { type: 'text', placeholder: f.hint || undefined })}
              value={draft[f.name]}
              onInput={(e) => setDraft({ ...draft, [f.name]: (e.currentTarget as HTMLInputElement).value })}
            />
          </Field>
        ))}
        <div class="actions">
          <button type="submit">Apply filters</button>
          <button
            type="button"
            class="secondary"
            onClick={() => {
              setDraft(EMPTY)
              setMore(null)
              setFilters(EMPTY)
            }}
          >
            Clear
          </button>
        </div>
      </form>
      <Region loaded={page} label="Audit records">
        {() =>
          records.length ? (
            <>
              <div class="table-wrap">
                <table class="audit">
                  <thead>
                    <tr>
                      <th scope="col">#</th>
                      <th scope="col">When</th>
                      <th scope="col">Who</th>
                      <th scope="col">Action</th>
                      <th scope="col">Target</th>
                      <th scope="col">Before → after</th>
                      <th scope="col">Comment</th>
                    </tr>
                  </thead>
                  <tbody>
                    {records.map((r) => (
                      <tr key={r.id}>
                        <td>{r.id}</td>
                        <td class="nowrap">{dateTime(r.at)}</td>
                        <td>
                          {r.actor} <span class="muted">({r.role})</span>
                        </td>
                        <td>
                          <code>{r.action}</code>
                        </td>
                        <td>{r.target}</td>
                        <td class="mono small-text">
                          {summary(r.before)} → {summary(r.after)}
                        </td>
                        <td>{r.comment ?? ''}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <ProblemBox problem={loadingMore.problem} />
              {next ? (
                <button
                  type="button"
                  class="secondary"
                  disabled={loadingMore.busy}
                  onClick={() =>
                    loadingMore.run(async () => {
                      const p = await get<{ records: AuditRecord[]; next: number | null }>(
                        `/audit?${query(filters, next)}`,
                      )
                      setMore({ records: [...(more?.records ?? []), ...p.records], next: p.next })
                    })
                  }
                >
                  Load older records
                </button>
              ) : null}
            </>
          ) : (
            <Empty>No record matches.</Empty>
          )
        }
      </Region>
    </section>
  )
}
