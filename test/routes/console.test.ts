import t from 'tap'
import { CONSOLE_CSP } from '../../src/routes/console.js'
import { ensureConsoleBuilt } from '../../scripts/lib/console-build.js'
import { auth, buildTestApp } from '../helpers/app.js'

t.before(ensureConsoleBuilt)

t.test(
  'the console is served at /console/ without a token, under its strict CSP, revalidated on each load',
  async (t) => {
    const app = await buildTestApp(t)
    const page = await app.inject({ url: '/console/' })
    t.equal(page.statusCode, 200)
    t.match(page.headers['content-type'], /^text\/html/)
    t.match(
      page.body,
      /<script type="module" src="console.js"><\/script>/,
      'the page loads the bundle from its own origin',
    )
    t.notMatch(page.body, /<script>|<style|style=/, 'no inline script or style in the page')
    t.equal(page.headers['content-security-policy'], CONSOLE_CSP)
    t.equal(page.headers['cache-control'], 'no-cache')
    t.ok(page.headers.etag, 'an ETag to revalidate with')
    const again = await app.inject({ url: '/console/', headers: { 'if-none-match': String(page.headers.etag) } })
    t.equal(again.statusCode, 304, 'unchanged: 304')

    for (const [file, type] of [
      ['console.js', /^application\/javascript/],
      ['console.css', /^text\/css/],
      ['favicon.svg', /^image\/svg\+xml/],
    ] as const) {
      const res = await app.inject({ url: `/console/${file}` })
      t.equal(res.statusCode, 200, file)
      t.match(res.headers['content-type'], type, `${file} content type`)
      t.equal(res.headers['content-security-policy'], CONSOLE_CSP, `${file} carries the console CSP`)
    }
  },
)

t.test('the console policy allows nothing inline, nothing from another host, no framing', async (t) => {
  const directives = Object.fromEntries(
    CONSOLE_CSP.split('; ').map((d) => [d.split(' ')[0], d.split(' ').slice(1).join(' ')]),
  )
  t.equal(directives['default-src'], "'self'")
  t.equal(directives['script-src'], "'self'")
  t.equal(directives['style-src'], "'self'")
  t.equal(directives['frame-ancestors'], "'none'")
  t.equal(directives['object-src'], "'none'")
  t.notMatch(CONSOLE_CSP, /unsafe-|https:|\*/, 'no unsafe-inline, unsafe-eval, scheme or wildcard source')
})

t.test('/console redirects to /console/; a missing file is a problem+json 404', async (t) => {
  const app = await buildTestApp(t)
  const bare = await app.inject({ url: '/console' })
  t.equal(bare.statusCode, 302)
  t.equal(bare.headers.location, '/console/')
  const missing = await app.inject({ url: '/console/nope.js' })
  t.equal(missing.statusCode, 404)
  t.match(missing.headers['content-type'], /^application\/problem\+json/)
  t.equal(missing.json().code, 'CMS_ROUTE_NOT_FOUND')
  const escape = await app.inject({ url: '/console/../package.json' })
  t.not(escape.statusCode, 200, 'nothing outside the console directory')
  const encoded = await app.inject({ url: '/console/%2e%2e/%2e%2e/package.json' })
  t.not(encoded.statusCode, 200, 'nor with an encoded path')
})

t.test('the API keeps its own policy, and the console routes are not in the API document', async (t) => {
  const app = await buildTestApp(t)
  const api = await app.inject({ url: '/whoami', headers: auth('monitor') })
  t.not(api.headers['content-security-policy'], CONSOLE_CSP)
  await app.ready()
  const doc = app.swagger() as { paths: Record<string, unknown> }
  t.same(
    Object.keys(doc.paths).filter((p) => p.startsWith('/console')),
    [],
  )
})
