import t from 'tap'
import { checkUrl, resolveTarget, type Lookup, type ResolvedAddress } from '../../src/webhooks/address-policy.js'

/** A resolver answering from a table: no real DNS, no network. Records what it was asked. */
function fakeLookup(table: Record<string, string[]>) {
  const asked: string[] = []
  const lookup: Lookup = async (hostname) => {
    asked.push(hostname)
    const answers = table[hostname]
    if (answers === undefined)
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' })
    return answers.map((address): ResolvedAddress => ({ address, family: address.includes(':') ? 6 : 4 }))
  }
  return { lookup, asked }
}

t.test('checkUrl', async (t) => {
  const cases: Array<[string, string, boolean, string | RegExp]> = [
    ['accepted: https', 'https://hooks.example.com/cms', false, 'https://hooks.example.com/cms'],
    ['accepted: https with a port', 'https://hooks.example.com:8443/in', false, 'https://hooks.example.com:8443/in'],
    [
      'accepted: https with a query',
      'https://hooks.example.com/in?team=ops',
      false,
      'https://hooks.example.com/in?team=ops',
    ],
    ['accepted: http when allowed', 'http://127.0.0.1:3000/hook', true, 'http://127.0.0.1:3000/hook'],
    ['accepted: https when http is allowed', 'https://hooks.example.com/', true, 'https://hooks.example.com/'],
    ['refused: http', 'http://hooks.example.com/cms', false, /only https/],
    ['refused: ftp even when http is allowed', 'ftp://hooks.example.com/', true, /only http and https/],
    ['refused: file URL', 'file:///etc/passwd', true, /only http and https/],
    ['refused: user and password', 'https://user:secret@hooks.example.com/', false, /no credentials/],
    ['refused: user only', 'https://user@hooks.example.com/', false, /no credentials/],
    ['refused: password only', 'https://:secret@hooks.example.com/', false, /no credentials/],
    ['refused: not a URL', 'hooks.example.com/cms', false, /not a valid absolute URL/],
    ['refused: empty', '', false, /not a valid absolute URL/],
  ]
  for (const [name, raw, allowHttp, expected] of cases) {
    const result = checkUrl(raw, { allowHttp })
    if (typeof expected === 'string') t.equal(result.ok && result.url.href, expected, name)
    else t.match(!result.ok && result.reason, expected, name)
  }
})

t.test('resolveTarget refuses every non-public range, IPv4 and IPv6, resolved or literal', async (t) => {
  const refused: Array<[string, string, string]> = [
    ['refused: IPv4 loopback', '127.0.0.1', 'loopback'],
    ['refused: IPv4 loopback, not only .1', '127.45.6.7', 'loopback'],
    ['refused: IPv6 loopback', '::1', 'loopback'],
    ['refused: IPv4 private 10/8', '10.1.2.3', 'private'],
    ['refused: IPv4 private 172.16/12', '172.31.255.254', 'private'],
    ['refused: IPv4 private 192.168/16', '192.168.0.10', 'private'],
    ['refused: IPv6 unique local', 'fd12:3456:789a::1', 'uniqueLocal'],
    ['refused: IPv4 link-local (cloud metadata)', '169.254.169.254', 'linkLocal'],
    ['refused: IPv6 link-local', 'fe80::1', 'linkLocal'],
    ['refused: IPv6 link-local with a zone', 'fe80::1%eth0', 'linkLocal'],
    ['refused: IPv6 site-local (deprecated)', 'fec0::1', 'deprecatedSiteLocal'],
    ['refused: IPv4 unspecified', '0.0.0.0', 'unspecified'],
    ['refused: IPv4 this network 0/8', '0.1.2.3', 'unspecified'],
    ['refused: IPv6 unspecified', '::', 'unspecified'],
    ['refused: IPv4 multicast', '224.0.0.251', 'multicast'],
    ['refused: IPv6 multicast', 'ff02::fb', 'multicast'],
    ['refused: IPv4 broadcast', '255.255.255.255', 'broadcast'],
    ['refused: IPv4 carrier-grade NAT', '100.64.0.1', 'carrierGradeNat'],
    ['refused: IPv4 documentation (reserved)', '192.0.2.10', 'reserved'],
    ['refused: IPv4 benchmarking (reserved)', '198.18.0.1', 'reserved'],
    ['refused: IPv4 future use 240/4 (reserved)', '240.0.0.1', 'reserved'],
    ['refused: IPv6 documentation (reserved)', '2001:db8::1', 'reserved'],
    ['refused: IPv6 6to4', '2002:c000:204::1', '6to4'],
    ['refused: IPv6 teredo', '2001:0:4136:e378::1', 'teredo'],
    ['refused: IPv6 discard', '100::1', 'discard'],
    ['refused: IPv6 IPv4-compatible (outside 2000::/3)', '::7f00:1', 'reserved'],
    ['refused: IPv4-mapped IPv6 of a loopback address', '::ffff:127.0.0.1', 'loopback'],
    ['refused: IPv4-mapped IPv6 of a private address', '::ffff:10.0.0.1', 'private'],
    ['refused: IPv4-mapped IPv6 of a private address, in hex', '::ffff:c0a8:101', 'private'],
    ['refused: NAT64 of a private address', '64:ff9b::a00:1', 'private'],
    ['refused: local-use NAT64 prefix', '64:ff9b:1::1', 'rfc6052'],
  ]
  for (const [name, address, range] of refused) {
    const { lookup, asked } = fakeLookup({ 'hooks.example.com': [address] })
    const viaDns = await resolveTarget('hooks.example.com', { allowPrivate: false, lookup })
    t.same(viaDns, { ok: false, reason: `hooks.example.com resolves to ${address}, a ${range} address` }, name)
    t.same(asked, ['hooks.example.com'])
    if (address.includes('%')) continue // a zone id is no part of a URL's host
    const host = address.includes(':') ? `[${address}]` : address
    const literal = await resolveTarget(host, { allowPrivate: false, lookup })
    t.match(literal, { ok: false, reason: `a ${range} address` }, `${name}, as a literal`)
    t.same(asked, ['hooks.example.com'], `${name}, as a literal: no DNS lookup`)
  }
})

t.test('resolveTarget returns the address to pin', async (t) => {
  const cases: Array<[string, string, Record<string, string[]>, ResolvedAddress]> = [
    ['accepted: public IPv4', 'hooks.example.com', { 'hooks.example.com': ['93.184.216.34'] }, v4('93.184.216.34')],
    [
      'accepted: public IPv6',
      'hooks.example.com',
      { 'hooks.example.com': ['2606:2800:220:1::1'] },
      v6('2606:2800:220:1::1'),
    ],
    [
      'accepted: several public, the first in resolver order',
      'hooks.example.com',
      { 'hooks.example.com': ['2606:2800:220:1::1', '93.184.216.34'] },
      v6('2606:2800:220:1::1'),
    ],
    [
      'accepted: IPv4-mapped IPv6 of a public address',
      'h.example',
      { 'h.example': ['::ffff:8.8.8.8'] },
      v6('::ffff:8.8.8.8'),
    ],
    ['accepted: NAT64 of a public address', 'h.example', { 'h.example': ['64:ff9b::808:808'] }, v6('64:ff9b::808:808')],
    ['accepted: public IPv4 literal, no lookup', '8.8.4.4', {}, v4('8.8.4.4')],
    ['accepted: public IPv6 literal in brackets, no lookup', '[2001:4860:4860::8888]', {}, v6('2001:4860:4860::8888')],
  ]
  for (const [name, host, table, expected] of cases) {
    const { lookup } = fakeLookup(table)
    t.same(await resolveTarget(host, { allowPrivate: false, lookup }), { ok: true, ...expected }, name)
  }
})

t.test('resolveTarget refuses when any answer is not public', async (t) => {
  const cases: Array<[string, string[]]> = [
    ['refused: public IPv4 first, private second', ['93.184.216.34', '10.0.0.5']],
    ['refused: private first, public second', ['192.168.1.1', '93.184.216.34']],
    ['refused: public IPv6 and loopback IPv4', ['2606:2800:220:1::1', '127.0.0.1']],
    ['refused: public IPv4 and IPv4-mapped loopback', ['93.184.216.34', '::ffff:127.0.0.1']],
  ]
  for (const [name, answers] of cases) {
    const { lookup } = fakeLookup({ 'rebind.example': answers })
    t.match(await resolveTarget('rebind.example', { allowPrivate: false, lookup }), { ok: false }, name)
  }
})

t.test('resolveTarget with allowPrivate lets the local receiver through', async (t) => {
  const { lookup, asked } = fakeLookup({ localhost: ['127.0.0.1', '::1'] })
  t.same(await resolveTarget('127.0.0.1', { allowPrivate: true, lookup }), { ok: true, ...v4('127.0.0.1') })
  t.same(await resolveTarget('[::1]', { allowPrivate: true, lookup }), { ok: true, ...v6('::1') })
  t.same(await resolveTarget('localhost', { allowPrivate: true, lookup }), { ok: true, ...v4('127.0.0.1') })
  t.same(asked, ['localhost'])
  t.match(await resolveTarget('localhost', { allowPrivate: false, lookup }), { ok: false, reason: /loopback/ })
})

t.test('resolveTarget refuses what does not resolve', async (t) => {
  const { lookup } = fakeLookup({ 'empty.example': [] })
  t.same(await resolveTarget('nowhere.example', { allowPrivate: true, lookup }), {
    ok: false,
    reason: 'nowhere.example did not resolve (ENOTFOUND)',
  })
  t.same(await resolveTarget('empty.example', { allowPrivate: true, lookup }), {
    ok: false,
    reason: 'empty.example resolved to no address',
  })
})

t.test('a URL and its resolution together: obfuscated loopback literals are normalised by URL first', async (t) => {
  const { lookup, asked } = fakeLookup({})
  for (const raw of ['https://2130706433/', 'https://0x7f.1/', 'https://[::ffff:7f00:1]/', 'https://127.1:8443/']) {
    const checked = checkUrl(raw, { allowHttp: false })
    if (!checked.ok) throw new Error(checked.reason)
    t.match(await resolveTarget(checked.url.hostname, { allowPrivate: false, lookup }), { reason: /loopback/ }, raw)
  }
  t.same(asked, [], 'all were literals')
})

function v4(address: string): ResolvedAddress {
  return { address, family: 4 }
}
function v6(address: string): ResolvedAddress {
  return { address, family: 6 }
}
