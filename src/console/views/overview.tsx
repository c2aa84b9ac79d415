import type { ViewProps } from '../app'
import { loadEncryptors, loadKeystore, loadRenewals, usersByAlias } from '../data'
import { href } from '../route'
import { Card, DaysLeft, Empty, RenewLinks, RoleBadge, dateTime, useLoad } from '../ui'

/** What needs attention: certificates about to lapse, renewals waiting for someone, paused encryptors. */
export function OverviewView({ me, can }: ViewProps) {
  const loaded = useLoad(async () => {
    const [keystore, encryptors, renewals] = await Promise.all([
      loadKeystore(),
      loadEncryptors(),
      loadRenewals('active'),
    ])
    return { ...keystore, encryptors, renewals }
  }, [])
  const data = loaded.data
  const users = data ? usersByAlias(data.encryptors) : new Map<string, string[]>()
  const expiring = data?.entries.filter((e) => e.daysUntilExpiry >= 0 && e.expiringSoon) ?? []
  const expired = data?.entries.filter((e) => e.daysUntilExpiry < 0 && users.has(e.alias)) ?? []
  const paused = data?.encryptors.filter((e) => e.pause) ?? []
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
            expiring.length ? (
              <ul class="plain">
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
              <Empty>No certificate expires within {data!.warningDays} days.</Empty>
            )
          }
        </Card>
        <Card id="ov-expired" title="Expired and still in use" loaded={loaded}>
          {() =>
            expired.length ? (
              <ul class="plain">
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
              <Empty>No expired certificate is in use.</Empty>
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
