import { execFile } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { buildTestApp, TOKENS } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { issueCertificate } from '../helpers/pki.js'
import { putCertificate } from '../helpers/requests.js'

const run = promisify(execFile)
const README = new URL('../../README.md', import.meta.url)
const RENEWALS = new URL('../../docs/renewals.md', import.meta.url)

/** The first fenced block of `lang` after the heading `heading` (a line of its own) in `markdown`. */
function block(markdown: string, heading: string, lang: string): string | undefined {
  const at = markdown.indexOf(`\n${heading}\n`)
  if (at < 0) return undefined
  return new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(markdown.slice(at))?.[1]
}

/**
 * Runs documented shell lines as they are written, in `dir`, against the app at `url` instead of
 * 127.0.0.1:8080. curl fails on an HTTP error here, so a refused request fails the block; the README's
 * own commands are not changed.
 */
async function runShell(dir: string, url: string, script: string) {
  const prelude = [
    'set -euo pipefail',
    'curl() { command curl -sS --fail-with-body "$@"; }',
    // The tokens the README reads from data/bootstrap-tokens.json.
    `ADMIN=${TOKENS['tenant-admin']} DEV=${TOKENS['integration-developer']} FLOW=${TOKENS['integration-flow']}`,
  ].join('\n')
  return run('bash', ['-c', `${prelude}\n${script.replaceAll('http://127.0.0.1:8080', url)}`], {
    cwd: dir,
    maxBuffer: 16 << 20,
  })
}

/**
 * The README's sign-then-encrypt example and the signer-key walk-through of docs/renewals.md, run as
 * written (openssl, jq, curl, node) against a listening app: the key pair is imported as PEM and as
 * PKCS#12, the encryptor signs, and the receiver's decrypt, wrap (the README's wrap-signed-data.mjs) and
 * verify give back the payload; then the renewal moves the signer to a new key the receiver trusts.
 */
t.test("the README's signing example and the signer-key walk-through run as written", async (t) => {
  const readme = readFileSync(README, 'utf8')
  const signing = block(readme, '## Sign, then encrypt', 'sh')
  const wrap = /```js\n(\/\/ wrap-signed-data\.mjs[\s\S]*?)```/.exec(readme)?.[1]
  const renewal = block(readFileSync(RENEWALS, 'utf8'), '## Renewing our signing key: signer-key', 'sh')
  t.ok(signing && wrap && renewal, 'the README and docs/renewals.md hold the blocks')

  const app = await buildTestApp(t)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const dir = t.testdir()
  // What the README's first example left behind: the receiver's key pair, partner-ag, an order.
  const partner = await issueCertificate('readme-partner')
  writeFileSync(join(dir, 'partner.key'), partner.keyPem, { mode: 0o600 })
  writeFileSync(join(dir, 'partner.crt'), partner.pem)
  await putCertificate(app, 'partner-ag', partner)
  const order = '<order id="42"/>\n'
  writeFileSync(join(dir, 'order.xml'), order)
  writeFileSync(join(dir, 'wrap-signed-data.mjs'), wrap!)

  await runShell(dir, url, signing!)
  t.equal(readFileSync(join(dir, 'order.verified.xml'), 'utf8'), order, 'decrypted, wrapped and verified')
  const monitor = asRoleOn(app)('monitor')
  const keyPair = (await monitor.get('/keystore/key-pairs/orders-signer')).json()
  t.match(keyPair, { version: 1, history: [], usedBy: ['orders-to-partner'], keyType: { algorithm: 'EC' } })
  t.same(keyPair.history, [], 'the PKCS#12 of the same key pair changed nothing, as the README says')
  t.match((await monitor.get('/encryptors/orders-to-partner')).json().signer, {
    alias: 'orders-signer',
    digest: 'sha256',
    signature: 'ecdsa',
    includeCertificates: 'signer',
    signerIdentifier: 'issuer-serial',
  })
  // The recipe can fail: another self-signed certificate does not verify the message.
  await runShell(
    dir,
    url,
    'openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key -out other.crt ' +
      '-subj "/CN=Orders signer" -days 365 2>/dev/null',
  )
  await t.rejects(
    runShell(dir, url, 'openssl cms -verify -binary -inform DER -in order.p7s -CAfile other.crt -out /dev/null'),
    'not verified with a certificate the receiver was not given',
  )

  await runShell(dir, url, renewal!)
  t.equal(readFileSync(join(dir, 'order-2027.verified.xml'), 'utf8'), order, 'signed with the new key, verified')
  t.equal((await monitor.get('/keystore/key-pairs/orders-signer')).statusCode, 404, 'the old key pair is gone')
  t.equal((await monitor.get('/encryptors/orders-to-partner')).json().signer.alias, 'orders-signer-2027')
  const renewals = (await monitor.get('/renewals?encryptorId=orders-to-partner')).json().renewals
  t.match(renewals, [{ procedure: 'signer-key', state: 'completed' }])
  await t.rejects(
    runShell(dir, url, 'openssl cms -verify -binary -inform DER -in order-2027.p7s -CAfile orders-signer.crt'),
    'the new key does not verify with the old certificate alone',
  )
})
