import { useState } from 'preact/hooks'
import { call, get, seg } from '../api'
import type { ViewProps } from '../app'
import { EVENT_TYPES } from '../event-types'
import { href } from '../route'
import type { WebhookDelivery, WebhookSubscription } from '../types'
import { Empty, Field, ProblemBox, Region, dateTime, useAction, useLoad } from '../ui'

/** The secret of a subscription just made or rotated: shown once, here, never again. */
function SecretOnce({ secret }: { secret: string | null }) {
  if (!secret) return null
  return (
    <div class="secret-once" role="status">
      <p>
        <strong>The signing secret, shown this once:</strong> store it where the receiver verifies signatures.
      </p>
      <code class="secret">{secret}</code>
    </div>
  )
}

/** The subscriptions, and a form to subscribe a URL to events (tenant administrators). */
export function WebhooksView(_props: ViewProps) {
  const loaded = useLoad(async () => (await get<{ webhooks: WebhookSubscription[] }>('/webhooks')).webhooks, [])
  const [url, setUrl] = useState('')
  const [all, setAll] = useState(true)
  const [events, setEvents] = useState<string[]>([])
  const [secret, setSecret] = useState<string | null>(null)
  const create = useAction()
  const subscribe = async (ev: Event) => {
    ev.preventDefault()
    const made = await create.run(() =>
      call<WebhookSubscription>('/webhooks', {
        method: 'POST',
        json: { url: url.trim(), events: all ? ['*'] : events },
      }),
    )
    if (made) {
      setSecret(made.data.secret ?? null)
      setUrl('')
      loaded.reload()
    }
  }
  const toggle = (type: string) =>
    setEvents((list) => (list.includes(type) ? list.filter((t) => t !== type) : [...list, type]))
  return (
    <section>
      <h1 tabIndex={-1}>Webhooks</h1>
      <p>Each subscription is told of the events it asks for, signed (Standard Webhooks) and retried for a day.</p>
      <Region loaded={loaded} label="Webhook subscriptions">
        {() =>
          loaded.data!.length ? (
            <div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">URL</th>
                    <th scope="col">Events</th>
                    <th scope="col">State</th>
                    <th scope="col">Since</th>
                  </tr>
                </thead>
                <tbody>
                  {loaded.data!.map((w) => (
                    <tr key={w.id}>
                      <th scope="row">
                        <a href={href('webhooks', w.id)}>{w.url}</a>
                      </th>
                      <td>{w.events.join(', ')}</td>
                      <td>{w.enabled ? 'enabled' : <span class="flag">disabled</span>}</td>
                      <td>{dateTime(w.createdAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : (
            <Empty>No subscription yet.</Empty>
          )
        }
      </Region>
      <h2>Subscribe a URL</h2>
      <SecretOnce secret={secret} />
      <ProblemBox problem={create.problem} id="hook-problem" />
      <form onSubmit={subscribe}>
        <Field
          label="URL"
          id="hook-url"
          problem={create.problem}
          name="url"
          hint="https, on a public address (unless the service allows otherwise)."
        >
          <input
            id="hook-url"
            type="url"
            required
            maxLength={2048}
            value={url}
            onInput={(ev) => setUrl((ev.currentTarget as HTMLInputElement).value)}
          />
        </Field>
        <fieldset>
          <legend>Events</legend>
          <label>
            <input type="checkbox" checked={all} onChange={() => setAll(!all)} /> All events, those added later included
          </label>
          {all
            ? null
            : EVENT_TYPES.map((type) => (
                <label key={type}>
                  <input type="checkbox" checked={events.includes(type)} onChange={() => toggle(type)} /> {type}
                </label>
              ))}
        </fieldset>
        <button type="submit" disabled={create.busy || !url.trim() || (!all && events.length === 0)}>
          Subscribe
        </button>
      </form>
    </section>
  )
}

const STATE_TEXT: Record<WebhookDelivery['state'], string> = {
  pending: 'pending',
  delivered: 'delivered',
  failed: 'failed: retries ran out',
}

function LastAttempt({ d }: { d: WebhookDelivery }) {
  const last = d.attempts.at(-1)
  if (!last) return <span class="muted">not attempted yet</span>
  return (
    <span>
      {last.status ?? 'no answer'}
      {last.error ? ` (${last.error})` : ''}, {dateTime(last.at)}
    </span>
  )
}

/**
 * One subscription's page, a fresh one for each subscription: what one page holds (the secret just
 * rotated, a confirmation, a problem, "deleted") is never shown on another's, even when the address
 * changes from one subscription to another without leaving the view.
 */
export function WebhookView(props: ViewProps) {
  return <Subscription key={props.params[0]} {...props} />
}

/** One subscription: ping it, rotate its secret, disable or delete it, and read its delivery log. */
function Subscription({ params }: ViewProps) {
  const id = params[0]!
  const loaded = useLoad(async () => {
    const [subscription, log] = await Promise.all([
      get<WebhookSubscription>(`/webhooks/${seg(id)}`),
      get<{ deliveries: WebhookDelivery[] }>(`/webhooks/${seg(id)}/deliveries?limit=50`),
    ])
    return { subscription, deliveries: log.deliveries }
  }, [id])
  const [secret, setSecret] = useState<string | null>(null)
  const [deleted, setDeleted] = useState(false)
  const [confirmDelete, setConfirmDelete] = useState(false)
  const act = useAction()
  const w = loaded.data?.subscription
  const post = async (path: string, then?: (data: WebhookSubscription) => void) => {
    const done = await act.run(() => call<WebhookSubscription>(`/webhooks/${seg(id)}${path}`, { method: 'POST' }))
    if (done) {
      then?.(done.data)
      loaded.reload()
    }
  }
  const setEnabled = async (enabled: boolean) => {
    const done = await act.run(() => call(`/webhooks/${seg(id)}`, { method: 'PATCH', json: { enabled } }))
    if (done) loaded.reload()
  }
  const remove = async () => {
    const done = await act.run(() => call(`/webhooks/${seg(id)}`, { method: 'DELETE' }))
    if (done) setDeleted(true)
  }
  if (deleted) {
    return (
      <section>
        <h1 tabIndex={-1}>Subscription deleted</h1>
        <p>
          <a href={href('webhooks')}>Back to the webhooks</a>
        </p>
      </section>
    )
  }
  return (
    <section>
      <h1 tabIndex={-1}>Webhook subscription</h1>
      <p>
        <a href={href('webhooks')}>Back to the webhooks</a>
      </p>
      <Region loaded={loaded} label="The subscription" size="card">
        {() => (
          <>
            <dl class="details">
              <dt>URL</dt>
              <dd>{w!.url}</dd>
              <dt>Events</dt>
              <dd>{w!.events.join(', ')}</dd>
              <dt>State</dt>
              <dd>{w!.enabled ? 'enabled' : 'disabled: no delivery is made; pending ones wait'}</dd>
              {w!.previousSecretValidUntil ? (
                <>
                  <dt>Previous secret</dt>
                  <dd>still signs beside the new one until {dateTime(w!.previousSecretValidUntil)}</dd>
                </>
              ) : null}
            </dl>
            <SecretOnce secret={secret} />
            <ProblemBox problem={act.problem} id="hook-action-problem" />
            <div class="actions">
              <button type="button" disabled={act.busy} onClick={() => post('/test')}>
                Send a test event
              </button>
              <button
                type="button"
                class="secondary"
                disabled={act.busy}
                onClick={() => post('/rotate-secret', (data) => setSecret(data.secret ?? null))}
              >
                Rotate the secret
              </button>
              <button type="button" class="secondary" disabled={act.busy} onClick={() => setEnabled(!w!.enabled)}>
                {w!.enabled ? 'Disable' : 'Enable'}
              </button>
              {confirmDelete ? null : (
                <button type="button" class="danger" disabled={act.busy} onClick={() => setConfirmDelete(true)}>
                  Delete
                </button>
              )}
            </div>
            {confirmDelete ? (
              <div class="confirm" role="group" aria-labelledby="hook-delete-h">
                <h2 id="hook-delete-h">Delete this subscription?</h2>
                <p>Its pending deliveries and its delivery log go with it; the receiver hears nothing more.</p>
                <div class="actions">
                  <button type="button" class="danger" disabled={act.busy} onClick={remove}>
                    Delete subscription
                  </button>
                  <button type="button" class="secondary" onClick={() => setConfirmDelete(false)}>
                    Keep it
                  </button>
                </div>
              </div>
            ) : null}
            <h2>Deliveries</h2>
            {loaded.data!.deliveries.length ? (
              <div class="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Event</th>
                      <th scope="col">State</th>
                      <th scope="col">Attempts</th>
                      <th scope="col">Last attempt</th>
                      <th scope="col">
                        <span class="sr-only">Action</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {loaded.data!.deliveries.map((d) => (
                      <tr key={d.id}>
                        <th scope="row">
                          {d.eventType} <small class="muted">{d.eventId}</small>
                        </th>
                        <td class={`delivery-${d.state}`}>{STATE_TEXT[d.state]}</td>
                        <td>{d.attempts.length}</td>
                        <td>
                          <LastAttempt d={d} />
                        </td>
                        <td>
                          {d.state === 'pending' ? null : (
                            <button
                              type="button"
                              class="secondary small"
                              disabled={act.busy}
                              aria-label={`Send again: ${d.eventType} ${d.eventId}`}
                              onClick={() => post(`/deliveries/${seg(d.id)}/retry`)}
                            >
                              Send again
                            </button>
                          )}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            ) : (
              <Empty>Nothing delivered yet.</Empty>
            )}
          </>
        )}
      </Region>
    </section>
  )
}
