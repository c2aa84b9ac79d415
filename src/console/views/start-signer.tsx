import { useEffect, useState } from 'preact/hooks'
import { call } from '../api'
import { CertificateInput, type CertificateUpload } from '../certificate-input'
import type { KeyPairRow } from '../data'
import { navigate } from '../route'
import type { Encryptor, Renewal } from '../types'
import { DaysLeft, Field, ProblemBox, date, useAction } from '../ui'

/** The alias after `alias`: its trailing year plus one (sig-2026 → sig-2027), else next year appended. */
export function nextAlias(alias: string, now = new Date()): string {
  const year = /^(.*\D)?(\d{4})$/.exec(alias)
  return year ? `${year[1] ?? ''}${Number(year[2]) + 1}` : `${alias}-${now.getFullYear() + 1}`
}

/**
 * The wizard's other branch: renew the key pair an encryptor signs with (the signer-key procedure).
 * There is nothing to ask about the receivers: they are given the new certificate to trust before the
 * encryptor signs with it. Started with the new signer certificate; its private key comes at the first
 * step (add-key-pair), on the renewal's page.
 */
export function StartSignerRenewal({
  encryptors,
  keyPairs,
  warningDays,
  initialEncryptorId,
}: {
  encryptors: Encryptor[] | undefined
  keyPairs: KeyPairRow[]
  warningDays: number
  initialEncryptorId: string
}) {
  const signing = (encryptors ?? []).filter((e) => e.signer)
  const [encryptorId, setEncryptorId] = useState(initialEncryptorId)
  const [newAlias, setNewAlias] = useState('')
  const [upload, setUpload] = useState<CertificateUpload | null>(null)
  const starting = useAction()
  const encryptor = signing.find((e) => e.id === encryptorId)
  const currentAlias = encryptor?.signer?.alias ?? ''
  const current = keyPairs.find((k) => k.alias === currentAlias)

  // Once the list is known: the encryptor chosen before, when it signs, else the only one that does.
  useEffect(() => {
    if (!encryptors || signing.some((e) => e.id === encryptorId)) return
    setEncryptorId(signing.length === 1 ? signing[0]!.id : '')
  }, [encryptors, signing.length])
  useEffect(() => setNewAlias(currentAlias ? nextAlias(currentAlias) : ''), [currentAlias])

  const submit = async (e: Event) => {
    e.preventDefault()
    const body = {
      procedure: 'signer-key',
      encryptorId,
      currentAlias,
      newAlias: newAlias.trim(),
      certificate: upload?.pem ?? '',
    }
    const answer = await starting.run(() => call<Renewal>('/renewals', { method: 'POST', json: body }))
    if (answer) navigate('renewals', answer.data.id)
  }

  return (
    <form onSubmit={submit} class="wizard">
      <fieldset>
        <legend>1. Which signing key?</legend>
        <Field
          label="Encryptor"
          id="wz-signer-encryptor"
          problem={starting.problem}
          name="encryptorId"
          hint="An encryptor that signs; its key pair is the one renewed."
        >
          <select
            id="wz-signer-encryptor"
            required
            value={encryptorId}
            onChange={(ev) => setEncryptorId((ev.currentTarget as HTMLSelectElement).value)}
          >
            <option value="">
              {!encryptors ? 'Loading…' : signing.length ? 'Choose an encryptor' : 'No encryptor signs'}
            </option>
            {signing.map((en) => (
              <option key={en.id} value={en.id}>
                {en.id} (signs with {en.signer!.alias})
              </option>
            ))}
          </select>
        </Field>
        <p class="current-key-pair">
          {currentAlias ? (
            <>
              Current key pair: <strong>{currentAlias}</strong>
              {current ? (
                <>
                  , valid until {date(current.certificate.notAfter)}{' '}
                  <DaysLeft days={current.daysUntilExpiry} warningDays={warningDays} />
                </>
              ) : null}
            </>
          ) : (
            <span class="muted">Choose an encryptor to see the key pair it signs with.</span>
          )}
        </p>
      </fieldset>
      <fieldset>
        <legend>2. The new key pair</legend>
        <p class="recommendation">
          Procedure <strong class="procedure">signer-key</strong>: the new key pair is stored under a new alias and its
          certificate handed to the receivers; only once they trust it does the encryptor sign with it, and the old key
          pair is removed last. Every message verifies with the certificates its receiver trusts when it arrives.
        </p>
        <Field
          label="New key pair alias"
          id="wz-signer-new-alias"
          problem={starting.problem}
          name="newAlias"
          hint="Where the new key pair is stored: a new alias, neither a receiver's nor a stored key pair's."
        >
          <input
            id="wz-signer-new-alias"
            required
            maxLength={250}
            value={newAlias}
            onInput={(ev) => setNewAlias((ev.currentTarget as HTMLInputElement).value)}
          />
        </Field>
        <p class="hint">
          The new signer certificate, the one the receivers will trust. Its private key is given at the renewal's first
          step, add-key-pair.
        </p>
        <CertificateInput id="wz-signer-cert" value={upload} onChange={setUpload} problem={starting.problem} />
        <ProblemBox problem={starting.problem} id="wz-problem" />
        <button type="submit" disabled={starting.busy || !currentAlias || !newAlias.trim() || !upload}>
          Start renewal
        </button>
      </fieldset>
    </form>
  )
}
