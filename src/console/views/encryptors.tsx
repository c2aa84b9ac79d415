import { useState } from 'preact/hooks'
import { call, get, seg } from '../api'
import type { ViewProps } from '../app'
import { loadEncryptors, loadKeystore } from '../data'
import { href } from '../route'
import type { Encryptor, Renewal } from '../types'
import { Empty, Field, OwnedByRenewal, ProblemBox, Region, dateTime, useAction, useLoad } from '../ui'

function Paused({ e }: { e: Encryptor }) {
  if (!e.pause) return null
  return <span class="flag flag-paused">paused{e.pause.until ? ` until ${dateTime(e.pause.until)}` : ''}</span>
}

/** Every encryptor: what it is configured for, and whom a message is encrypted for right now. */
export function EncryptorsView(_props: ViewProps) {
  const loaded = useLoad(loadEncryptors, [])
  return (
    <section>
      <h1 tabIndex={-1}>Encryptors</h1>
      <Region loaded={loaded} label="Encryptors">
        {() =>
          loaded.data!.length ? (
            <div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Encryptor</th>
                    <th scope="col">Receiver aliases</th>
                    <th scope="col">Encrypts for now</th>
                    <th scope="col">Signs with</th>
                    <th scope="col">Content / key transport</th>
                    <th scope="col">State</th>
                  </tr>
                </thead>
                <tbody>
                  {loaded.data!.map((e) => (
                    <tr key={e.id}>
                      <th scope="row">
                        <a href={href('encryptors', e.id)}>{e.id}</a>
                      </th>
                      <td>{e.receiverAliases.join(', ')}</td>
                      <td>{e.recipients.length ? e.recipients.join(', ') : <span class="muted">nobody</span>}</td>
                      <td>
                        {e.signer ? (
                          <a href={href('key-pairs', e.signer.alias)}>{e.signer.alias}</a>
                        ) : (
                          <span class="muted">does not sign</span>
                        )}
                      </td>
                      <td>
                        {e.contentEncryption} / {e.keyTransport}
                      </td>
                      <td>{e.pause ? <Paused e={e} /> : 'encrypting'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : (
            <Empty>No encryptor yet.</Empty>
          )
        }
      </Region>
    </section>
  )
}

/** One encryptor: its settings, its aliases (add or remove them as an integration developer). */
export function EncryptorView({ can, params }: ViewProps) {
  const id = params[0]!
  const loaded = useLoad(async () => {
    const [answer, keystore, renewals] = await Promise.all([
      call<Encryptor>(`/encryptors/${seg(id)}`),
      loadKeystore(),
      get<{ renewals: Renewal[] }>(`/renewals?state=active&encryptorId=${seg(id)}`),
    ])
    return {
      encryptor: answer.data,
      etag: answer.etag,
      aliases: keystore.entries.map((e) => e.alias),
      renewal: renewals.renewals[0] ?? null,
    }
  }, [id])
  const [alias, setAlias] = useState('')
  const change = useAction()
  const e = loaded.data?.encryptor
  // While a renewal owns the encryptor its aliases change through the renewal's steps only (409 otherwise).
  const editable = can.changesEncryptors && !loaded.data?.renewal
  const ifMatch = (): Record<string, string> => (loaded.data?.etag ? { 'if-match': loaded.data.etag } : {})
  const add = async (ev: Event) => {
    ev.preventDefault()
    const done = await change.run(() =>
      call(`/encryptors/${seg(id)}/aliases`, { method: 'POST', json: { alias: alias.trim() }, headers: ifMatch() }),
    )
    if (done) {
      setAlias('')
      loaded.reload()
    }
  }
  const remove = async (a: string) => {
    const done = await change.run(() =>
      call(`/encryptors/${seg(id)}/aliases/${seg(a)}`, { method: 'DELETE', headers: ifMatch() }),
    )
    if (done) loaded.reload()
  }
  return (
    <section>
      <h1 tabIndex={-1}>Encryptor {id}</h1>
      <p>
        <a href={href('encryptors')}>Back to the encryptors</a>
      </p>
      <Region loaded={loaded} label={`Encryptor ${id}`} size="card">
        {() => (
          <>
            <OwnedByRenewal
              renewal={loaded.data!.renewal}
              what={loaded.data!.renewal?.procedure === 'signer-key' ? "encryptor's signer" : "encryptor's aliases"}
            />
            <dl class="details">
              <dt>Encrypts for now</dt>
              <dd>
                {e!.recipients.length ? e!.recipients.join(', ') : 'nobody'} <Paused e={e!} />
              </dd>
              <dt>Signs with</dt>
              <dd>
                {e!.signer ? (
                  <>
                    <a href={href('key-pairs', e!.signer.alias)} class="signer">
                      {e!.signer.alias}
                    </a>{' '}
                    <span class="muted">
                      ({e!.signer.signature}, {e!.signer.digest}; certificates sent: {e!.signer.includeCertificates};
                      signer named by {e!.signer.signerIdentifier})
                    </span>
                  </>
                ) : (
                  'does not sign: encrypt only'
                )}
              </dd>
              <dt>Content encryption</dt>
              <dd>{e!.contentEncryption}</dd>
              <dt>Key transport</dt>
              <dd>{e!.keyTransport}</dd>
              <dt>Recipient identifier</dt>
              <dd>{e!.recipientIdentifier}</dd>
              <dt>Missing alias</dt>
              <dd>
                {e!.missingAlias === 'skip'
                  ? 'skip: encrypt for the aliases present'
                  : 'fail: every alias needs a certificate'}
              </dd>
              <dt>Output</dt>
              <dd>{e!.encoding}</dd>
              <dt>Version</dt>
              <dd>
                {e!.version}, changed {dateTime(e!.updatedAt)}
              </dd>
            </dl>
            <h2>Receiver aliases</h2>
            <ul class="aliases">
              {e!.receiverAliases.map((a) => (
                <li key={a}>
                  <a href={href('keystore', a)}>{a}</a>
                  {e!.recipients.includes(a) ? null : <span class="flag"> no certificate: skipped</span>}
                  {editable ? (
                    <button
                      type="button"
                      class="secondary small"
                      disabled={change.busy}
                      onClick={() => remove(a)}
                      aria-label={`Remove alias ${a}`}
                    >
                      Remove
                    </button>
                  ) : null}
                </li>
              ))}
            </ul>
            <ProblemBox problem={change.problem} id="enc-problem" />
            {editable ? (
              <form class="inline-form" onSubmit={add}>
                <Field label="Alias to add" id="enc-add" problem={change.problem} name="alias">
                  <input
                    id="enc-add"
                    list="enc-known-aliases"
                    required
                    maxLength={250}
                    value={alias}
                    onInput={(ev) => setAlias((ev.currentTarget as HTMLInputElement).value)}
                  />
                </Field>
                <datalist id="enc-known-aliases">
                  {loaded
                    .data!.aliases.filter((a) => !e!.receiverAliases.includes(a))
                    .map((a) => (
                      <option key={a} value={a} />
                    ))}
                </datalist>
                <button type="submit" disabled={change.busy || !alias.trim()}>
                  Add alias
                </button>
              </form>
            ) : null}
          </>
        )}
      </Region>
    </section>
  )
}
