import type { MutationContext } from '../audit/audit.js'
import type { ReceiverCertificate } from '../cms/certificate.js'
import { certificateFields } from '../webhooks/certificate-fields.js'
import { orderingKeyOf, publishEvent } from '../webhooks/outbox.js'

/** One change of what an alias holds, as `keystore.changed` (a receiver certificate) or `key-pair.changed` tell it. */
export interface AliasChange {
  type: 'keystore.changed' | 'key-pair.changed'
  /** The audit target, which is also the events' ordering key outside renewals. */
  target: string
  alias: string
  change: 'created' | 'replaced' | 'deleted'
  before: { sha256_fingerprint: string } | undefined
  /** What the alias holds now; undefined: deleted. */
  certificate: ReceiverCertificate | undefined
  /** The encryptors that use it: list it as a receiver, or sign with it. */
  usedBy: string[]
  auditRecordId: number
}

/** Publishes `c` in the change's transaction: the certificate named, not sent (it is bulky); never key material. */
export async function publishAliasChange(ctx: MutationContext, c: AliasChange): Promise<void> {
  await publishEvent(ctx, {
    type: c.type,
    orderingKey: orderingKeyOf(ctx, c.target),
    data: {
      alias: c.alias,
      change: c.change,
      certificate: c.certificate ? certificateFields(c.certificate) : null,
      previousSha256Fingerprint: c.before?.sha256_fingerprint ?? null,
      usedBy: c.usedBy,
      by: ctx.actor.name,
      renewalId: ctx.renewalId ?? null,
      auditRecordId: c.auditRecordId,
    },
  })
}
