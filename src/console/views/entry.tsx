import { useState } from 'preact/hooks'
import { downloadPem, get, seg } from '../api'
import type { ViewProps } from '../app'
import { loadRenewals, loadWarningDays } from '../data'
import { href } from '../route'
import type { KeystoreEntryDetails } from '../types'
import {
  CertificateHistory,
  DaysLeft,
  OwnedByRenewal,
  ProblemBox,
  Region,
  RenewLinks,
  date,
  dateTime,
  keyText,
  useAction,
  useLoad,
} from '../ui'
import { CertificateUploadForm } from './upload'

/** One alias: its certificate, the encryptors using it, its history; download and replace. */
export function EntryView({ can, params }: ViewProps) {
  const alias = params[0]!
  const loaded = useLoad(async () => {
    const [entry, warningDays, renewals] = await Promise.all([
      get<KeystoreEntryDetails>(`/keystore/entries/${seg(alias)}`),
      loadWarningDays(),
      loadRenewals('active'),
    ])
    // An active renewal owns its aliases: their certificates change through its steps only.
    const renewal = renewals.find((r) => r.currentAlias === alias || r.newAlias === alias) ?? null
    return { entry, warningDays, renewal }
  }, [alias])
  const [replacing, setReplacing] = useState(false)
  const downloading = useAction()
  const e = loaded.data?.entry
  return (
    <section>
      <h1 tabIndex={-1}>Keystore entry {alias}</h1>
      <p>
        <a href={href('keystore')}>Back to the keystore</a>
      </p>
      <Region loaded={loaded} label={`Entry ${alias}`} size="card">
        {() => (
          <>
            <OwnedByRenewal renewal={loaded.data!.renewal} what="alias" />
            <dl class="details">
              <dt>Subject</dt>
              <dd class="dn">{e!.subject}</dd>
              <dt>Issuer</dt>
              <dd class="dn">{e!.issuer}</dd>
              <dt>Serial</dt>
              <dd class="mono">{e!.serialNumber}</dd>
              <dt>Key</dt>
              <dd>{keyText(e!.publicKey)}</dd>
              <dt>Key usage</dt>
              <dd>{e!.keyUsage ? e!.keyUsage.join(', ') : 'no keyUsage extension'}</dd>
              <dt>Valid</dt>
              <dd>
                {date(e!.notBefore)} – {date(e!.notAfter)}{' '}
                <DaysLeft days={e!.daysUntilExpiry} warningDays={loaded.data!.warningDays} />
                {e!.notYetValid ? <span class="flag"> not yet valid</span> : null}
              </dd>
              <dt>SHA-256</dt>
              <dd class="mono">{e!.sha256Fingerprint}</dd>
              <dt>Version</dt>
              <dd>
                {e!.version}, stored {dateTime(e!.updatedAt)}
              </dd>
              <dt>Used by</dt>
              <dd>
                {e!.usedBy.length
                  ? e!.usedBy.map((id) => (
                      <a key={id} class="tag" href={href('encryptors', id)}>
                        {id}
                      </a>
                    ))
                  : 'no encryptor'}
              </dd>
            </dl>
            {can.startsRenewals && !loaded.data!.renewal && e!.usedBy.length ? (
              <p class="renew">
                <RenewLinks alias={alias} encryptors={e!.usedBy} />
              </p>
            ) : null}
            <div class="actions">
              <button
                type="button"
                class="secondary"
                onClick={() =>
                  downloading.run(() => downloadPem(`/keystore/entries/${seg(alias)}/certificate`, `${alias}.pem`))
                }
              >
                Download certificate
              </button>
              {can.changesKeystore && !replacing && !loaded.data!.renewal ? (
                <button type="button" class="secondary" onClick={() => setReplacing(true)}>
                  Replace certificate…
                </button>
              ) : null}
            </div>
            <ProblemBox problem={downloading.problem} />
            {replacing ? (
              <section aria-labelledby="replace-h">
                <h2 id="replace-h">Replace the certificate of {alias}</h2>
                <p class="muted">
                  During a receiver's key renewal, use a renewal instead: it keeps every message decryptable.
                </p>
                <CertificateUploadForm
                  alias={alias}
                  warningDays={loaded.data!.warningDays}
                  onStored={() => {
                    setReplacing(false)
                    loaded.reload()
                  }}
                />
              </section>
            ) : null}
            <h2>History</h2>
            <CertificateHistory history={e!.history} />
          </>
        )}
      </Region>
    </section>
  )
}
