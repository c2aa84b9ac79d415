import { useState } from 'preact/hooks'
import { call, seg } from '../api'
import type { ViewProps } from '../app'
import { CertificateInput, type CertificateUpload } from '../certificate-input'
import { href, navigate } from '../route'
import type { CertificateCheck } from '../types'
import { loadWarningDays } from '../data'
import { DaysLeft, Field, ProblemBox, date, keyText, useAction, useLoad } from '../ui'

/**
 * Upload in two moves: the service checks the certificate and shows what it parsed and what it
 * checked (nothing is stored), then the person confirms and it is stored, with If-Match on the
 * version that was checked, so a change made meanwhile by someone else is not overwritten.
 */
export function CertificateUploadForm({
  alias: fixedAlias,
  warningDays,
  onStored,
}: {
  /** Replace the certificate of this alias; without it, the person names a new alias. */
  alias?: string
  warningDays: number
  onStored: (alias: string) => void
}) {
  const [alias, setAlias] = useState(fixedAlias ?? '')
  const [upload, setUpload] = useState<CertificateUpload | null>(null)
  const [checked, setChecked] = useState<CertificateCheck | null>(null)
  const checking = useAction()
  const storing = useAction()
  const target = (fixedAlias ?? alias).trim()

  const check = async (e: Event) => {
    e.preventDefault()
    setChecked(null)
    storing.clear()
    const answer = await checking.run(() =>
      call<CertificateCheck>(`/keystore/entries/${seg(target)}/check`, {
        method: 'POST',
        body: upload!.pem,
        type: 'application/x-pem-file',
      }),
    )
    if (answer) setChecked(answer.data)
  }
  const store = async () => {
    if (!checked) return
    const condition: Record<string, string> =
      checked.currentVersion === null ? { 'if-none-match': '*' } : { 'if-match': `"${checked.currentVersion}"` }
    const answer = await storing.run(() =>
      call(`/keystore/entries/${seg(target)}`, {
        method: 'PUT',
        body: upload!.pem,
        type: 'application/x-pem-file',
        headers: condition,
      }),
    )
    if (answer) onStored(target)
  }
  const c = checked?.certificate
  return (
    <div class="upload">
      <form onSubmit={check}>
        {fixedAlias ? null : (
          <Field label="Alias" id="up-alias" hint="The name encryptors use for this receiver, e.g. partner-ag-2027.">
            <input
              id="up-alias"
              required
              maxLength={250}
              value={alias}
              onInput={(e) => {
                setAlias((e.currentTarget as HTMLInputElement).value)
                setChecked(null)
              }}
            />
          </Field>
        )}
        <CertificateInput
          id="up-cert"
          value={upload}
          problem={checking.problem}
          onChange={(u) => {
            setUpload(u)
            setChecked(null)
          }}
        />
        <ProblemBox problem={checking.problem} id="up-problem" />
        <button type="submit" disabled={checking.busy || !upload || !target}>
          Check certificate
        </button>
      </form>
      {checked && c ? (
        <section class="checked" aria-labelledby="up-checked">
          <h2 id="up-checked">
            {checked.action === 'create'
              ? `New alias ${checked.alias}`
              : checked.action === 'replace'
                ? `Replaces the certificate of ${checked.alias} (version ${checked.currentVersion})`
                : `${checked.alias} already holds this certificate`}
          </h2>
          <dl class="details">
            <dt>Subject</dt>
            <dd class="dn">{c.subject}</dd>
            <dt>Issuer</dt>
            <dd class="dn">{c.issuer}</dd>
            <dt>Serial</dt>
            <dd class="mono">{c.serialNumber}</dd>
            <dt>Key</dt>
            <dd>{keyText(c.publicKey)}</dd>
            <dt>Valid</dt>
            <dd>
              {date(c.notBefore)} – {date(c.notAfter)} <DaysLeft days={c.daysUntilExpiry} warningDays={warningDays} />
            </dd>
            <dt>SHA-256</dt>
            <dd class="mono">{c.sha256Fingerprint}</dd>
            <dt>Used by</dt>
            <dd>{checked.usedBy.length ? checked.usedBy.join(', ') : 'no encryptor yet'}</dd>
          </dl>
          <h3>Checks</h3>
          <ul class="checks">
            {checked.checks.map((k) => (
              <li key={k.name} class={k.passed ? 'check-passed' : 'check-failed'}>
                <span aria-hidden="true">{k.passed ? '✓ ' : '✗ '}</span>
                {k.detail || k.name}
              </li>
            ))}
          </ul>
          {checked.warnings.length ? (
            <ul class="warnings">
              {checked.warnings.map((w) => (
                <li key={w}>{w}</li>
              ))}
            </ul>
          ) : null}
          <ProblemBox problem={storing.problem} id="up-store-problem" />
          {checked.action === 'unchanged' ? null : (
            <button type="button" onClick={store} disabled={storing.busy}>
              {checked.action === 'create' ? 'Store certificate' : 'Replace certificate'}
            </button>
          )}
        </section>
      ) : null}
    </div>
  )
}

/** #/keystore/+new: store a certificate under a new alias. */
export function UploadView({ can }: ViewProps) {
  const warningDays = useLoad(loadWarningDays, [])
  return (
    <section>
      <h1 tabIndex={-1}>Upload a certificate</h1>
      <p>
        <a href={href('keystore')}>Back to the keystore</a>
      </p>
      {can.changesKeystore ? (
        <CertificateUploadForm warningDays={warningDays.data ?? 30} onStored={(alias) => navigate('keystore', alias)} />
      ) : (
        <p>Only a tenant-admin token can change the keystore.</p>
      )}
    </section>
  )
}
