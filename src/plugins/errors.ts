import type { FastifyError, FastifyInstance, FastifyReply, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import { randomUUID } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import { Type, type Static } from 'typebox'
import { codeAndStatus, Errors, type CatalogueError } from '../errors.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Catalogue entries the route may answer with. A route lists the ones its handler and services
     * throw; the plugins add their own (auth, rate limit, load shedding, validation, body parsing)
     * with declareErrors. The OpenAPI document lists these codes per status.
     */
    errors?: readonly CatalogueError[]
  }
}

/** Adds catalogue entries to a route's `errors`, once each (called from onRoute hooks). */
export function declareErrors(route: RouteOptions, ...errors: CatalogueError[]): void {
  const declared = route.config?.errors ?? []
  route.config = { ...route.config, errors: [...new Set([...declared, ...errors])] }
}

/** RFC 9457 problem details: the body of every 4xx/5xx, `Problem` in the OpenAPI components. */
export const ProblemSchema = Type.Object(
  {
    type: Type.String({ description: 'URI naming the kind of problem.' }),
    title: Type.String({ description: 'Short summary of the HTTP status.' }),
    status: Type.Integer({ description: 'HTTP status code.' }),
    detail: Type.String({ description: 'What went wrong, for a person.' }),
    code: Type.String({ description: 'Stable machine-readable error code, e.g. CMS_ALIAS_NOT_FOUND.' }),
    instance: Type.String({
      description: 'Path of the request; urn:uuid:<requestId> when the request could not be parsed at all.',
    }),
    requestId: Type.String({ description: 'Request id, also in the logs.' }),
    errors: Type.Optional(
      Type.Array(
        Type.Object({
          path: Type.String({ description: 'JSON pointer of the invalid value.' }),
          message: Type.String({ description: 'What is wrong with it.' }),
        }),
        { description: 'Schema violations, for validation errors.' },
      ),
    ),
  },
  { $id: 'Problem', description: 'RFC 9457 problem details (application/problem+json).' },
)

export type Problem = Static<typeof ProblemSchema>

/** Fastify's own errors, mapped onto the catalogue so clients see one vocabulary. */
const FASTIFY_CODES: Record<string, (e: FastifyError) => FastifyError> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (e) => new Errors.UNSUPPORTED_MEDIA_TYPE(e.message),
  FST_ERR_CTP_BODY_TOO_LARGE: () =>
    new Errors.BODY_TOO_LARGE('The request body is larger than the limit (BODY_LIMIT).'),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => new Errors.EMPTY_BODY('The JSON body is empty.'),
  FST_ERR_CTP_INVALID_JSON_BODY: (e) => new Errors.MALFORMED_JSON(e.message),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: (e) => new Errors.VALIDATION(e.message),
  FST_UNDER_PRESSURE: () => new Errors.OVERLOADED(),
}

/** RFC 9110 reason phrases (Node's table still has some of the older ones, e.g. 413 Payload Too Large). */
const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
}

export const statusTitle = (status: number) => TITLES[status] ?? STATUS_CODES[status] ?? 'Error'

const problemType = (code: string) =>
  `urn:cms-encryptor:problem:${code.replace(/^CMS_/, '').toLowerCase().replace(/_/g, '-')}`

/** Maps whatever was thrown onto a catalogue error (validation, Fastify's own, JSON syntax). */
function toCatalogueError(raw: FastifyError, bodyAbsent: boolean): FastifyError {
  if (raw.validation) {
    // No body where one is required: the empty body, not the schema, is what the client got wrong.
    if (raw.validationContext === 'body' && bodyAbsent)
      return new Errors.EMPTY_BODY('The request body is empty; this operation needs one.')
    const first = raw.validation[0]
    const where = `${raw.validationContext ?? 'request'}${first?.instancePath ?? ''}`
    return new Errors.VALIDATION(`${where} ${first?.message ?? 'is invalid'}`.trim())
  }
  if (raw.code && FASTIFY_CODES[raw.code]) return FASTIFY_CODES[raw.code]!(raw)
  if (raw instanceof SyntaxError && raw.statusCode === 400) return new Errors.MALFORMED_JSON(raw.message)
  return raw
}

/**
 * The one place a problem body is built, for route errors, unknown routes and requests Node's HTTP
 * parser refused. A 5xx outside the catalogue becomes CMS_INTERNAL and never shows its cause (it may
 * hold internals); `cause` is returned for the log, which has it under the request id.
 */
export function renderProblem(
  raw: FastifyError,
  where: { instance: string; requestId: string; bodyAbsent?: boolean },
): { problem: Problem; cause?: FastifyError } {
  const err = toCatalogueError(raw, where.bodyAbsent ?? false)
  const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500
  const internal = status >= 500 && !err.code?.startsWith('CMS_')
  const code = internal ? codeAndStatus(Errors.INTERNAL).code : (err.code ?? 'CMS_BAD_REQUEST')
  const problem: Problem = {
    type: problemType(code),
    title: statusTitle(status),
    status,
    detail: internal ? 'Internal error; the log has the details under this request id.' : err.message,
    code,
    instance: where.instance,
    requestId: where.requestId,
  }
  if (raw.validation && code === codeAndStatus(Errors.VALIDATION).code)
    problem.errors = raw.validation.map((v) => ({ path: v.instancePath || '/', message: v.message ?? 'invalid' }))
  return { problem, cause: internal ? raw : undefined }
}

export function sendProblem(reply: FastifyReply, problem: Problem) {
  return reply.code(problem.status).type('application/problem+json').send(problem)
}

/**
 * Errors of Node's HTTP parser (smuggling attempts, bytes after a body, header floods, timeouts)
 * never reach a route: Fastify's default answers them with its own JSON. This answers them with a
 * problem from the catalogue instead, then closes the socket as the default does. There is no
 * request to take an id or a path from: the id is generated (and logged), the instance names it.
 */
export function clientErrorHandler(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket) {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const error =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? new Errors.REQUEST_TIMEOUT()
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? new Errors.HEADERS_TOO_LARGE()
        : new Errors.MALFORMED_HTTP(err.code ?? 'unparseable')
  const requestId = randomUUID()
  const { problem } = renderProblem(error, { instance: `urn:uuid:${requestId}`, requestId })
  const body = JSON.stringify(problem)
  this.log.info({ reqId: requestId, code: problem.code, parserError: err.code }, 'client error')
  if (socket.writable) {
    const status = `${problem.status} ${statusTitle(problem.status)}`
    socket.write(
      `HTTP/1.1 ${status}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Content-Type: application/problem+json\r\nX-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
    )
  }
  socket.destroy()
}

const hasValidation = (route: RouteOptions) =>
  ['params', 'querystring', 'headers', 'body'].some((part) => route.schema?.[part as 'body'] !== undefined)

/** Renders every 4xx/5xx, Fastify's own included, as RFC 9457 application/problem+json. */
export default fp(
  async function errors(fastify: FastifyInstance) {
    fastify.addSchema(ProblemSchema)
    // What every route may answer, derived from its schema: a failure of ours, bad input, a bad body.
    fastify.addHook('onRoute', (route) => {
      declareErrors(route, Errors.INTERNAL)
      if (hasValidation(route)) declareErrors(route, Errors.VALIDATION)
      if (route.schema?.body !== undefined) {
        declareErrors(
          route,
          Errors.MALFORMED_JSON,
          Errors.EMPTY_BODY,
          Errors.BODY_TOO_LARGE,
          Errors.UNSUPPORTED_MEDIA_TYPE,
        )
      }
    })
    fastify.setErrorHandler((error: FastifyError, request, reply) => {
      const { problem, cause } = renderProblem(error, {
        instance: request.url.split('?')[0]!,
        requestId: String(request.id),
        bodyAbsent: request.body === undefined,
      })
      if (cause) request.log.error({ err: cause }, 'request failed')
      else request.log.info({ code: problem.code, status: problem.status }, 'request refused')
      const retryAfter = (error as { retryAfter?: number }).retryAfter
      if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter))
      return sendProblem(reply, problem)
    })
    fastify.setNotFoundHandler((request, reply) => {
      const path = request.url.split('?')[0]!
      const { problem } = renderProblem(new Errors.ROUTE_NOT_FOUND(request.method, path), {
        instance: path,
        requestId: String(request.id),
      })
      return sendProblem(reply, problem)
    })
  },
  { name: 'errors' },
)
