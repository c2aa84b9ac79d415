/**
 * Renders docs/errors.md from the error catalogue in src/errors.ts: the codes, statuses and message
 * templates come from the constructors themselves, the section headings from the catalogue's comments.
 * Pure, so test/docs/errors.test.ts can compare the committed file with what this would write.
 */
import { readFileSync } from 'node:fs'
import { Errors } from '../../src/errors.js'

export interface CatalogueEntry {
  name: string
  code: string
  status: number
  message: string
}

const CATALOGUE_SOURCE = new URL('../../src/errors.ts', import.meta.url)
const OTHER = 'Other'

/** Every entry of `Errors`, read from an instance built without arguments: its message is the template. */
export function catalogueEntries(): CatalogueEntry[] {
  return Object.entries(Errors).flatMap(([name, make]) => {
    if (typeof make !== 'function') return []
    const error = new make() as { code: string; statusCode?: number; message: string }
    return [{ name, code: error.code, status: error.statusCode ?? 500, message: error.message }]
  })
}

/**
 * The section of each key, from a `// Heading` comment line that opens a block of entries (after the
 * object's first line or a blank line). A comment under an entry explains that entry and is no heading;
 * a block that opens without a heading falls under "Other".
 */
export function catalogueSections(source: string): Map<string, string> {
  const sections = new Map<string, string>()
  const start = source.indexOf('export const Errors')
  if (start === -1) return sections
  let section = OTHER
  let opensBlock = true
  for (const line of source.slice(start).split('\n').slice(1)) {
    if (/^}/.test(line)) break
    if (line.trim() === '') {
      opensBlock = true
      continue
    }
    const heading = /^ {2}\/\/ (.+)$/.exec(line)
    const key = /^ {2}([A-Z][A-Z0-9_]*):/.exec(line)
    if (heading && opensBlock) section = heading[1]!.trim()
    else if (key && opensBlock) section = OTHER
    if (key) sections.set(key[1]!, section)
    opensBlock = false
  }
  return sections
}

const cell = (text: string) =>
  text === '%s' ? '*(written for the case)*' : text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|')

/** The whole of docs/errors.md. */
export function renderErrorsDoc(source = readFileSync(CATALOGUE_SOURCE, 'utf8')): string {
  const sections = catalogueSections(source)
  const groups = new Map<string, CatalogueEntry[]>()
  for (const entry of catalogueEntries()) {
    const section = sections.get(entry.name) ?? OTHER
    groups.set(section, [...(groups.get(section) ?? []), entry])
  }
  const lines = [
    '# Error codes',
    '',
    'Every error the service answers with is an RFC 9457 `application/problem+json` body whose `code` is one',
    'of the codes below; clients switch on the `code`, never on the message text. The catalogue is',
    '[`src/errors.ts`](../src/errors.ts); this page is generated from it by `npm run docs:errors` (a test fails',
    'when the two differ), so do not edit it by hand. In a message template each `%s` is filled in where the',
    'error is raised; *(written for the case)* means the whole message is. A refused request changes nothing.',
    '',
    'The body has `type` (a URN naming the code), `title` (the HTTP status text), `status`, `detail` (the',
    'message below, filled in), `code`, `instance` (the request path) and `requestId` (also sent as the',
    '`X-Request-Id` header and logged); a validation failure adds `errors`, one `{path, message}` per fault.',
    'A 5xx never carries its cause in `detail`: the log has it under the request id.',
  ]
  for (const [section, entries] of groups) {
    lines.push('', `## ${section}`, '', '| Code | HTTP status | Message template |', '| --- | ---: | --- |')
    for (const e of entries) lines.push(`| \`${e.code}\` | ${e.status} | ${cell(e.message)} |`)
  }
  return lines.join('\n') + '\n'
}
