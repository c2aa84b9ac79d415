import { readFileSync } from 'node:fs'
import t from 'tap'
import { generateOpenApi, generateOpenApiObject } from './helpers/openapi.js'

t.test('openapi.yaml matches the route schemas (run `npm run openapi` after changing a route)', async (t) => {
  const committed = readFileSync(new URL('../openapi.yaml', import.meta.url), 'utf8')
  t.equal(committed, await generateOpenApi())
})

/** Every place in the document where a field is described: properties, parameters, bodies, responses. */
function undescribed(node: unknown, path: string, out: string[]): string[] {
  if (Array.isArray(node)) {
    node.forEach((n, i) => undescribed(n, `${path}[${i}]`, out))
    return out
  }
  if (!node || typeof node !== 'object') return out
  const o = node as Record<string, unknown>
  if (o.properties && typeof o.properties === 'object') {
    for (const [name, schema] of Object.entries(o.properties as Record<string, Record<string, unknown>>)) {
      // A property whose schema is a union may carry its description on the union itself.
      if (!schema.description) out.push(`${path}.properties.${name}`)
    }
  }
  if (path.endsWith('.parameters') === false && o.in && o.name && !o.description)
    out.push(`${path} (parameter ${String(o.name)})`)
  for (const [key, value] of Object.entries(o)) undescribed(value, `${path}.${key}`, out)
  return out
}

t.test('every field, parameter and response of the API has a description', async (t) => {
  const doc = (await generateOpenApiObject()) as {
    paths: Record<string, Record<string, { responses: Record<string, { description?: string }>; summary?: string }>>
  }
  t.same(undescribed(doc.paths, 'paths', []), [])
  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(operations)) {
      t.ok(op.summary, `${method.toUpperCase()} ${path} has a summary`)
      for (const [status, response] of Object.entries(op.responses))
        t.ok(response.description, `${method.toUpperCase()} ${path} ${status} is described`)
    }
  }
})
