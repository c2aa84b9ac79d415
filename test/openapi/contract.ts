import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import type { LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'

interface MediaType {
  schema?: unknown
}
interface HeaderObject {
  required?: boolean
  schema?: { type?: string }
}
interface ResponseObject {
  description?: string
  headers?: Record<string, HeaderObject | { $ref: string }>
  content?: Record<string, MediaType>
}
type Responses = Record<string, ResponseObject | { $ref: string }>
export interface OpenApiDocument {
  paths: Record<string, Record<string, { responses: Responses }>>
  components: { schemas?: object; responses?: Record<string, ResponseObject>; headers?: Record<string, HeaderObject> }
}

const essence = (mediaType: string) => mediaType.split(';')[0]!.trim().toLowerCase()
const isJson = (type: string) => type === 'application/json' || type.endsWith('+json')
const isText = (type: string) =>
  type.startsWith('text/') || ['application/x-pem-file', 'application/yaml'].includes(type)

/**
 * Headers the service sets itself as part of its API: a response may carry one only where the document
 * declares it for that status. Left out: Content-Type (checked against the media types below) and
 * Content-Length, which HTTP itself defines; helmet's security headers and @fastify/rate-limit's
 * advisory X-RateLimit-* (documented in docs/operations.md), which say nothing about one operation;
 * Connection, which is transport.
 */
export const CONTRACT_HEADERS = [
  'etag',
  'location',
  'retry-after',
  'x-cms-recipients',
  'x-cms-signer',
  'cache-control',
  'x-request-id',
]

/** `#/components/...` of the document, as seen from a schema compiled on its own. */
function rebase(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(rebase)
  if (!schema || typeof schema !== 'object') return schema
  return Object.fromEntries(
    Object.entries(schema).map(([k, v]) => [
      k,
      k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? `openapi${v}` : rebase(v),
    ]),
  )
}

/**
 * Checks real responses against the OpenAPI document: the status is documented for the operation,
 * the contract headers are the documented ones, the Content-Type is one documented for that status,
 * and the body validates against the documented schema (JSON Schema 2020-12, as OpenAPI 3.1 says) —
 * for problems, that includes the `code`s the operation lists. Remembers which statuses of which operations were seen.
 */
export class ContractChecker {
  private readonly ajv
  private readonly validators = new Map<unknown, ValidateFunction>()
  /** `GET /keystore/entries/{alias}` → statuses seen. */
  readonly seen = new Map<string, Set<number>>()

  constructor(readonly doc: OpenApiDocument) {
    this.ajv = new Ajv2020.default({ strict: false, allErrors: true })
    addFormats.default(this.ajv)
    this.ajv.addFormat('binary', true)
    this.ajv.addSchema({ $id: 'openapi', components: doc.components })
  }

  operations(): string[] {
    return Object.entries(this.doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    )
  }

  /** The documented response for `status`, its `$ref` resolved. */
  response(operation: string, status: number): ResponseObject | undefined {
    const [method, path] = operation.split(' ') as [string, string]
    const response = this.doc.paths[path]?.[method.toLowerCase()]?.responses[String(status)]
    if (response && '$ref' in response)
      return this.doc.components.responses?.[response.$ref.replace('#/components/responses/', '')]
    return response
  }

  /** The headers documented for a response, by lower-case name, their `$ref`s resolved. */
  private headers(response: ResponseObject): Map<string, HeaderObject> {
    return new Map(
      Object.entries(response.headers ?? {}).map(([name, header]) => [
        name.toLowerCase(),
        '$ref' in header
          ? (this.doc.components.headers?.[header.$ref.replace('#/components/headers/', '')] ?? {})
          : header,
      ]),
    )
  }

  /** What is wrong with the headers of `res`: undeclared contract headers, required ones absent, bad integers. */
  private headerViolations(response: ResponseObject, res: LightMyRequestResponse): string[] {
    const declared = this.headers(response)
    const wrong: string[] = []
    for (const name of CONTRACT_HEADERS)
      if (res.headers[name] !== undefined && !declared.has(name)) wrong.push(`${name} sent but not declared`)
    for (const [name, header] of declared) {
      const value = res.headers[name]
      if (value === undefined) {
        if (header.required) wrong.push(`${name} required but absent`)
      } else if (header.schema?.type === 'integer' && !/^\d+$/.test(String(value))) {
        wrong.push(`${name} "${String(value)}" is not an integer`)
      }
    }
    return wrong
  }

  private validator(schema: unknown): ValidateFunction {
    let validate = this.validators.get(schema)
    if (!validate) {
      validate = this.ajv.compile(rebase(schema) as object)
      this.validators.set(schema, validate)
    }
    return validate
  }

  /** `operation` is the documented one, e.g. `PUT /keystore/entries/{alias}`; `label` says which case. */
  check(t: Test, operation: string, res: LightMyRequestResponse, label: string): void {
    const at = `${label} (${operation} → ${res.statusCode})`
    const [method, path] = operation.split(' ') as [string, string]
    if (!this.doc.paths[path]?.[method.toLowerCase()]) {
      t.fail(`${at}: the document has no such operation`)
      return
    }
    const seen = this.seen.get(operation) ?? new Set()
    this.seen.set(operation, seen.add(res.statusCode))
    const response = this.response(operation, res.statusCode)
    if (!response) {
      t.fail(`${at}: status not documented`)
      return
    }
    t.same(this.headerViolations(response, res), [], `${at}: headers as documented`)
    if (!response.content) {
      t.equal(res.rawPayload.length, 0, `${at}: no body, as documented`)
      return
    }
    const contentType = essence(String(res.headers['content-type'] ?? ''))
    const documented = Object.keys(response.content)
    const key = documented.find((k) => essence(k) === contentType)
    if (!key) {
      t.fail(`${at}: Content-Type "${res.headers['content-type']}" is not one of ${documented.join(', ')}`)
      return
    }
    const schema = response.content[key]!.schema
    let body: unknown
    if (isJson(contentType)) body = res.json()
    else if (isText(contentType)) body = res.body
    else {
      t.ok(res.rawPayload.length > 0, `${at}: ${contentType} body present`)
      return
    }
    const validate = this.validator(schema)
    const valid = validate(body)
    t.ok(valid, `${at}: body matches the ${key} schema`, { errors: validate.errors, body })
    if (contentType === 'application/problem+json') {
      const problem = body as { code?: string; status?: number }
      t.equal(problem.status, res.statusCode, `${at}: problem status`)
      t.match(response.description ?? '', problem.code ?? '(no code)', `${at}: ${problem.code} listed`)
    }
  }

  /** Every operation of the document was seen answering a 2xx, and a 4xx when it documents one. */
  assertEveryOperationExercised(t: Test): void {
    for (const operation of this.operations()) {
      const seen = [...(this.seen.get(operation) ?? [])]
      t.ok(
        seen.some((s) => s < 300),
        `${operation}: a success was checked (seen: ${seen.join(', ') || 'nothing'})`,
      )
      const [method, path] = operation.split(' ') as [string, string]
      const documents4xx = Object.keys(this.doc.paths[path]![method.toLowerCase()]!.responses).some((s) =>
        s.startsWith('4'),
      )
      if (documents4xx)
        t.ok(
          seen.some((s) => s >= 400 && s < 500),
          `${operation}: a client error was checked`,
        )
    }
  }
}
