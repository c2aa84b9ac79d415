import type { Selectable } from 'kysely'
import type { Role } from '../auth/tokens.js'
import type { ReceiverCertificate } from '../cms/certificate.js'
import { storedCertificate } from '../store/receiver-certificates.js'
import type { Database, Executor } from '../store/schema.js'
import type { Procedure, RenewalState, StepName } from './procedures.js'

export interface StepLogEntry {
  name: StepName
  at: string
  by: string
  role: Role
  comment?: string
}

export interface Renewal {
  id: string
  procedure: Procedure
  encryptorId: string
  currentAlias: string
  newAlias: string | null
  state: RenewalState
  done: number
  stepLog: StepLogEntry[]
  /** The receiver's new certificate, DER, and its SHA-256. */
  certificate: Buffer
  certificateFingerprint: string
  downtime: { start: string; end: string } | null
  createdBy: string
  createdAt: string
  updatedAt: string
}

function toRenewal(row: Selectable<Database['renewals']>): Renewal {
  return {
    id: row.id,
    procedure: row.procedure as Procedure,
    encryptorId: row.encryptor_id,
    currentAlias: row.current_alias,
    newAlias: row.new_alias,
    state: row.state as RenewalState,
    done: row.done_steps,
    stepLog: JSON.parse(row.step_log) as StepLogEntry[],
    certificate: Buffer.from(row.certificate),
    certificateFingerprint: row.certificate_fingerprint,
    downtime: row.downtime_start && row.downtime_end ? { start: row.downtime_start, end: row.downtime_end } : null,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

/** The renewal's new certificate, parsed (once per process, like every stored certificate). */
export const newCertificateOf = (r: Renewal): ReceiverCertificate =>
  storedCertificate({ certificate: r.certificate, sha256_fingerprint: r.certificateFingerprint })

export const renewalRepository = {
  async find(db: Executor, id: string): Promise<Renewal | undefined> {
    const row = await db.selectFrom('renewals').selectAll().where('id', '=', id).executeTakeFirst()
    return row && toRenewal(row)
  },

  async list(db: Executor, filter: { state?: RenewalState; encryptorId?: string }): Promise<Renewal[]> {
    let q = db.selectFrom('renewals').selectAll().orderBy('created_at', 'desc').orderBy('id')
    if (filter.state) q = q.where('state', '=', filter.state)
    if (filter.encryptorId) q = q.where('encryptor_id', '=', filter.encryptorId)
    return (await q.execute()).map(toRenewal)
  },

  async insert(db: Executor, r: Renewal): Promise<void> {
    await db
      .insertInto('renewals')
      .values({
        id: r.id,
        procedure: r.procedure,
        encryptor_id: r.encryptorId,
        current_alias: r.currentAlias,
        new_alias: r.newAlias,
        state: r.state,
        done_steps: r.done,
        step_log: JSON.stringify(r.stepLog),
        certificate: r.certificate,
        certificate_fingerprint: r.certificateFingerprint,
        downtime_start: r.downtime?.start ?? null,
        downtime_end: r.downtime?.end ?? null,
        created_by: r.createdBy,
        created_at: r.createdAt,
        updated_at: r.updatedAt,
      })
      .execute()
  },

  /**
   * Records progress only if nobody else did since `expectedDone` was read (compare-and-set), so of
   * two replicas or requests taking the same step, exactly one applies it.
   */
  async advance(db: Executor, r: Renewal, expectedDone: number): Promise<boolean> {
    const result = await db
      .updateTable('renewals')
      .set({ state: r.state, done_steps: r.done, step_log: JSON.stringify(r.stepLog), updated_at: r.updatedAt })
      .where('id', '=', r.id)
      .where('done_steps', '=', expectedDone)
      .where('state', '=', 'active')
      .executeTakeFirst()
    return Number(result.numUpdatedRows) === 1
  },
}
