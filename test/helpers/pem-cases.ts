import fc from 'fast-check'

/*
 * PEM texts that are hard on a parser, for the fuzzer (fuzz.ts), the differential test of the PEM
 * scan and the event-loop test. Apart from fuzz.ts so that unit tests can use them without loading the app.
 */

/** Texts made of PEM marker pieces: every way BEGIN, END, labels, dashes and bodies can meet, in a few characters. */
export function pemPieces(maxPieces: number): fc.Arbitrary<string> {
  const pieces = ['-----BEGIN ', '-----END ', '-----', '-', 'A', 'B', ' ', 'CERTIFICATE', '\n', 'QUJD', 'x', '9']
  return fc.array(fc.constantFrom(...pieces), { maxLength: maxPieces }).map((p) => p.join(''))
}

/**
 * Bodies of at most `bytes` (the body limit; `cost` is what a text takes in the body, e.g. escaped in
 * JSON) that cost the old PEM expression quadratic time, and others at the edges of a linear scan
 * (one huge label, a complete block of 1 MiB), with the code each must be answered with.
 */
export function pemWorstCases(
  bytes: number,
  cost: (text: string) => number = (text) => text.length,
): Array<{ name: string; text: string; code: string }> {
  const repeat = (unit: string, head = '', tail = '') =>
    head + unit.repeat(Math.max(0, Math.floor((bytes - cost(head) - cost(tail)) / cost(unit)))) + tail
  const distinctLabels = () => {
    const lines: string[] = []
    for (let i = 0, size = 0; ; i++) {
      const line = `-----BEGIN L${i}-----\n`
      if (size + cost(line) > bytes) return lines.join('')
      lines.push(line)
      size += cost(line)
    }
  }
  const certificateBlock = (body: string, end = '\n-----END CERTIFICATE-----\n') =>
    repeat(body, '-----BEGIN CERTIFICATE-----\n', end)
  const count = 'CMS_CERTIFICATE_COUNT'
  const malformed = 'CMS_CERTIFICATE_MALFORMED'
  return [
    { name: 'BEGIN lines, no END', text: repeat('-----BEGIN A-----\n'), code: count },
    { name: 'BEGIN CERTIFICATE lines, no END', text: repeat('-----BEGIN CERTIFICATE-----\n'), code: count },
    { name: 'BEGIN markers sharing their dashes', text: repeat('-----BEGIN A'), code: count },
    // The label is "A ", closed by the dashes of the next marker.
    { name: 'BEGIN markers with a label ending in a space', text: repeat('-----BEGIN A '), code: count },
    { name: 'a new label on every BEGIN', text: distinctLabels(), code: count },
    { name: 'BEGIN and END with other labels', text: repeat('-----BEGIN A-----\n-----END B-----\n'), code: count },
    { name: 'BEGIN and END sharing their dashes', text: repeat('-----BEGIN A-----END B'), code: count },
    {
      name: 'BEGIN, then END markers of another label',
      text: repeat('-----END B-----\n', '-----BEGIN A-----\n'),
      code: count,
    },
    { name: 'one huge label', text: repeat('A', '-----BEGIN '), code: count },
    { name: 'one huge label, closed', text: repeat('A', '-----BEGIN ', '-----'), code: count },
    { name: 'one huge END label', text: repeat('A', '-----BEGIN A-----\n-----END ', '-----'), code: count },
    { name: '-----BEGIN without a label', text: repeat('-----BEGIN'), code: count },
    { name: 'many complete blocks', text: repeat('-----BEGIN A-----\n-----END A-----\n'), code: count },
    {
      name: 'many complete certificate blocks',
      text: repeat('-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n'),
      code: count,
    },
    {
      name: 'long base64 with whitespace, no END',
      text: repeat('QUJD \r\n', '-----BEGIN CERTIFICATE-----\n'),
      code: count,
    },
    { name: 'long base64 with whitespace in one block', text: certificateBlock('QUJD \r\n'), code: malformed },
    {
      name: 'long base64 with a bad character at the end',
      text: certificateBlock('QUJD\n', '*\n-----END CERTIFICATE-----\n'),
      code: malformed,
    },
  ]
}
