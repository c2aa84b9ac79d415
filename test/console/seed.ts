import { execFile, execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Test } from 'tap'
import { storeDir, TOKENS } from '../helpers/app.js'
import { opensslDecrypt } from '../helpers/openssl.js'
import type { TestCertificate } from '../helpers/pki.js'
import type { Replica } from '../helpers/replica.js'

const run = promisify(execFile)

/** A receiver's certificate for encryption (keyEncipherment, an SKI, not a CA), as OpenSSL writes one. */
const RECEIVER_CONFIG = `[req]
distinguished_name = dn
x509_extensions = receiver
prompt = no
[dn]
[receiver]
basicConstraints = critical, CA:FALSE
keyUsage = critical, keyEncipherment
subjectKeyIdentifier = hash
`

/** A self-signed RSA-2048 receiver certificate and its private key, made by the OpenSSL CLI in `dir`. */
export function opensslReceiver(dir: string, name: string, days = 365): TestCertificate {
  const config = join(dir, 'receiver.cnf')
  writeFileSync(config, RECEIVER_CONFIG)
  const keyPath = join(dir, `${name}.key.pem`)
  const certPath = join(dir, `${name}.crt`)
  execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', keyPath], {
    stdio: 'ignore',
  })
  execFileSync('openssl', [
    'req',
    '-x509',
    '-config',
    config,
    '-key',
    keyPath,
    '-subj',
    `/CN=${name}/O=cms-encryptor console test`,
    '-days',
    String(days),
    '-out',
    certPath,
  ])
  const pem = readFileSync(certPath, 'utf8')
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64')
  return { name, der, pem, certPath, keyPath, keyPem: readFileSync(keyPath, 'utf8') }
}

export function receivers(t: Test, ...names: string[]): TestCertificate[] {
  const dir = storeDir(t, 'cms-console-pki-')
  return names.map((name) => opensslReceiver(dir, name))
}

/** An API call with a role's token that must answer 2xx: its JSON (or text). */
export async function api<T = Record<string, unknown>>(
  service: Replica,
  role: keyof typeof TOKENS,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(service.url(path), {
    method,
    headers: {
      authorization: `Bearer ${TOKENS[role]}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${path} as ${role}: ${res.status} ${text}`)
  return (res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) as T
}

/** GET that answers the status, for checks that something is absent. */
export async function status(service: Replica, path: string): Promise<number> {
  const res = await fetch(service.url(path), { headers: { authorization: `Bearer ${TOKENS.monitor}` } })
  await res.arrayBuffer()
  return res.status
}

export interface Message {
  payload: string
  cms: Buffer
  /** X-Cms-Recipients, as the service sent it. */
  header: string
}

/** Encrypts a fresh payload with the integration-flow token (DER). */
export async function encrypt(service: Replica, encryptorId: string): Promise<Message> {
  const payload = `console journey ${Math.random()}`
  const res = await fetch(service.url(`/encryptors/${encryptorId}/encrypt`), {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKENS['integration-flow']}`, 'content-type': 'application/octet-stream' },
    body: payload,
  })
  const cms = Buffer.from(await res.arrayBuffer())
  if (res.status !== 200) throw new Error(`encrypt ${encryptorId}: ${res.status} ${cms.toString()}`)
  return { payload, cms, header: res.headers.get('x-cms-recipients') ?? '' }
}

/**
 * The RecipientInfos of a message as OpenSSL prints them, named by the receiver whose certificate's
 * identifier (subjectKeyIdentifier, or issuer serial number) each one carries.
 */
export async function recipientInfos(dir: string, message: Message, known: TestCertificate[]): Promise<string[]> {
  const file = join(dir, `message-${Math.random().toString(36).slice(2)}.der`)
  writeFileSync(file, message.cms)
  const { stdout } = await run('openssl', ['cms', '-cmsout', '-print', '-inform', 'DER', '-in', file])
  const infos = stdout.split(/\n\s*d\.ktri:/).slice(1)
  const ids = await Promise.all(
    known.map(async (c) => {
      const { stdout: text } = await run('openssl', [
        'x509',
        '-in',
        c.certPath,
        '-noout',
        '-ext',
        'subjectKeyIdentifier',
        '-serial',
      ])
      const ski = /Identifier:\s*\n\s*([0-9A-F:]+)/.exec(text)?.[1]?.replace(/:/g, '').toLowerCase() ?? '?'
      const serial = /serial=([0-9A-F]+)/.exec(text)?.[1]?.toLowerCase() ?? '?'
      return { name: c.name, ski, serial }
    }),
  )
  return infos.map((info) => {
    const flat = info.replace(/[\s:-]/g, '').toLowerCase()
    const match = ids.find((id) => flat.includes(id.ski) || flat.includes(`serialnumber0x${id.serial}`))
    return match?.name ?? 'unknown'
  })
}

/** Whether `receiver`'s key opens the message (openssl cms -decrypt finds its RecipientInfo by the certificate). */
export async function opensWith(message: Message, receiver: TestCertificate): Promise<boolean> {
  try {
    return (await opensslDecrypt(message.cms, receiver)).toString() === message.payload
  } catch {
    return false
  }
}

/**
 * The keystore and encryptors most console tests start from: partner-ag for orders-to-partner, spare
 * for invoices, and an add-alias renewal of partner-ag to partner-ag-2027 waiting for the developer's
 * add-alias step.
 */
export async function seedRenewalAwaitingDeveloper(t: Test, service: Replica) {
  const [partner, partnerNext, spare] = receivers(t, 'partner-ag-2026', 'partner-ag-2027', 'spare-2026')
  await api(service, 'tenant-admin', 'PUT', '/keystore/entries/partner-ag', { certificate: partner!.pem })
  await api(service, 'tenant-admin', 'PUT', '/keystore/entries/spare', { certificate: spare!.pem })
  await api(service, 'integration-developer', 'PUT', '/encryptors/orders-to-partner', {
    receiverAliases: ['partner-ag'],
  })
  await api(service, 'integration-developer', 'PUT', '/encryptors/invoices', { receiverAliases: ['spare'] })
  const renewal = await api<{ id: string }>(service, 'tenant-admin', 'POST', '/renewals', {
    procedure: 'add-alias',
    encryptorId: 'orders-to-partner',
    currentAlias: 'partner-ag',
    newAlias: 'partner-ag-2027',
    certificate: partnerNext!.pem,
  })
  await api(service, 'tenant-admin', 'POST', `/renewals/${renewal.id}/steps/add-certificate`)
  return { partner: partner!, partnerNext: partnerNext!, spare: spare!, renewalId: renewal.id }
}
