import { callReplica, type Replica } from './replica.js'
import { LOCAL_RECEIVER } from './webhook-receiver.js'

/**
 * What a service process (startReplica) needs to deliver to a receiver on 127.0.0.1, quickly: retries
 * within 200 ms, and a 1 s deadline, so a lease (2 deadlines + 5 s) lapses 7 s after a claim.
 */
export const REPLICA_WEBHOOKS = {
  ...LOCAL_RECEIVER,
  WEBHOOK_RETRY_BASE_MS: '20',
  WEBHOOK_RETRY_CAP_MS: '200',
  WEBHOOK_TIMEOUT_MS: '1000',
}

/** Subscribes `receiver` through a replica as tenant-admin; its secret is kept to verify with. */
export async function subscribeOnReplica(
  replica: Replica,
  receiver: { url: string; secrets: string[] },
  events: string[] = ['*'],
): Promise<{ id: string; secret: string }> {
  const res = await callReplica(replica, 'POST', '/webhooks', 'tenant-admin', { url: receiver.url, events })
  if (res.status !== 201) throw new Error(`subscribe: ${res.status} ${res.body}`)
  const body = res.json() as { id: string; secret: string }
  receiver.secrets.push(body.secret)
  return body
}

/** The deliveries of a subscription in one state (at most 500: the route's page limit). */
export async function deliveriesIn(replica: Replica, subscription: string, state: 'pending' | 'delivered' | 'failed') {
  const res = await callReplica(
    replica,
    'GET',
    `/webhooks/${subscription}/deliveries?state=${state}&limit=500`,
    'tenant-admin',
  )
  if (res.status !== 200) throw new Error(`deliveries: ${res.status} ${res.body}`)
  return (res.json() as { deliveries: Array<{ id: string; eventId: string; eventType: string }> }).deliveries
}

/**
 * Waits until no delivery of `subscription` is pending. The deadline only bounds a hang (a delivery
 * that never goes out); how long it took is not asserted.
 */
export async function untilDrained(replica: Replica, subscription: string, deadlineMs = 120_000): Promise<void> {
  const start = Date.now()
  for (;;) {
    const pending = await deliveriesIn(replica, subscription, 'pending')
    if (pending.length === 0) return
    if (Date.now() - start > deadlineMs)
      throw new Error(`${pending.length} deliveries still pending, e.g. ${JSON.stringify(pending[0])}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
