import type { ViewProps } from '../app'
import { loadRenewals } from '../data'
import { href } from '../route'
import { Empty, Region, RoleBadge, dateTime, useLoad } from '../ui'

/** Every renewal, active ones first, each with the step it waits for and whose turn it is. */
export function RenewalsView({ me, can }: ViewProps) {
  const loaded = useLoad(() => loadRenewals(), [])
  const renewals = [...(loaded.data ?? [])].sort((a, b) => Number(b.state === 'active') - Number(a.state === 'active'))
  return (
    <section>
      <div class="view-head">
        <h1 tabIndex={-1}>Renewals</h1>
        {can.startsRenewals ? (
          <a class="button" href={href('start')}>
            Start a renewal
          </a>
        ) : null}
      </div>
      <Region loaded={loaded} label="Renewals">
        {() =>
          renewals.length ? (
            <div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Renewal</th>
                    <th scope="col">Aliases</th>
                    <th scope="col">State</th>
                    <th scope="col">Waits for</th>
                    <th scope="col">Started</th>
                  </tr>
                </thead>
                <tbody>
                  {renewals.map((r) => (
                    <tr key={r.id}>
                      <th scope="row">
                        <a href={href('renewals', r.id)}>
                          {r.procedure} of {r.encryptorId}
                        </a>
                      </th>
                      <td>
                        {r.currentAlias}
                        {r.newAlias ? ` → ${r.newAlias}` : ''}
                      </td>
                      <td>
                        <span class={`state state-${r.state}`}>{r.state}</span>
                      </td>
                      <td>
                        {r.next ? (
                          <>
                            <code>{r.next.step}</code> by <RoleBadge role={r.next.role} />
                            {me.roles.includes(r.next.role) ? <strong class="your-turn"> your turn</strong> : null}
                          </>
                        ) : (
                          '—'
                        )}
                      </td>
                      <td>
                        {dateTime(r.createdAt)} by {r.createdBy}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : (
            <Empty>No renewal yet.</Empty>
          )
        }
      </Region>
    </section>
  )
}
