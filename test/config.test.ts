import { readFileSync } from 'node:fs'
import t from 'tap'
import { ConfigError, loadConfig, trustProxy } from '../src/config.js'

/** The table rows of docs/configuration.md by variable: `| \`NAME\` | default | meaning |`. */
function documentedDefaults(markdown: string): Map<string, string> {
  const rows = new Map<string, string>()
  for (const line of markdown.split('\n')) {
    const row = /^\| `([A-Z0-9_]+)` \| ([^|]*) \|/.exec(line)
    if (row) rows.set(row[1]!, row[2]!.trim())
  }
  return rows
}

const shown = (value: unknown) => (value === '' ? '*(empty)*' : `\`${String(value)}\``)

t.test('.env.example and docs/configuration.md name every setting, with its default', async (t) => {
  const defaults = loadConfig({}) as Record<string, unknown>
  const example = readFileSync(new URL('../.env.example', import.meta.url), 'utf8')
  const documented = documentedDefaults(readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8'))
  for (const [name, value] of Object.entries(defaults)) {
    const line = example.split('\n').find((l) => l.startsWith(`${name}=`))
    t.ok(line, `.env.example has ${name}`)
    t.equal(line?.slice(name.length + 1), String(value), `.env.example shows the default of ${name}`)
    t.equal(documented.get(name), shown(value), `docs/configuration.md shows the default of ${name}`)
  }
  t.same([...documented.keys()].sort(), Object.keys(defaults).sort(), 'and documents no setting that does not exist')
})

t.test('TRUST_PROXY: off, any peer, or addresses and CIDRs; anything else stops the start', async (t) => {
  t.equal(trustProxy(loadConfig({})), false, 'off by default')
  t.equal(trustProxy(loadConfig({ TRUST_PROXY: 'false' })), false)
  t.equal(trustProxy(loadConfig({ TRUST_PROXY: 'true' })), true)
  t.same(trustProxy(loadConfig({ TRUST_PROXY: '10.0.0.0/8, ::1,loopback' })), ['10.0.0.0/8', '::1', 'loopback'])
  for (const bad of ['2', 'nginx', '10.0.0.0/33', '::1/129', '1.2.3.4/8/1', 'yes'])
    t.throws(() => loadConfig({ TRUST_PROXY: bad }), ConfigError, bad)
})
