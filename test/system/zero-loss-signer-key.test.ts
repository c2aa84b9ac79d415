import t from 'tap'
import type { Role } from '../../src/auth/tokens.js'
import { auth } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { httpRequest } from '../helpers/http.js'
import { listeningEncryptApp } from '../helpers/listening.js'
import { opensslDecrypt } from '../helpers/openssl.js'
import { mapLimit } from '../helpers/pool.js'
import { startRenewal, takeStep } from '../helpers/renewals.js'
import { putEncryptor } from '../helpers/requests.js'
import { opensslVerify, type Trust } from '../helpers/signed.js'
import { signerPki, type TestSigner } from '../helpers/signer-pki.js'

/**
 * The signer-key renewal under load, like zero-loss-renewals.test.ts for the receiver procedures: a
 * listening service, CLIENTS encrypt clients on real sockets during the whole renewal, and a
 * simulated receiver whose trusted signer certificates change as the procedure lets it. The encryptor
 * sends no certificate (includeCertificates "none"), so a message verifies only with the signer
 * certificate the receiver trusts. Every message is decrypted and verified by OpenSSL with exactly
 * the trust the receiver held when the message arrived: not one may fail.
 *
 * The receiver's trust over time:
 *  - {old} until hand-over-certificate is done;
 *  - {old, new} from then on: it adds the new certificate when it receives it, before
 *    confirm-receivers-trust;
 *  - still {old, new} after the renewal completed. A receiver drops the old certificate later, on its
 *    own schedule: messages signed with the old key may still be in flight when remove-old-key-pair
 *    completes, and the old key pair's certificate remains valid (removing the private key from the
 *    service does not revoke what it signed).
 *
 * Nothing here is timed: the moments are points in a sequence of marks the test sets as it sends a
 * step and gets its answer, and each message records the mark current when its request went out and
 * when its response arrived.
 */
const CLIENTS = 4
/** Messages that arrive between one step's answer and the next step's request (and before/after). */
const PER_PHASE = 40
const STEPS: Array<{ step: string; role: Role }> = [
  { step: 'add-key-pair', role: 'tenant-admin' },
  { step: 'hand-over-certificate', role: 'tenant-admin' },
  { step: 'confirm-receivers-trust', role: 'tenant-admin' },
  { step: 'switch-signer', role: 'integration-developer' },
  { step: 'remove-old-key-pair', role: 'tenant-admin' },
]

type Held = 'old' | 'new'

interface Message {
  seq: number
  payload: string
  status: number
  body: Buffer
  signer?: string
  /** The receiver's trusted signer certificates when the response arrived. */
  held: Held[]
  /** The mark current when the request went out, and when its response arrived. */
  sentMark: number
  arrivedMark: number
}

/** Concurrent encrypt clients on sockets, the receiver's trust, and the marks the test sets. */
class Traffic {
  readonly messages: Message[] = []
  held: Held[] = ['old']
  private seq = 0
  private mark = 0
  private readonly marks = new Map<string, number>()
  private running = true
  private readonly loops: Promise<void>[]

  constructor(private readonly port: number) {
    this.loops = Array.from({ length: CLIENTS }, () => this.loop())
  }

  private async loop() {
    while (this.running) {
      const seq = this.seq++
      const payload = `order ${seq} ${'x'.repeat(seq % 97)}`
      const sentMark = this.mark
      const res = await httpRequest({
        port: this.port,
        method: 'POST',
        path: '/encryptors/orders/encrypt',
        headers: { ...auth('integration-flow'), 'content-type': 'application/octet-stream' },
        body: Buffer.from(payload),
      })
      this.messages.push({
        seq,
        payload,
        status: res.status,
        body: res.body,
        signer: res.headers['x-cms-signer'] as string | undefined,
        held: [...this.held],
        sentMark,
        arrivedMark: this.mark,
      })
    }
  }

  /** Sets a named mark: later requests and arrivals are after it. */
  set(name: string) {
    this.marks.set(name, ++this.mark)
  }

  at(name: string): number {
    const mark = this.marks.get(name)
    if (mark === undefined) throw new Error(`no mark ${name}`)
    return mark
  }

  /** Waits until `count` more messages have arrived. */
  async flow(count: number) {
    const target = this.messages.length + count
    while (this.messages.length < target) await new Promise((r) => setTimeout(r, 2))
  }

  async stop() {
    this.running = false
    await Promise.all(this.loops)
  }
}

t.test('zero loss under load: signer-key', async (t) => {
  // The listening app's RSA receiver certificate (alias "rsa") is the receiver's here.
  const { app, port, rsa: receiver } = await listeningEncryptApp(t)
  const pki = await signerPki()
  const signers: Record<Held, TestSigner> = {
    old: await pki.issue('load-sig-2026', { days: 200 }),
    new: await pki.issue('load-sig-2027', { key: 'ec-p256', days: 565 }),
  }
  const keyPairOf = (s: TestSigner) => ({ privateKey: s.keyPem, certificateChain: s.certPem + s.chainPem })
  const trusting = (held: Held[]): Trust => ({
    ca: [pki.rootPath, pki.intermediatePath],
    certfiles: held.map((h) => signers[h].certPath),
  })
  const stored = await asRoleOn(app)('tenant-admin').put('/keystore/key-pairs/sig-2026', keyPairOf(signers.old))
  t.equal(stored.statusCode, 201, 'the old key pair stored')
  const saved = await putEncryptor(app, 'orders', {
    receiverAliases: ['rsa'],
    signer: { alias: 'sig-2026', includeCertificates: 'none' },
  })
  t.equal(saved.statusCode, 201, 'orders signs with sig-2026, sending no certificate')
  const started = await startRenewal(app, {
    procedure: 'signer-key',
    encryptorId: 'orders',
    currentAlias: 'sig-2026',
    newAlias: 'sig-2027',
    certificate: signers.new.certPem,
  })
  t.equal(started.statusCode, 201, 'signer-key renewal started')
  const id = started.json().id

  const traffic = new Traffic(port)
  for (const { step, role } of STEPS) {
    await traffic.flow(PER_PHASE)
    traffic.set(`${step}:sent`)
    const res =
      step === 'add-key-pair'
        ? await asRoleOn(app)(role).post(`/renewals/${id}/steps/${step}`, { keyPair: keyPairOf(signers.new) })
        : await takeStep(app, id, step, role)
    t.equal(res.statusCode, 200, `${step}: ${res.statusCode === 200 ? 'taken' : res.body}`)
    // The receiver gets the new certificate with this step and trusts it from now on (adding a
    // certificate never breaks a message, so there is nothing to wait for).
    if (step === 'hand-over-certificate') traffic.held = ['old', 'new']
    traffic.set(`${step}:done`)
  }
  await traffic.flow(PER_PHASE)
  await traffic.stop()
  // Kept after completion: the receiver drops the old certificate later, on its own schedule.
  t.same(traffic.held, ['old', 'new'])

  // Phases by arrival: before the first step, and between one step's answer and the next step's
  // request (or the end). Messages that arrived while a step was being taken belong to none.
  const phases = [
    { name: 'before add-key-pair', from: 0, to: traffic.at('add-key-pair:sent') },
    ...STEPS.map(({ step }, i) => ({
      name: `after ${step}`,
      from: traffic.at(`${step}:done`),
      to: i + 1 < STEPS.length ? traffic.at(`${STEPS[i + 1]!.step}:sent`) : Infinity,
    })),
  ]
  const counts = phases.map(
    (p) => traffic.messages.filter((m) => m.arrivedMark >= p.from && m.arrivedMark < p.to).length,
  )
  phases.forEach((p, i) => t.ok(counts[i]! >= PER_PHASE, `${p.name}: ${counts[i]} messages (at least ${PER_PHASE})`))

  const completedBeforeAdd = (m: Message) => m.arrivedMark < traffic.at('add-key-pair:sent')
  const startedAfterSwitch = (m: Message) => m.sentMark >= traffic.at('switch-signer:done')
  const failures: string[] = []
  let verified = 0,
    oldAlone = 0,
    newAlone = 0
  const verifies = async (signedData: Buffer, held: Held[], payload: string) => {
    try {
      return (await opensslVerify(signedData, trusting(held))).toString() === payload
    } catch {
      return false
    }
  }
  await mapLimit(traffic.messages, 2, async (m) => {
    if (m.status !== 200) return failures.push(`#${m.seq}: status ${m.status} ${m.body.toString().slice(0, 200)}`)
    let signedData: Buffer
    try {
      signedData = await opensslDecrypt(m.body, receiver)
    } catch (err) {
      return failures.push(`#${m.seq}: the receiver cannot decrypt it: ${String(err).slice(0, 200)}`)
    }
    if (await verifies(signedData, m.held, m.payload)) verified++
    else failures.push(`#${m.seq}: does not verify with {${m.held.join(', ')}} held at its arrival (${m.signer})`)
    // Before add-key-pair only the old key exists; after the switch only the new key signs.
    if (completedBeforeAdd(m)) {
      if (await verifies(signedData, ['old'], m.payload)) oldAlone++
      else failures.push(`#${m.seq}: completed before add-key-pair, does not verify with {old} alone`)
      if (await verifies(signedData, ['new'], m.payload)) failures.push(`#${m.seq}: verifies with {new} alone`)
    }
    if (startedAfterSwitch(m)) {
      if (await verifies(signedData, ['new'], m.payload)) newAlone++
      else failures.push(`#${m.seq}: sent after switch-signer, does not verify with {new} alone (${m.signer})`)
      if (await verifies(signedData, ['old'], m.payload)) failures.push(`#${m.seq}: verifies with {old} alone`)
      if (m.signer !== 'sig-2027') failures.push(`#${m.seq}: X-Cms-Signer ${m.signer} after the switch`)
    }
  })
  t.same(failures, [], 'signer-key: every message decrypts and verifies with the trust held at its arrival')
  t.equal(verified, traffic.messages.length, `each of the ${traffic.messages.length} messages verified`)
  t.equal(oldAlone, traffic.messages.filter(completedBeforeAdd).length, 'before add-key-pair: {old} alone')
  t.equal(newAlone, traffic.messages.filter(startedAfterSwitch).length, 'sent after switch-signer: {new} alone')
  t.ok(oldAlone >= PER_PHASE && newAlone >= 2 * PER_PHASE - CLIENTS, `${oldAlone} and ${newAlone} messages`)

  const bySigner = (alias: string) => traffic.messages.filter((m) => m.signer === alias).length
  t.comment(
    `signer-key: ${traffic.messages.length} messages (${counts.join(' / ')} per phase), ${verified} verified, ` +
      `${bySigner('sig-2026')} signed by sig-2026, ${bySigner('sig-2027')} by sig-2027, ${failures.length} failures`,
  )
  const renewal = (await asRoleOn(app)('monitor').get(`/renewals/${id}`)).json()
  t.equal(renewal.state, 'completed')
  t.equal((await asRoleOn(app)('monitor').get('/encryptors/orders')).json().signer.alias, 'sig-2027')
  t.equal((await asRoleOn(app)('monitor').get('/keystore/key-pairs/sig-2026')).statusCode, 404, 'old key pair gone')
})
