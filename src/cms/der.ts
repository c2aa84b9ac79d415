/**
 * The few DER/BER primitives the hot path needs (X.690). Constant structures are encoded once with
 * asn1js/PKI.js; per message we only wrap fresh bytes (encrypted keys, IVs, ciphertext) with a
 * tag and a length, which is cheaper than building and re-encoding an ASN.1 object tree.
 */

export const Tag = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  SEQUENCE: 0x30,
  SET: 0x31,
  CONTEXT_0: 0xa0, // [0] constructed
  CONTEXT_1: 0xa1, // [1] constructed
  CONTEXT_0_PRIMITIVE: 0x80, // [0] IMPLICIT OCTET STRING, primitive
} as const

/** BER end-of-contents octets closing one indefinite-length value. */
export const END_OF_CONTENTS = Buffer.from([0, 0])

/** Tag and definite length (X.690 8.1.3), for a value of `length` bytes that follows. */
export function header(tag: number, length: number): Buffer {
  if (length < 0x80) return Buffer.from([tag, length])
  let octets = 0
  for (let n = length; n > 0; n = Math.floor(n / 256)) octets++
  const out = Buffer.allocUnsafe(2 + octets)
  out[0] = tag
  out[1] = 0x80 | octets
  for (let i = octets - 1, n = length; i >= 0; i--, n = Math.floor(n / 256)) out[2 + i] = n % 256
  return out
}

/** Tag with the indefinite length form (BER only): the value ends with END_OF_CONTENTS. */
export function indefiniteHeader(tag: number): Buffer {
  return Buffer.from([tag, 0x80])
}

/** A complete TLV whose value is the concatenation of `parts`. */
export function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  let length = 0
  for (const p of parts) length += p.length
  return Buffer.concat([header(tag, length), ...parts], headerLength(length) + length)
}

/** How many bytes header(tag, length) takes. */
export function headerLength(length: number): number {
  if (length < 0x80) return 2
  let octets = 0
  for (let n = length; n > 0; n = Math.floor(n / 256)) octets++
  return 2 + octets
}

/** A small non-negative INTEGER (versions, tag lengths). */
export function smallInteger(value: number): Buffer {
  if (value < 0 || value > 127) throw new RangeError('smallInteger takes 0..127')
  return Buffer.from([Tag.INTEGER, 1, value])
}

/**
 * DER orders the components of a SET OF by their encodings (X.690 11.6): shorter common prefix
 * first, byte by byte, a missing byte sorting before any present one.
 */
export function sortSetOf<T extends { encoded: Buffer }>(items: T[]): T[] {
  return items.sort((a, b) => Buffer.compare(a.encoded, b.encoded))
}
