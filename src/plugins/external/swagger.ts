import swagger, { type SwaggerOptions } from '@fastify/swagger'
import type { FastifyContextConfig, FastifyInstance, FastifySchema } from 'fastify'
import fp from 'fastify-plugin'
import { codeAndStatus, WITH_RETRY_AFTER } from '../../errors.js'
import { webhooksDocument } from '../../webhooks/event-schemas.js'
import { isPublic } from '../auth.js'
import { statusTitle } from '../errors.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Request media types the route accepts but Fastify does not validate (raw payloads, PEM, DER):
     * documented beside the ones `schema.body` validates. Documentation only.
     */
    documentedBody?: Record<string, { schema: object }>
    /**
     * Headers the route sends on a status beyond those every response or status has (X-Request-Id;
     * Location on a 201; Retry-After on the problems that carry it): documented as always present.
     */
    responseHeaders?: Partial<Record<number, readonly RouteHeader[]>>
  }
}

const header = (description: string, schema: object = { type: 'string' }) => ({ description, required: true, schema })
const retryAfterSchema = () => ({ type: 'integer', minimum: 0 })

/** `components.headers`: the headers the API sends on purpose, each present wherever it is listed (unless optional). */
const HEADERS = {
  'X-Request-Id': header(
    "Id of the request: the X-Request-Id it was sent with, or a new UUID. The logs and a problem's " +
      '`requestId` carry it.',
  ),
  ETag: header('Version of the resource; send it in If-Match to change the resource only at this version.'),
  Location: header('Path of the created resource.'),
  'Retry-After': header('Seconds to wait before trying again.', retryAfterSchema()),
  'Cache-Control': header('no-store: the CMS is for this request only; no cache keeps it.'),
  'X-Cms-Recipients': header('Aliases encrypted for, comma-separated, in RecipientInfo order.'),
  // Only an encryptor with a signer sends it, so it is listed on encrypt's 200 but not required.
  'X-Cms-Signer': {
    ...header('Alias of the key pair that signed the payload, when the encryptor signs (sign, then encrypt).'),
    required: false,
  },
}
/** Headers a route declares itself (config.responseHeaders); the others follow from rules below. */
export type RouteHeader = 'ETag' | 'Cache-Control' | 'X-Cms-Recipients' | 'X-Cms-Signer'

const headerRef = (name: keyof typeof HEADERS) => ({ $ref: `#/components/headers/${name}` })
const retryAfterCodes = new Set(WITH_RETRY_AFTER.map((entry) => codeAndStatus(entry).code))

/**
 * The headers of one response: X-Request-Id on every one, Location on a 201, Retry-After where the
 * problem codes carry it (always present when every code does), and what the route declares.
 */
function responseHeaders(status: number, codes: string[], declared: readonly RouteHeader[] = []) {
  const headers: Record<string, object> = { 'X-Request-Id': headerRef('X-Request-Id') }
  if (status === 201) headers.Location = headerRef('Location')
  for (const name of declared) headers[name] = headerRef(name)
  const retrying = codes.filter((code) => retryAfterCodes.has(code))
  if (retrying.length > 0 && retrying.length === codes.length) headers['Retry-After'] = headerRef('Retry-After')
  else if (retrying.length > 0) {
    headers['Retry-After'] = {
      description: `Seconds to wait before trying again; sent with ${retrying.join(', ')}.`,
      schema: retryAfterSchema(),
    }
  }
  return headers
}

interface Operation {
  requestBody?: { required?: boolean }
  responses: Record<string, { headers?: object; $ref?: string }>
}

/** OpenAPI paths name parameters `{id}`, Fastify `:id`. */
const openapiPath = (url: string) => url.replace(/:(\w+)/g, '{$1}')

type ProblemCodes = Map<number, string[]>

/** The catalogue codes a route may answer with, by status: its own `errors` plus those the plugins add. */
function problemCodes(config: FastifyContextConfig | undefined): ProblemCodes {
  const byStatus: ProblemCodes = new Map()
  for (const entry of config?.errors ?? []) {
    const { code, status } = codeAndStatus(entry)
    byStatus.set(status, [...new Set([...(byStatus.get(status) ?? []), code])].sort())
  }
  return byStatus
}

/** A problem response whose `code` is one of `codes`: what a client switches on. */
const problemResponse = (status: number, codes: string[]) => ({
  description: `${statusTitle(status)}: ${codes.join(', ')}.`,
  headers: responseHeaders(status, codes),
  content: {
    'application/problem+json': {
      schema: { $ref: '#/components/schemas/Problem', properties: { code: { enum: codes } } },
    },
  },
})

/** Fastify validates an absent body as null: a body schema that accepts null makes the body optional. */
const acceptsNull = (body: unknown) =>
  ((body as { anyOf?: Array<{ type?: unknown }> } | undefined)?.anyOf ?? []).some((s) => s.type === 'null')

/**
 * The document follows the routes: shared schemas (fastify.addSchema) become `components.schemas`
 * under their $id; each operation gets its problem responses, its response headers, its `security`
 * (none on a public route) and the body media types it declares.
 */
function swaggerOptions(): SwaggerOptions {
  // Filled by `transform` (which sees the routes) for `transformObject` (which sees the operations).
  const optionalBodies = new Set<string>()
  const problems = new Map<string, ProblemCodes>()
  const declaredHeaders = new Map<string, FastifyContextConfig['responseHeaders']>()
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'cms-encryptor',
        version: '0.1.0',
        description:
          'Encrypts payloads as CMS/PKCS#7 EnvelopedData for one or several receivers; keeps the receiver ' +
          'keystore and encryptor configurations. Errors are RFC 9457 application/problem+json; each ' +
          'response lists the `code`s it may carry.',
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'A token of role tenant-admin, integration-developer, integration-flow or monitor.',
          },
        },
        headers: HEADERS,
      },
      security: [{ bearer: [] }],
      tags: [
        { name: 'keystore', description: 'Receiver certificates by alias.' },
        { name: 'encryptors', description: 'Receivers and algorithms of an integration flow encrypt step.' },
        { name: 'encrypt', description: 'Payload in, CMS out.' },
        { name: 'renewals', description: 'Receiver key renewals as step-by-step workflows.' },
        { name: 'audit', description: 'Who changed what, when.' },
        {
          name: 'webhooks',
          description: 'Signed notifications of renewals, expiries and changes (Standard Webhooks).',
        },
        { name: 'health', description: 'Liveness and readiness.' },
        { name: 'ops', description: 'Metrics and this document.' },
      ],
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
    transform({ schema, url, route }) {
      if (!schema || schema.hide) return { schema, url }
      const config = route.config
      const documented = config?.documentedBody
      const body = schema.body as { content?: object } | undefined
      const operation = `${String(route.method).toLowerCase()} ${openapiPath(url)}`
      if (acceptsNull(body)) optionalBodies.add(operation)
      problems.set(operation, problemCodes(config))
      declaredHeaders.set(operation, config?.responseHeaders)
      const transformed: FastifySchema & Record<string, unknown> = {
        ...schema,
        ...(documented ? { body: { content: { ...body?.content, ...documented } } } : {}),
        ...(isPublic(config) ? { security: [] } : {}),
      }
      return { schema: transformed, url }
    },
    transformObject(documentObject) {
      const doc = (documentObject as { openapiObject: Record<string, unknown> }).openapiObject as {
        paths: Record<string, Record<string, Operation>>
        components: { responses?: Record<string, unknown> }
      }
      const shared: Record<string, unknown> = {}
      for (const [path, operations] of Object.entries(doc.paths)) {
        for (const [method, operation] of Object.entries(operations)) {
          const key = `${method} ${path}`
          if (optionalBodies.has(key) && operation.requestBody) operation.requestBody.required = false
          for (const [status, response] of Object.entries(operation.responses))
            response.headers = responseHeaders(Number(status), [], declaredHeaders.get(key)?.[Number(status)])
          for (const [status, codes] of [...(problems.get(key) ?? [])].sort(([a], [b]) => a - b)) {
            // A status with one code is the same response everywhere: written once, referenced.
            if (codes.length === 1) {
              shared[codes[0]!] = problemResponse(status, codes)
              operation.responses[status] = { $ref: `#/components/responses/${codes[0]}` }
            } else {
              operation.responses[status] = problemResponse(status, codes)
            }
          }
        }
      }
      doc.components.responses = Object.fromEntries(Object.entries(shared).sort(([a], [b]) => a.localeCompare(b)))
      // What the service sends, beside what it answers: each webhook event's request (OpenAPI 3.1).
      ;(doc as { webhooks?: unknown }).webhooks = JSON.parse(JSON.stringify(webhooksDocument()))
      return doc
    },
  }
}

/** OpenAPI 3.1 document built from the route schemas (`npm run openapi` writes openapi.yaml). */
export default fp(
  async function openapi(fastify: FastifyInstance) {
    await fastify.register(swagger, swaggerOptions())
  },
  { name: 'openapi' },
)
