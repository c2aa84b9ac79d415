import t from 'tap'
import { RandomPool } from '../../src/cms/random-pool.js'

t.test('the random pool never hands out the same bytes twice, across refills', async (t) => {
  const pool = new RandomPool()
  const seen = new Set<string>()
  for (let i = 0; i < 10_000; i++) seen.add(pool.take(32).toString('hex')) // 320 KB: five refills
  t.equal(seen.size, 10_000)
  const a = pool.take(16)
  const copy = Buffer.from(a)
  pool.take(16)
  t.same(a, copy, 'a taken buffer is its own, not a view the pool later overwrites')
  t.equal(pool.take(100_000).length, 100_000, 'larger than the pool')
})

t.test('every take is an allocation of its own, so wiping a key leaves no copy in a shared pool', async (t) => {
  const pool = new RandomPool()
  for (const length of [8, 16, 24, 32, 100_000]) {
    const bytes = pool.take(length)
    t.ok(bytes.byteOffset === 0 && bytes.buffer.byteLength === length, `${length} bytes: its own ArrayBuffer`)
  }
})
