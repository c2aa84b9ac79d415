/** SSRF guard, per https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md */
import { lookup as dnsLookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import ipaddr from 'ipaddr.js'

export type Checked<T> = ({ ok: true } & T) | { ok: false; reason: string }

export interface ResolvedAddress {
  address: string
  family: number
}
export type Lookup = (hostname: string) => Promise<ResolvedAddress[]>

/** verbatim: the resolver's order, so the address we pin is the one any other client would try first. */
const systemLookup: Lookup = (hostname) => dnsLookup(hostname, { all: true, verbatim: true })

/**
 * Whether a subscription's URL may be delivered to at all. Only https, since events name aliases and
 * encryptors and the signature authenticates without hiding them; http only when the operator allows it
 * (the tests' local receiver). Credentials in a URL would be stored and shown back with it: refused.
 */
export function checkUrl(raw: string, options: { allowHttp: boolean }): Checked<{ url: URL }> {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return { ok: false, reason: 'not a valid absolute URL' }
  }
  if (url.protocol !== 'https:' && !(options.allowHttp && url.protocol === 'http:'))
    return { ok: false, reason: options.allowHttp ? 'only http and https URLs' : 'only https URLs' }
  if (url.username !== '' || url.password !== '') return { ok: false, reason: 'no credentials in the URL' }
  if (url.hostname === '') return { ok: false, reason: 'the URL names no host' }
  return { ok: true, url }
}

/**
 * The one address to connect to for `hostname` (a URL's hostname; IPv6 in brackets or not). The caller
 * connects to exactly this address (with the hostname kept for TLS and Host): a second lookup at connect
 * time could answer differently (DNS rebinding) and reach what this check refused.
 *
 * Refused when ANY answer is not public, not only the first: a client could pick another one, and an
 * attacker's DNS chooses the answers. Run at every delivery, since an answer may change after subscribing.
 */
export async function resolveTarget(
  hostname: string,
  options: { allowPrivate: boolean; lookup?: Lookup },
): Promise<Checked<ResolvedAddress>> {
  const host = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname
  const literal = isIP(host) !== 0
  let answers: ResolvedAddress[]
  if (literal) {
    // A literal is checked the same way, without DNS.
    answers = [{ address: host, family: isIP(host) }]
  } else {
    try {
      answers = await (options.lookup ?? systemLookup)(host)
    } catch (err) {
      return { ok: false, reason: `${host} did not resolve (${(err as NodeJS.ErrnoException).code ?? 'error'})` }
    }
  }
  const [first] = answers
  if (first === undefined) return { ok: false, reason: `${host} resolved to no address` }
  if (!options.allowPrivate) {
    for (const { address } of answers) {
      const range = nonPublicRange(address)
      if (range === undefined) continue
      const what = literal ? `${host} is` : `${host} resolves to ${address},`
      return { ok: false, reason: `${what} a ${range} address` }
    }
  }
  return { ok: true, address: first.address, family: first.family }
}

/** NAT64's well-known prefix (RFC 6052): the IPv4 address in its last 32 bits is what is reached. */
const NAT64 = ipaddr.IPv6.parseCIDR('64:ff9b::/96')
/** IPv6 global unicast (RFC 4291, IANA): nothing outside it is routed on the public internet. */
const GLOBAL_UNICAST = ipaddr.IPv6.parseCIDR('2000::/3')

/**
 * The name of the range that makes `address` unfit as a delivery target, or undefined when it is public.
 * An allow-list: public means ipaddr.js's 'unicast' (no special range) and, for IPv6, inside 2000::/3.
 * Refused, by ipaddr.js's range() names:
 * - loopback (127/8, ::1), unspecified (0/8, ::; 0.0.0.0 reaches the local host): this very machine.
 * - private (10/8, 172.16/12, 192.168/16), uniqueLocal (fc00::/7), carrierGradeNat (100.64/10),
 *   linkLocal (169.254/16 with cloud metadata at 169.254.169.254, fe80::/10), deprecated site-local
 *   (fec0::/10): networks behind the service, which a tenant must not reach through it.
 * - multicast (224/4, ff00::/8), broadcast (255.255.255.255): not one receiver; TCP cannot reach them.
 * - reserved (192.0.0/24, documentation nets, 198.18/15 benchmarking, 240/4, 2001::/23, 2001:db8::/32,
 *   3fff::/20), as112, amt, discard (100::/64), orchid2, segmentRouting, rfc6145 and the local NAT64
 *   64:ff9b:1::/48: special purpose, no webhook receiver lives there.
 * - 6to4 (2002::/16) and teredo (2001::/32): tunnels whose far end is an IPv4 address that this check
 *   would not see, so reserved as well.
 * - ::/96 (IPv4-compatible, deprecated) and the rest outside 2000::/3: unassigned or special.
 * An IPv4-mapped IPv6 address (::ffff:a.b.c.d) and a NAT64 one (64:ff9b::a.b.c.d) are judged by their
 * IPv4 address, since that is what the connection reaches: ::ffff:10.0.0.1 is private.
 */
export function nonPublicRange(address: string): string | undefined {
  // net's strict syntax, not ipaddr.js's lenient one ('010.0.0.1', '127.1'): what we judge is what we connect to.
  if (isIP(address) === 0) return 'unparseable'
  const ip = ipaddr.parse(address)
  if (ip.kind() === 'ipv4') {
    const range = ip.range()
    return range === 'unicast' ? undefined : range
  }
  const v6 = ip as ipaddr.IPv6
  if (v6.isIPv4MappedAddress()) return nonPublicRange(v6.toIPv4Address().toString())
  if (v6.match(NAT64)) return nonPublicRange(ipaddr.fromByteArray(v6.toByteArray().slice(12)).toString())
  const range = v6.range()
  if (range !== 'unicast') return range
  return v6.match(GLOBAL_UNICAST) ? undefined : 'reserved'
}
