/**
 * `npm run fuzz`: the long property-based run (fast-check). FUZZ_UPLOADS (10,000) fuzzed certificate
 * uploads must never answer 5xx; FUZZ_EXTENSIONS (1,000) signed certificates with a garbled keyUsage or
 * subjectKeyIdentifier must each answer 400 CMS_CERTIFICATE_MALFORMED; FUZZ_ENCRYPTS (1,000) random
 * option combinations and payloads must each decrypt in OpenSSL. FUZZ_SEED replays a run. The test
 * suite runs a seeded slice of this (fuzz.test.ts beside it). Test tooling, so it lives in test/:
 * scripts/ import no test helpers.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp } from '../../src/app.js'
import { testConfig, testTokens } from '../helpers/app.js'
import { encryptProperty, garbledExtensionProperty, uploadProperty } from '../helpers/fuzz.js'
import { issueCertificate } from '../helpers/pki.js'
import { putCertificate } from '../helpers/requests.js'

const uploads = Number(process.env.FUZZ_UPLOADS ?? 10_000)
const extensions = Number(process.env.FUZZ_EXTENSIONS ?? 1_000)
const encrypts = Number(process.env.FUZZ_ENCRYPTS ?? 1_000)
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31)
const dir = mkdtempSync(join(tmpdir(), 'cms-fuzz-'))
const app = await createApp(testConfig({ DATA_DIR: dir }), { tokens: testTokens(), logger: false })
let failures: string[]
try {
  let started = performance.now()
  const valid = await issueCertificate('fuzz-valid')
  failures = await uploadProperty(app, valid.der, uploads, seed).catch((e: Error) => [e.message.split('\n')[0]!])
  console.log(
    `uploads: ${uploads} cases, seed ${seed}, ${failures.length} failures, ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s`,
  )
  started = performance.now()
  const extensionFailures = await garbledExtensionProperty(app, extensions, seed).catch((e: Error) => [
    e.message.split('\n')[0]!,
  ])
  console.log(
    `garbled extensions: ${extensions} cases, seed ${seed}, ${extensionFailures.length} failures, ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s`,
  )
  failures.push(...extensionFailures)
  const receivers = {
    rsa: await issueCertificate('fuzz-rsa'),
    ec: await issueCertificate('fuzz-ec', { key: 'ec-p384' }),
  }
  for (const [alias, cert] of Object.entries(receivers)) await putCertificate(app, alias, cert)
  started = performance.now()
  const encryptFailures = await encryptProperty(app, receivers, encrypts, seed).catch((e: Error) => [
    e.message.split('\n')[0]!,
  ])
  console.log(
    `encrypts: ${encrypts} cases, seed ${seed}, ${encryptFailures.length} failures, ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s`,
  )
  failures.push(...encryptFailures)
} finally {
  await app.close()
  rmSync(dir, { recursive: true, force: true })
}
for (const f of failures.slice(0, 20)) console.log(`  ${f}`)
process.exit(failures.length ? 1 : 0)
