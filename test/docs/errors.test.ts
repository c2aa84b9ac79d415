import { readFileSync } from 'node:fs'
import t from 'tap'
import { Errors } from '../../src/errors.js'
import { catalogueSections, renderErrorsDoc } from '../../scripts/lib/errors-doc.js'

t.test(
  'docs/errors.md is what the catalogue renders (run `npm run docs:errors` after changing src/errors.ts)',
  async (t) => {
    const committed = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')
    t.equal(committed, renderErrorsDoc())
  },
)

t.test('every code of the catalogue is listed once, with its status', async (t) => {
  const page = renderErrorsDoc()
  for (const make of Object.values(Errors)) {
    const error = new make()
    const rows = page.split('\n').filter((line) => line.startsWith(`| \`${error.code}\` |`))
    t.equal(rows.length, 1, `${error.code} has one row`)
    t.match(rows[0], `| ${error.statusCode} |`, `${error.code} shows ${error.statusCode}`)
  }
})

t.test('sections come from comments that open a block, not from comments under an entry', async (t) => {
  const source = [
    'export const Errors = {',
    '  // Requests',
    "  A: problem('CMS_A', 400, '%s'),",
    '  // Raised by the parser.',
    "  B: problem('CMS_B', 400, '%s'),",
    '',
    '  // Auth',
    "  C: problem('CMS_C', 401, '%s'),",
    '',
    "  D: problem('CMS_D', 500, '%s'),",
    '} as const',
  ].join('\n')
  t.same(Object.fromEntries(catalogueSections(source)), { A: 'Requests', B: 'Requests', C: 'Auth', D: 'Other' })
})
