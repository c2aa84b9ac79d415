import fc from 'fast-check'
import type { CertificateOptions, RawExtension } from './pki.js'

/*
 * Certificates whose keyUsage or subjectKeyIdentifier holds garbage, as options for issueCertificate
 * (pki.ts), which signs them properly: named examples for the bad-input catalogues and a generator
 * for the fuzzer (fuzz.ts). Apart from fuzz.ts so that unit tests can use them without loading the app.
 */

/** The extensions we read, each with one value of the right type to garble. */
const GARBLED_EXTENSIONS = [
  // keyUsage ::= BIT STRING (RFC 5280 4.2.1.3): here keyEncipherment and keyAgreement.
  { extnID: '2.5.29.15', tag: 0x03, valid: [0x03, 0x02, 0x03, 0x28], omit: { keyUsage: null } },
  // SubjectKeyIdentifier ::= OCTET STRING (RFC 5280 4.2.1.2), 20 bytes as a SHA-1 would give.
  {
    extnID: '2.5.29.14',
    tag: 0x04,
    valid: [0x04, 0x14, ...new Array<number>(20).fill(0x5a)],
    omit: { subjectKeyIdentifier: false },
  },
] as const

/** A GeneralizedTime holding letters: asn1js throws on it instead of reporting it. */
const GARBLED_TIME = Uint8Array.from([0x18, 0x0d, ...Buffer.from('ABCDEFGHIJKLZ')])

/** A valid EC receiver but for `ext`, which holds `values` (one extension each, so two make a duplicate). */
function withGarbledExtension(ext: (typeof GARBLED_EXTENSIONS)[number], ...values: Uint8Array[]): CertificateOptions {
  return {
    key: 'ec-p256', // a fresh key per certificate, and EC keys are made in a millisecond
    keyUsage: ['keyAgreement'],
    ...ext.omit,
    rawExtensions: values.map((value): RawExtension => ({ extnID: ext.extnID, critical: true, value })),
  }
}

/**
 * Named certificates with a garbled extension, for the bad-input catalogues: each was a 500 (asn1js
 * throws on a garbled time) or passed as if the extension were absent.
 */
export function garbledExtensionExamples(): Array<{ name: string; options: CertificateOptions }> {
  const [keyUsage, ski] = GARBLED_EXTENSIONS
  const h = (hex: string) => Uint8Array.from(Buffer.from(hex, 'hex'))
  return [
    { name: 'keyUsage holding a garbled time', options: withGarbledExtension(keyUsage, GARBLED_TIME) },
    { name: 'keyUsage holding an INTEGER', options: withGarbledExtension(keyUsage, h('020101')) },
    { name: 'keyUsage cut short', options: withGarbledExtension(keyUsage, h('030503')) },
    { name: 'keyUsage with bytes after it', options: withGarbledExtension(keyUsage, h('0302032800')) },
    { name: 'keyUsage empty', options: withGarbledExtension(keyUsage, new Uint8Array(0)) },
    { name: 'keyUsage twice', options: withGarbledExtension(keyUsage, h('03020328'), h('03020780')) },
    { name: 'subjectKeyIdentifier holding a garbled time', options: withGarbledExtension(ski, GARBLED_TIME) },
    { name: 'subjectKeyIdentifier holding a BIT STRING', options: withGarbledExtension(ski, h('03020328')) },
    { name: 'subjectKeyIdentifier cut short', options: withGarbledExtension(ski, h('0414aabb')) },
  ]
}

/**
 * Options for a signed certificate whose keyUsage or subjectKeyIdentifier holds anything but one DER
 * value of its type: each kind is garbage by construction, so the answer must be 400
 * CMS_CERTIFICATE_MALFORMED. `what` says which garbage, for a failure report.
 */
export function garbledExtensionCertificates(): fc.Arbitrary<{ what: string; options: CertificateOptions }> {
  return fc.constantFrom(...GARBLED_EXTENSIONS).chain((ext) => {
    const valid = Uint8Array.from(ext.valid)
    const bytes = (minLength = 0) => fc.uint8Array({ minLength, maxLength: 24 })
    const kinds: Array<fc.Arbitrary<[string, Uint8Array[]]>> = [
      fc.constant(['empty', [new Uint8Array(0)]]),
      // Another universal type, its length right: INTEGER, NULL, OID, UTF8String, SEQUENCE, the other string.
      fc
        .tuple(fc.constantFrom(0x01, 0x02, 0x05, 0x06, 0x0c, 0x30, 0x31, ext.tag === 0x03 ? 0x04 : 0x03), bytes())
        .map(([tag, content]) => [`tag ${tag}`, [Uint8Array.from([tag, content.length, ...content])]]),
      fc
        .integer({ min: 1, max: 60 })
        .map((more) => [`${more} bytes short`, [Uint8Array.from([ext.tag, valid[1]! + more, ...valid.subarray(2)])]]),
      bytes(1).map((extra) => [`${extra.length} bytes after`, [Uint8Array.from([...valid, ...extra])]]),
      fc.constant(['constructed', [Uint8Array.from([ext.tag | 0x20, ...valid.subarray(1)])]]),
      fc.constant(['a long-form tag', [Uint8Array.from([0x1f, ext.tag, ...valid.subarray(1)])]]),
      fc.constant(['a garbled time', [GARBLED_TIME]]),
      bytes(1)
        .filter((b) => b[0] !== ext.tag)
        .map((b) => [`random ${Buffer.from(b).toString('hex')}`, [b]]),
      fc.constant(['twice', [valid, valid]]),
    ]
    if (ext.tag === 0x03) kinds.push(fc.constant(['9 unused bits', [Uint8Array.from([0x03, 0x02, 0x09, 0x80])]]))
    return fc
      .oneof(...kinds)
      .map(([kind, values]) => ({ what: `${ext.extnID} ${kind}`, options: withGarbledExtension(ext, ...values) }))
  })
}
