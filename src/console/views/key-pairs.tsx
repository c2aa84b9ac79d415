import { downloadPem, get, seg } from '../api'
import type { ViewProps } from '../app'
import { keyPairExpiry, loadRenewals, loadWarningDays, type KeyPairRow } from '../data'
import { href } from '../route'
import type { KeyPairDetails } from '../types'
import {
  CertificateHistory,
  DaysLeft,
  Empty,
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

/** The tenant's own key pairs in the keystore view: who signs with each, and how long its certificate lasts. */
export function KeyPairsTable({
  rows,
  total,
  warningDays,
}: {
  rows: KeyPairRow[]
  total: number
  warningDays: number
}) {
  if (total === 0) return <Empty>No key pair yet: no encryptor signs.</Empty>
  return (
    <div class="table-wrap">
      <table class="key-pairs">
        <caption>
          {rows.length} of {total} key pairs, by days left: our own signing keys, whose certificates the receivers
          trust.
        </caption>
        <thead>
          <tr>
            <th scope="col">Alias</th>
            <th scope="col">Key</th>
            <th scope="col">Subject</th>
            <th scope="col">Valid</th>
            <th scope="col">Days left</th>
            <th scope="col">Signs for</th>
          </tr>
        </thead>
        <tbody>
          {[...rows]
            .sort((a, b) => a.daysUntilExpiry - b.daysUntilExpiry)
            .map((k) => (
              <tr key={k.alias}>
                <th scope="row">
                  <a href={href('key-pairs', k.alias)}>{k.alias}</a>
                </th>
                <td>{keyText(k.keyType)}</td>
                <td class="dn">{k.certificate.subject}</td>
                <td class="nowrap">
                  {date(k.certificate.notBefore)} – {date(k.certificate.notAfter)}
                  {k.notYetValid ? <span class="flag"> not yet valid</span> : null}
                </td>
                <td>
                  <DaysLeft days={k.daysUntilExpiry} warningDays={warningDays} />
                </td>
                <td>
                  {k.usedBy.map((id) => (
                    <a key={id} class="tag" href={href('encryptors', id)}>
                      {id}
                    </a>
                  ))}
                  {k.usedBy.length ? null : <span class="muted">none</span>}
                </td>
              </tr>
            ))}
        </tbody>
      </table>
    </div>
  )
}

/** #/key-pairs/<alias>: one of our key pairs, its certificate and chain, who signs with it, its history. */
export function KeyPairView({ can, params }: ViewProps) {
  const alias = params[0]!
  const loaded = useLoad(async () => {
    const [keyPair, warningDays, renewals] = await Promise.all([
      get<KeyPairDetails>(`/keystore/key-pairs/${seg(alias)}`),
      loadWarningDays(),
      loadRenewals('active'),
    ])
    // A signer-key renewal owns its two key pairs: they change through its steps only.
    const renewal = renewals.find((r) => r.currentAlias === alias || r.newAlias === alias) ?? null
    return { keyPair, warningDays, renewal, expiry: keyPairExpiry(keyPair, warningDays) }
  }, [alias])
  const downloading = useAction()
  const k = loaded.data?.keyPair
  const c = k?.certificate
  const download = (chain: boolean) =>
    downloading.run(() =>
      downloadPem(
        `/keystore/key-pairs/${seg(alias)}/certificate${chain ? '?chain=true' : ''}`,
        `${alias}${chain ? '-chain' : ''}.pem`,
      ),
    )
  return (
    <section>
      <h1 tabIndex={-1}>Key pair {alias}</h1>
      <p>
        <a href={href('keystore')}>Back to the keystore</a>
      </p>
      <Region loaded={loaded} label={`Key pair ${alias}`} size="card">
        {() => (
          <>
            <OwnedByRenewal renewal={loaded.data!.renewal} what="key pair" />
            <p class="muted">
              One of our own signing keys. Its private key is sealed in the service and never shown; receivers are given
              the certificate, to verify what it signs.
            </p>
            <dl class="details">
              <dt>Subject</dt>
              <dd class="dn">{c!.subject}</dd>
              <dt>Issuer</dt>
              <dd class="dn">{c!.issuer}</dd>
              <dt>Serial</dt>
              <dd class="mono">{c!.serialNumber}</dd>
              <dt>Key</dt>
              <dd>{keyText(k!.keyType)}</dd>
              <dt>Valid</dt>
              <dd>
                {date(c!.notBefore)} – {date(c!.notAfter)}{' '}
                <DaysLeft days={loaded.data!.expiry.daysUntilExpiry} warningDays={loaded.data!.warningDays} />
                {loaded.data!.expiry.notYetValid ? <span class="flag"> not yet valid</span> : null}
              </dd>
              <dt>SHA-256</dt>
              <dd class="mono">{c!.sha256Fingerprint}</dd>
              <dt>Version</dt>
              <dd>
                {k!.version}, stored {dateTime(k!.updatedAt)}
              </dd>
              <dt>Signs for</dt>
              <dd>
                {k!.usedBy.length
                  ? k!.usedBy.map((id) => (
                      <a key={id} class="tag" href={href('encryptors', id)}>
                        {id}
                      </a>
                    ))
                  : 'no encryptor'}
              </dd>
            </dl>
            {can.startsRenewals && !loaded.data!.renewal && k!.usedBy.length ? (
              <p class="renew">
                <RenewLinks alias={alias} encryptors={k!.usedBy} />
              </p>
            ) : null}
            <div class="actions">
              <button type="button" class="secondary" onClick={() => download(false)}>
                Download certificate
              </button>
              {k!.chain.length ? (
                <button type="button" class="secondary" onClick={() => download(true)}>
                  Download certificate and chain
                </button>
              ) : null}
            </div>
            <ProblemBox problem={downloading.problem} />
            <h2>Chain</h2>
            {k!.chain.length ? (
              <div class="table-wrap">
                <table class="chain">
                  <caption>The issuers after the signer certificate, as uploaded: each issued the one before.</caption>
                  <thead>
                    <tr>
                      <th scope="col">Subject</th>
                      <th scope="col">Issuer</th>
                      <th scope="col">Valid until</th>
                      <th scope="col">SHA-256</th>
                    </tr>
                  </thead>
                  <tbody>
                    {k!.chain.map((link) => (
                      <tr key={link.sha256Fingerprint}>
                        <td class="dn">{link.subject}</td>
                        <td class="dn">{link.issuer}</td>
                        <td>{date(link.notAfter)}</td>
                        <td class="mono">{link.sha256Fingerprint}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            ) : (
              <Empty>No chain: the signer certificate was uploaded alone.</Empty>
            )}
            <h2>History</h2>
            <CertificateHistory history={k!.history} />
          </>
        )}
      </Region>
    </section>
  )
}
