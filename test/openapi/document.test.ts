import SwaggerParser from '@apidevtools/swagger-parser'
import { readFileSync } from 'node:fs'
import t from 'tap'
import { generateOpenApi, generateOpenApiObject } from '../../src/openapi/generate.js'

t.test('openapi.yaml matches the route schemas (run `npm run openapi` after changing a route)', async (t) => {
  const committed = readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8')
  t.equal(committed, await generateOpenApi())
})

t.test('the document is valid OpenAPI 3.1', async (t) => {
  const doc = await generateOpenApiObject()
  // The validator dereferences in place: give it a copy.
  await t.resolves(SwaggerParser.validate(structuredClone(doc) as never))
  // And it can fail: a response without a description is not OpenAPI.
  const broken = structuredClone(doc) as { paths: Record<string, Record<string, { responses: object }>> }
  broken.paths['/health/live']!.get!.responses = { 200: {} }
  await t.rejects(SwaggerParser.validate(broken as never))
})

/** Where a field is left undescribed: properties and parameters, anywhere in `node`. */
function undescribed(node: unknown, path: string, out: string[]): string[] {
  if (Array.isArray(node)) {
    node.forEach((n, i) => undescribed(n, `${path}[${i}]`, out))
    return out
  }
  if (!node || typeof node !== 'object') return out
  const o = node as Record<string, unknown>
  if (o.properties && typeof o.properties === 'object') {
    for (const [name, schema] of Object.entries(o.properties as Record<string, Record<string, unknown>>)) {
      // A problem response narrows `code` to its list: the description is on the shared schema.
      const narrowing = name === 'code' && Object.keys(schema).join() === 'enum'
      if (!schema.description && !narrowing) out.push(`${path}.properties.${name}`)
    }
  }
  if (o.in && o.name && !o.description) out.push(`${path} (parameter ${String(o.name)})`)
  for (const [key, value] of Object.entries(o)) undescribed(value, `${path}.${key}`, out)
  return out
}

/** @fastify/swagger's text for a response nobody described. */
const DEFAULT_DESCRIPTION = 'Default Response'

t.test('every field, parameter and response of the API has a description', async (t) => {
  const doc = (await generateOpenApiObject()) as {
    paths: Record<string, Record<string, { responses: Record<string, { description?: string; $ref?: string }> }>>
    components: { schemas: object; responses: Record<string, { description?: string }> }
  }
  t.same(undescribed(doc.paths, 'paths', []), [])
  t.same(undescribed(doc.components.schemas, 'components.schemas', []), [])
  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(operations) as Array<[string, { summary?: string; responses: object }]>) {
      const name = `${method.toUpperCase()} ${path}`
      t.ok(op.summary, `${name} has a summary`)
      for (const [status, response] of Object.entries(op.responses) as Array<
        [string, { description?: string; $ref?: string }]
      >) {
        const resolved = response.$ref
          ? doc.components.responses[response.$ref.replace('#/components/responses/', '')]
          : response
        const description = resolved?.description ?? ''
        t.ok(description && description !== DEFAULT_DESCRIPTION, `${name} ${status} is described: "${description}"`)
      }
    }
  }
})
