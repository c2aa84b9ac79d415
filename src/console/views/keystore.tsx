import { useState } from 'preact/hooks'
import type { ViewProps } from '../app'
import { keyPairRows, loadEncryptors, loadKeyPairs, loadKeystore, usersByAlias } from '../data'
import { href } from '../route'
import type { KeystoreEntry } from '../types'
import { DaysLeft, Empty, Field, Region, date, keyText, urgency, useLoad } from '../ui'
import { KeyPairsTable } from './key-pairs'

type SortKey = 'alias' | 'subject' | 'issuer' | 'notAfter' | 'daysUntilExpiry'
type Show = 'all' | 'attention' | 'expired' | 'unused'

const COLUMNS: Array<{ key: SortKey | null; label: string }> = [
  { key: 'alias', label: 'Alias' },
  { key: 'subject', label: 'Subject' },
  { key: 'issuer', label: 'Issuer' },
  { key: null, label: 'Serial' },
  { key: null, label: 'Key' },
  { key: 'notAfter', label: 'Valid' },
  { key: 'daysUntilExpiry', label: 'Days left' },
  { key: null, label: 'Used by' },
]

function compare(a: KeystoreEntry, b: KeystoreEntry, key: SortKey): number {
  const x = a[key]
  const y = b[key]
  return typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y))
}

/**
 * Every receiver certificate with its expiry at a glance; sort by any column, filter by text or urgency.
 * Below them our own key pairs, by the same filters and the same colours.
 */
export function KeystoreView({ can }: ViewProps) {
  const loaded = useLoad(async () => {
    const [keystore, encryptors, keyPairs] = await Promise.all([loadKeystore(), loadEncryptors(), loadKeyPairs()])
    return {
      ...keystore,
      users: usersByAlias(encryptors),
      keyPairs: keyPairRows(keyPairs, encryptors, keystore.warningDays),
    }
  }, [])
  const [sort, setSort] = useState<{ key: SortKey; ascending: boolean }>({ key: 'daysUntilExpiry', ascending: true })
  const [filter, setFilter] = useState('')
  const [show, setShow] = useState<Show>('all')
  const data = loaded.data
  const needle = filter.trim().toLowerCase()
  const rows = (data?.entries ?? [])
    .filter(
      (e) => !needle || [e.alias, e.subject, e.issuer, e.serialNumber].some((s) => s.toLowerCase().includes(needle)),
    )
    .filter((e) => {
      const level = urgency(e.daysUntilExpiry, data!.warningDays)
      if (show === 'attention') return level !== 'ok'
      if (show === 'expired') return level === 'expired'
      if (show === 'unused') return !data!.users.has(e.alias)
      return true
    })
    .sort((a, b) => compare(a, b, sort.key) * (sort.ascending ? 1 : -1))
  const keyPairs = (data?.keyPairs ?? [])
    .filter(
      (k) =>
        !needle ||
        [k.alias, k.certificate.subject, k.certificate.issuer, k.certificate.serialNumber].some((s) =>
          s.toLowerCase().includes(needle),
        ),
    )
    .filter((k) => {
      const level = urgency(k.daysUntilExpiry, data!.warningDays)
      if (show === 'attention') return level !== 'ok'
      if (show === 'expired') return level === 'expired'
      if (show === 'unused') return k.usedBy.length === 0
      return true
    })
  const caption = () =>
    `${rows.length} of ${data!.entries.length} entries; days left are coloured from ${data!.warningDays} days ` +
    '(EXPIRY_WARNING_DAYS).'
  // aria-sort says it to assistive technology; the arrow shows it.
  const arrow = (key: SortKey) => (sort.key === key ? (sort.ascending ? ' ▲' : ' ▼') : '')
  const sortBy = (key: SortKey) => setSort((s) => ({ key, ascending: s.key === key ? !s.ascending : true }))
  return (
    <section>
      <div class="view-head">
        <h1 tabIndex={-1}>Keystore</h1>
        {can.changesKeystore ? (
          <a class="button" href={href('keystore', '+new')}>
            Upload a certificate
          </a>
        ) : null}
      </div>
      <div class="filters">
        <Field label="Filter" id="ks-filter" hint="Alias, subject, issuer or serial.">
          <input
            id="ks-filter"
            type="search"
            value={filter}
            onInput={(e) => setFilter((e.currentTarget as HTMLInputElement).value)}
          />
        </Field>
        <Field label="Show" id="ks-show">
          <select
            id="ks-show"
            value={show}
            onChange={(e) => setShow((e.currentTarget as HTMLSelectElement).value as Show)}
          >
            <option value="all">all entries</option>
            <option value="attention">expiring soon or expired</option>
            <option value="expired">expired</option>
            <option value="unused">used by no encryptor</option>
          </select>
        </Field>
      </div>
      <h2>Receiver certificates</h2>
      {/* One region for both tables: the key pairs appear with the entries, not moved down by them. */}
      <Region loaded={loaded} label="Keystore entries">
        {() => (
          <>
            {data!.entries.length === 0 ? (
              <Empty>The keystore is empty.</Empty>
            ) : (
              <div class="table-wrap">
                <table class="entries">
                  <caption>{caption()}</caption>
                  <thead>
                    <tr>
                      {COLUMNS.map((c) => (
                        <th
                          key={c.label}
                          scope="col"
                          aria-sort={
                            c.key && sort.key === c.key ? (sort.ascending ? 'ascending' : 'descending') : undefined
                          }
                        >
                          {c.key ? (
                            <button type="button" class="sort" onClick={() => sortBy(c.key!)}>
                              {c.label}
                              <span aria-hidden="true">{arrow(c.key!)}</span>
                            </button>
                          ) : (
                            c.label
                          )}
                        </th>
                      ))}
                    </tr>
                  </thead>
                  <tbody>
                    {rows.map((e) => (
                      <tr key={e.alias}>
                        <th scope="row">
                          <a href={href('keystore', e.alias)}>{e.alias}</a>
                        </th>
                        <td class="dn">{e.subject}</td>
                        <td class="dn">{e.issuer}</td>
                        <td class="mono">{e.serialNumber}</td>
                        <td>{keyText(e.publicKey)}</td>
                        <td class="nowrap">
                          {date(e.notBefore)} – {date(e.notAfter)}
                          {e.notYetValid ? <span class="flag"> not yet valid</span> : null}
                        </td>
                        <td>
                          <DaysLeft days={e.daysUntilExpiry} warningDays={data!.warningDays} />
                        </td>
                        <td>
                          {(data!.users.get(e.alias) ?? []).map((id) => (
                            <a key={id} class="tag" href={href('encryptors', id)}>
                              {id}
                            </a>
                          ))}
                          {data!.users.has(e.alias) ? null : <span class="muted">none</span>}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
            <section aria-labelledby="ks-key-pairs">
              <h2 id="ks-key-pairs">Key pairs</h2>
              <KeyPairsTable rows={keyPairs} total={data!.keyPairs.length} warningDays={data!.warningDays} />
            </section>
          </>
        )}
      </Region>
    </section>
  )
}
