import { readFileSync } from 'node:fs'
import t from 'tap'
import { loadConfig } from '../src/config.js'

t.test('.env.example and the README name every setting, with its default', async (t) => {
  const defaults = loadConfig({}) as Record<string, unknown>
  const example = readFileSync(new URL('../.env.example', import.meta.url), 'utf8')
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  for (const [name, value] of Object.entries(defaults)) {
    const line = example.split('\n').find((l) => l.startsWith(`${name}=`))
    t.ok(line, `.env.example has ${name}`)
    t.equal(line?.slice(name.length + 1), String(value), `.env.example shows the default of ${name}`)
    t.match(readme, `\`${name}\``, `README documents ${name}`)
  }
})
