import { PassThrough } from 'node:stream'
import t from 'tap'
import { createApp } from '../../src/app.js'
import { freshDatabaseUrl, storeDir, testConfig, testTokens } from '../helpers/app.js'
import { asRoleOn } from '../helpers/as-role.js'
import { issueCertificate } from '../helpers/pki.js'
import { putCertificate } from '../helpers/requests.js'

const DAY = 86_400_000

t.test('expiring certificates are flagged, and logged at warn once', async (t) => {
  const lines: Array<{ level: number; msg: string; alias?: string; daysUntilExpiry?: number }> = []
  const stream = new PassThrough()
  stream.on('data', (d: Buffer) => {
    for (const l of d.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l))
  })
  const dir = storeDir(t, 'cms-expiry-')
  const config = testConfig({
    DATA_DIR: dir,
    DATABASE_URL: await freshDatabaseUrl(t),
    EXPIRY_WARNING_DAYS: '20',
    LOG_LEVEL: 'info',
  })
  const first = await createApp(config, { tokens: testTokens(), logger: false })
  await putCertificate(first, 'soon', await issueCertificate('soon', { notAfter: new Date(Date.now() + 10 * DAY) }))
  await putCertificate(first, 'later', await issueCertificate('later', { notAfter: new Date(Date.now() + 40 * DAY) }))
  const list = (await asRoleOn(first)('monitor').get('/keystore/entries')).json()
  t.same(
    list.entries.map((e: { alias: string; expiringSoon: boolean }) => [e.alias, e.expiringSoon]),
    [
      ['later', false],
      ['soon', true],
    ],
  )
  await first.close()

  const app = await createApp(config, { tokens: testTokens(), logger: { level: 'info', stream } })
  t.teardown(() => app.close())
  await app.ready()
  const warnings = lines.filter((l) => l.level === 40 && l.alias)
  t.same(
    warnings.map((w) => [w.alias, w.daysUntilExpiry]),
    [['soon', 9]],
    'one warning, for the expiring alias only',
  )
})
