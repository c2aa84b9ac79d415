import { useEffect, useState } from 'preact/hooks'
import type { Problem } from './api'
import { readCertificateFile } from './certificate-input'
import type { KeyPairUpload } from './types'
import { Field } from './ui'

type Shape = 'pem' | 'pkcs12'
type Part = 'privateKey' | 'certificateChain' | 'pkcs12' | 'password'

/**
 * The part of the upload a domain error is about (the codes of the key-pair import, src/errors.ts), so
 * it is shown beside that field; a validation error names its part by its pointer (/keyPair/privateKey).
 */
const PART_OF_CODE: Record<Shape, Record<string, Part>> = {
  pem: {
    CMS_KEY_PAIR_MALFORMED: 'privateKey',
    CMS_KEY_PAIR_MISMATCH: 'privateKey',
    CMS_KEY_ALGORITHM_UNSUPPORTED: 'privateKey',
    CMS_KEY_TOO_WEAK: 'privateKey',
    CMS_SIGNATURE_SCHEME_MISMATCH: 'privateKey',
    CMS_CERTIFICATE_MALFORMED: 'certificateChain',
    CMS_KEY_USAGE_FORBIDS_SIGNING: 'certificateChain',
    CMS_CERTIFICATE_EXPIRED: 'certificateChain',
    CMS_RENEWAL_INVALID: 'certificateChain',
  },
  pkcs12: {
    CMS_PKCS12_PASSWORD_INCORRECT: 'password',
    CMS_PKCS12_UNSUPPORTED: 'pkcs12',
    CMS_PKCS12_KEY_COUNT: 'pkcs12',
    CMS_KEY_PAIR_MALFORMED: 'pkcs12',
    CMS_KEY_PAIR_MISMATCH: 'pkcs12',
    CMS_KEY_ALGORITHM_UNSUPPORTED: 'pkcs12',
    CMS_KEY_TOO_WEAK: 'pkcs12',
    CMS_SIGNATURE_SCHEME_MISMATCH: 'pkcs12',
    CMS_CERTIFICATE_MALFORMED: 'pkcs12',
    CMS_KEY_USAGE_FORBIDS_SIGNING: 'pkcs12',
    CMS_CERTIFICATE_EXPIRED: 'pkcs12',
    CMS_RENEWAL_INVALID: 'pkcs12',
  },
}

function saidAbout(problem: Problem | null | undefined, shape: Shape, part: Part): string | null {
  if (!problem) return null
  return problem.about(`keyPair/${part}`) ?? (PART_OF_CODE[shape][problem.code] === part ? problem.detail : null)
}

function base64(bytes: Uint8Array): string {
  let binary = ''
  for (const b of bytes) binary += String.fromCharCode(b)
  return btoa(binary)
}

/** A file's text into a text area's value, or what went wrong reading it. */
function PemFile({
  id,
  label,
  hint,
  accept,
  read,
  onRead,
}: {
  id: string
  label: string
  hint: string
  accept: string
  read: (file: File) => Promise<string>
  onRead: (text: string) => void
}) {
  const [problem, setProblem] = useState<string | null>(null)
  return (
    <>
      <Field label={label} id={id} hint={hint}>
        <input
          id={id}
          type="file"
          accept={accept}
          onChange={async (e) => {
            const file = (e.currentTarget as HTMLInputElement).files?.[0]
            if (!file) return
            try {
              setProblem(null)
              onRead(await read(file))
            } catch (err) {
              setProblem(`The file could not be read: ${(err as Error).message}`)
            }
          }}
        />
      </Field>
      {problem ? (
        <p class="field-problem" role="alert">
          {problem}
        </p>
      ) : null}
    </>
  )
}

/**
 * Our own key pair, as the key-pair import takes it: a PEM private key and its certificate chain
 * (picked as files or pasted, each into a text area so what is sent is in view), or a PKCS#12 file and
 * its password. Nothing is checked here: the service checks every part and says why it refuses.
 */
export function KeyPairInput({
  id,
  onChange,
  problem,
}: {
  id: string
  onChange: (upload: KeyPairUpload | null) => void
  problem?: Problem | null
}) {
  const [shape, setShape] = useState<Shape>('pem')
  const [privateKey, setPrivateKey] = useState('')
  const [certificateChain, setCertificateChain] = useState('')
  const [pkcs12, setPkcs12] = useState<{ base64: string; name: string } | null>(null)
  const [password, setPassword] = useState('')

  useEffect(() => {
    if (shape === 'pem')
      onChange(privateKey.trim() && certificateChain.trim() ? { privateKey, certificateChain } : null)
    else onChange(pkcs12 ? { pkcs12: pkcs12.base64, password } : null)
  }, [shape, privateKey, certificateChain, pkcs12?.base64, password])

  const said = (part: Part) => saidAbout(problem, shape, part)
  return (
    <fieldset class="key-pair-input">
      <legend>The new key pair</legend>
      <fieldset class="choice">
        <legend>Given as</legend>
        <label>
          <input
            type="radio"
            name={`${id}-shape`}
            value="pem"
            checked={shape === 'pem'}
            onChange={() => setShape('pem')}
          />{' '}
          PEM private key and certificate chain
        </label>
        <label>
          <input
            type="radio"
            name={`${id}-shape`}
            value="pkcs12"
            checked={shape === 'pkcs12'}
            onChange={() => setShape('pkcs12')}
          />{' '}
          PKCS#12 file and its password
        </label>
      </fieldset>
      {shape === 'pem' ? (
        <>
          <PemFile
            id={`${id}-key-file`}
            label="Private key file (PEM)"
            hint="Unencrypted (PRIVATE KEY, RSA or EC PRIVATE KEY); sealed at rest and never shown again."
            accept=".pem,.key,application/x-pem-file"
            read={(file) => file.text()}
            onRead={setPrivateKey}
          />
          <Field label="Or paste the private key (PEM)" id={`${id}-key`} problem={problem} said={said('privateKey')}>
            <textarea
              id={`${id}-key`}
              rows={5}
              spellcheck={false}
              autocomplete="off"
              placeholder="-----BEGIN PRIVATE KEY-----"
              value={privateKey}
              onInput={(e) => setPrivateKey((e.currentTarget as HTMLTextAreaElement).value)}
            />
          </Field>
          <PemFile
            id={`${id}-chain-file`}
            label="Certificate chain file (PEM)"
            hint="The signer certificate first, then each issuer; it must be the certificate the renewal announced."
            accept=".pem,.crt,.cer,.der,application/x-pem-file,application/pkix-cert"
            read={readCertificateFile}
            onRead={setCertificateChain}
          />
          <Field
            label="Or paste the certificate chain (PEM)"
            id={`${id}-chain`}
            problem={problem}
            said={said('certificateChain')}
          >
            <textarea
              id={`${id}-chain`}
              rows={5}
              spellcheck={false}
              placeholder="-----BEGIN CERTIFICATE-----"
              value={certificateChain}
              onInput={(e) => setCertificateChain((e.currentTarget as HTMLTextAreaElement).value)}
            />
          </Field>
        </>
      ) : (
        <>
          <Field
            label="PKCS#12 file (.p12, .pfx)"
            id={`${id}-p12`}
            problem={problem}
            said={said('pkcs12')}
            hint={pkcs12 ? `Chosen: ${pkcs12.name}` : 'One private key with its certificate and chain.'}
          >
            <input
              id={`${id}-p12`}
              type="file"
              accept=".p12,.pfx,application/x-pkcs12"
              onChange={async (e) => {
                const file = (e.currentTarget as HTMLInputElement).files?.[0]
                setPkcs12(file ? { base64: base64(new Uint8Array(await file.arrayBuffer())), name: file.name } : null)
              }}
            />
          </Field>
          <Field label="PKCS#12 password" id={`${id}-password`} problem={problem} said={said('password')}>
            <input
              id={`${id}-password`}
              type="password"
              autocomplete="off"
              value={password}
              onInput={(e) => setPassword((e.currentTarget as HTMLInputElement).value)}
            />
          </Field>
        </>
      )}
    </fieldset>
  )
}
