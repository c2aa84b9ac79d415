import type { ViewProps } from '../app'
import {
  keyPairRows,
  loadEncryptors,
  loadKeyPairs,
  loadKeystore,
  loadRenewals,
  usersByAlias,
  type KeyPairRow,
} from '../data'
import { href } from '../route'
import type { Abilities } from '../session'
import { Card, DaysLeft, Empty, RenewLinks, RoleBadge, dateTime, useLoad } from '../ui'

/** One of our key pairs in an expiry card: it signs (the receivers verify with its certificate), not encrypts. */
function KeyPairItem({ k, warningDays, can }: { k: KeyPairRow; warningDays: number; can: Abilities }) {
  return (
    <li class="key-pair-item">
      <a href={href('key-pairs', k.alias)}>{k.alias}</a> <span class="tag">key pair</span>{' '}
      <DaysLeft days={k.daysUntilExpiry} warningDays={warningDays} />
      <span class="muted"> signs for {k.usedBy.join(', ') || 'no encryptor'}</span>
      {can.startsRenewals ? <RenewLinks alias={k.alias} encryptors={k.usedBy} /> : null}
    </li>
  )
}

/**
 * What needs attention: certificates about to lapse (the receivers' and our own signers'), renewals
 * waiting for someone, paused encryptors.
 */
export function OverviewView({ me, can }: ViewProps) {
  const loaded = useLoad(async () => {
    const [keystore, encryptors, renewals, keyPairs] = await Promise.all([
      loadKeystore(),
      loadEncryptors(),
      loadRenewals('active'),
      loadKeyPairs(),
    ])
    return { ...keystore, encryptors, renewals, keyPairs: keyPairRows(keyPairs, encryptors, keystore.warningDays) }
  }, [])
  const data = loaded.data
  const users = data ? usersByAlias(data.encryptors) : new Map<string, string[]>()
  const expiring = data?.entries.filter((e) => e.daysUntilExpiry >= 0 && e.expiringSoon) ?? []
  const expired = data?.entries.filter((e) => e.daysUntilExpiry < 0 && users.has(e.alias)) ?? []
  const paused = data?.encryptors.filter((e) => e.pause) ?? []
  // Our key pairs by the same rules; their list is by days left, like the keystore's.
  const byDays = [...(data?.keyPairs ?? [])].sort((a, b) => a.daysUntilExpiry - b.daysUntilExpiry)
  const expiringKeyPairs = byDays.filter((k) => k.daysUntilExpiry >= 0 && k.expiringSoon)
  const expiredKeyPairs = byDays.filter((k) => k.daysUntilExpiry < 0 && k.usedBy.length)
  return (
    <section>
      <h1 tabIndex={-1}>Overview</h1>
      <div class="cards">
        <Card id="ov-renewals" title="Active renewals" loaded={loaded}>
          {() =>
            data!.renewals.length ? (
              <ul class="plain">
                {data!.renewals.map((r) => (
                  <li key={r.id}>
                    <a href={href('renewals', r.id)}>
                      {r.procedure} of {r.encryptorId}
                    </a>{' '}
                    ({r.currentAlias}
                    {r.newAlias ? ` → ${r.newAlias}` : ''})
                    {r.next ? (
                      <p class="waiting">
                        Waits for <code>{r.next.step}</code> by <RoleBadge role={r.next.role} />
                        {me.roles.includes(r.next.role) ? <strong class="your-turn"> your turn</strong> : null}
                      </p>
                    ) : null}
                  </li>
                ))}
              </ul>
            ) : (
              <Empty>No renewal in progress.</Empty>
            )
          }
        </Card>
        <Card id="ov-expiring" title={`Expiring within ${data ? data.warningDays : '…'} days`} loaded={loaded}>
          {() =>
            expiring.length || expiringKeyPairs.length ? (
              <ul class="plain">
                {expiringKeyPairs.map((k) => (
                  <KeyPairItem key={`key-pair ${k.alias}`} k={k} warningDays={data!.warningDays} can={can} />
                ))}
                {expiring.map((e) => (
                  <li key={e.alias}>
                    <a href={href('keystore', e.alias)}>{e.alias}</a>{' '}
                    <DaysLeft days={e.daysUntilExpiry} warningDays={data!.warningDays} />
                    <span class="muted"> used by {users.get(e.alias)?.join(', ') || 'no encryptor'}</span>
                    {can.startsRenewals ? <RenewLinks alias={e.alias} encryptors={users.get(e.alias) ?? []} /> : null}
                  </li>
                ))}
              </ul>
            ) : (
              <Empty>No certificate or key pair expires within {data!.warningDays} days.</Empty>
            )
          }
        </Card>
        <Card id="ov-expired" title="Expired and still in use" loaded={loaded}>
          {() =>
            expired.length || expiredKeyPairs.length ? (
              <ul class="plain">
                {expiredKeyPairs.map((k) => (
                  <KeyPairItem key={`key-pair ${k.alias}`} k={k} warningDays={data!.warningDays} can={can} />
                ))}
                {expired.map((e) => (
                  <li key={e.alias}>
                    <a href={href('keystore', e.alias)}>{e.alias}</a>{' '}
                    <DaysLeft days={e.daysUntilExpiry} warningDays={data!.warningDays} />
                    <span class="muted"> used by {users.get(e.alias)!.join(', ')}</span>
                    {can.startsRenewals ? <RenewLinks alias={e.alias} encryptors={users.get(e.alias)!} /> : null}
                  </li>
                ))}
              </ul>
            ) : (
              <Empty>No expired certificate or key pair is in use.</Empty>
            )
          }
        </Card>
        <Card id="ov-paused" title="Paused encryptors" loaded={loaded}>
          {() =>
            paused.length ? (
              <ul class="plain">
                {paused.map((e) => (
                  <li key={e.id}>
                    <a href={href('encryptors', e.id)}>{e.id}</a>: encrypt answers 503 until{' '}
                    {e.pause!.until ? dateTime(e.pause!.until) : 'the downtime ends'} (
                    <a href={href('renewals', e.pause!.renewalId)}>renewal</a>)
                  </li>
                ))}
              </ul>
            ) : (
              <Empty>No encryptor is paused.</Empty>
            )
          }
        </Card>
      </div>
    </section>
  )
}
