import { useState } from 'preact/hooks'
import type { Problem } from './api'
import { Field } from './ui'

/** A certificate as the person gave it: pasted PEM, or a file (PEM or DER). */
export interface CertificateUpload {
  /** The PEM text (a DER file is converted), as JSON bodies need it. */
  pem: string
  /** Where it came from, for the person to see. */
  source: string
}

const PEM_BEGIN = '-----BEGIN'

function derToPem(bytes: Uint8Array): string {
  let binary = ''
  for (const b of bytes) binary += String.fromCharCode(b)
  const lines = btoa(binary).match(/.{1,64}/g) ?? []
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`
}

/** A certificate file's text: PEM as it is, DER converted to PEM. */
export async function readCertificateFile(file: File): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer())
  const head = new TextDecoder().decode(bytes.slice(0, 64))
  return head.includes(PEM_BEGIN) ? new TextDecoder().decode(bytes) : derToPem(bytes)
}

/**
 * Paste a PEM or pick a file: either fills the same text area, so what is sent is always in view.
 * Nothing is checked here: the service checks (and says why it refuses) before anything is stored.
 */
export function CertificateInput({
  id,
  value,
  onChange,
  problem,
  name = 'certificate',
}: {
  id: string
  value: CertificateUpload | null
  onChange: (upload: CertificateUpload | null) => void
  problem?: Problem | null
  name?: string
}) {
  const [fileProblem, setFileProblem] = useState<string | null>(null)
  return (
    <fieldset class="certificate-input">
      <legend>Certificate</legend>
      <Field
        label="Certificate file (PEM or DER)"
        id={`${id}-file`}
        hint="A .pem, .crt, .cer or .der file holding one certificate, never a private key."
      >
        <input
          id={`${id}-file`}
          type="file"
          accept=".pem,.crt,.cer,.der,application/x-pem-file,application/pkix-cert"
          onChange={async (e) => {
            const file = (e.currentTarget as HTMLInputElement).files?.[0]
            if (!file) return
            try {
              setFileProblem(null)
              onChange({ pem: await readCertificateFile(file), source: file.name })
            } catch (err) {
              setFileProblem(`The file could not be read: ${(err as Error).message}`)
            }
          }}
        />
      </Field>
      {fileProblem ? (
        <p class="field-problem" role="alert">
          {fileProblem}
        </p>
      ) : null}
      <Field label="Or paste the certificate (PEM)" id={`${id}-pem`} problem={problem} name={name}>
        <textarea
          id={`${id}-pem`}
          rows={6}
          spellcheck={false}
          placeholder="-----BEGIN CERTIFICATE-----"
          value={value?.pem ?? ''}
          onInput={(e) => {
            const pem = (e.currentTarget as HTMLTextAreaElement).value
            onChange(pem.trim() ? { pem, source: 'pasted' } : null)
          }}
        />
      </Field>
    </fieldset>
  )
}
