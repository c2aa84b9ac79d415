import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

/**
 * Every link in the README and in docs/ must lead somewhere: a relative link to a file that exists
 * and, with `#anchor`, to a heading of that file (GitHub's slugs). Web links are allowed unchecked:
 * tests never leave the machine.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

/** The Markdown files that make up the documentation, relative to `root`. */
function documentationFiles(root: string): string[] {
  const docs = join(root, 'docs')
  const pages = existsSync(docs) ? readdirSync(docs).filter((f) => f.endsWith('.md')) : []
  return ['README.md', ...pages.map((f) => `docs/${f}`)]
}

/** The text outside fenced code blocks and inline code spans, where links and headings live. */
function prose(markdown: string): string[] {
  let fence: string | undefined
  return markdown.split('\n').map((line) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1]
    if (marker && (!fence || marker.startsWith(fence))) {
      fence = fence ? undefined : marker
      return ''
    }
    return fence ? '' : line.replace(/`+[^`]*`+/g, '')
  })
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .replace(/`/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-')
}

/** The anchors a Markdown file offers: its headings (duplicates numbered as GitHub does) and explicit ids. */
function anchors(markdown: string): Set<string> {
  const found = new Set<string>()
  const seen = new Map<string, number>()
  let fence: string | undefined
  for (const line of markdown.split('\n')) {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1]
    if (marker && (!fence || marker.startsWith(fence))) fence = fence ? undefined : marker
    if (fence || marker) continue
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1]
    if (heading !== undefined) {
      const base = slug(heading)
      const n = seen.get(base) ?? 0
      seen.set(base, n + 1)
      found.add(n === 0 ? base : `${base}-${n}`)
    }
    for (const id of line.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) found.add(id[1]!)
  }
  return found
}

/** Link targets: inline links and images `[text](target "title")`, and reference definitions `[id]: target`. */
function linkTargets(markdown: string): Array<{ line: number; target: string }> {
  const targets: Array<{ line: number; target: string }> = []
  prose(markdown).forEach((text, i) => {
    for (const m of text.matchAll(/\]\(\s*(<[^>]*>|[^)\s]*)(?:\s+"[^"]*")?\s*\)/g)) {
      targets.push({ line: i + 1, target: m[1]!.replace(/^<|>$/g, '') })
    }
    const definition = /^ {0,3}\[[^\]]+\]:\s*(\S+)/.exec(text)
    if (definition) targets.push({ line: i + 1, target: definition[1]!.replace(/^<|>$/g, '') })
  })
  return targets
}

/** Every link in `files` (relative to `root`) that leads nowhere, as `file:line target: why`. */
export function brokenLinks(root: string, files: string[]): string[] {
  const broken: string[] = []
  for (const file of files) {
    const markdown = readFileSync(join(root, file), 'utf8')
    for (const { line, target } of linkTargets(markdown)) {
      const where = `${file}:${line} ${target}`
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
        if (!/^(https?|mailto):/i.test(target)) broken.push(`${where}: only http(s) and mailto links go outside`)
        continue
      }
      if (target === '') {
        broken.push(`${where}: empty link`)
        continue
      }
      const [path, anchor] = target.split('#', 2) as [string, string | undefined]
      const resolved = path ? resolve(dirname(join(root, file)), decodeURIComponent(path)) : join(root, file)
      if (relative(root, resolved).startsWith('..')) {
        broken.push(`${where}: leads outside the repository`)
        continue
      }
      if (!existsSync(resolved)) {
        broken.push(`${where}: no such file`)
        continue
      }
      if (anchor === undefined) continue
      if (!resolved.endsWith('.md') || statSync(resolved).isDirectory()) {
        broken.push(`${where}: an anchor into a file that is not Markdown`)
      } else if (!anchors(readFileSync(resolved, 'utf8')).has(decodeURIComponent(anchor))) {
        broken.push(`${where}: no heading with this anchor`)
      }
    }
  }
  return broken
}

t.test('every link in the README and in docs/ resolves', async (t) => {
  const files = documentationFiles(ROOT)
  t.ok(files.length > 1, 'the README and docs/ pages are found')
  t.same(brokenLinks(ROOT, files), [])
})

t.test('the README links to every page in docs/', async (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const linked = new Set(linkTargets(readme).map(({ target }) => target.split('#')[0]))
  for (const page of documentationFiles(ROOT).slice(1)) t.ok(linked.has(page), `README links ${page}`)
})

t.test('GitHub slugs', async (t) => {
  t.equal(slug('Backup, restore and upgrade'), 'backup-restore-and-upgrade')
  t.equal(slug('`AUTH_TOKENS_FILE`: rotation'), 'auth_tokens_file-rotation')
  t.equal(slug('Renewing a key (step by step)'), 'renewing-a-key-step-by-step')
  t.equal(slug('[Tokens](docs/tokens.md) and roles'), 'tokens-and-roles')
})

t.test('the check finds what is broken, and only that', async (t) => {
  const root = t.testdir({
    'README.md': [
      '# Title',
      '## Same',
      '## Same',
      '[ok](docs/page.md) [ok](docs/page.md#a-section) [ok](#same-1) [ok](https://example.org/x) [ok](docs/)',
      '[missing file](docs/nope.md) [missing anchor](docs/page.md#nowhere) [missing local](#same-2)',
      '`[in code](nope.md)`',
      '```',
      '[in a fence](nope.md)',
      '```',
      '[ref]: docs/gone.md',
      '[outside](../../etc/passwd) [scheme](ftp://example.org/f)',
    ].join('\n'),
    docs: { 'page.md': '# Page\n\n## A section\n\n[back](../README.md#title)\n' },
  })
  t.same(brokenLinks(root, ['README.md', 'docs/page.md']), [
    'README.md:5 docs/nope.md: no such file',
    'README.md:5 docs/page.md#nowhere: no heading with this anchor',
    'README.md:5 #same-2: no heading with this anchor',
    'README.md:10 docs/gone.md: no such file',
    'README.md:11 ../../etc/passwd: leads outside the repository',
    'README.md:11 ftp://example.org/f: only http(s) and mailto links go outside',
  ])
})
