import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import { Errors } from '../errors.js'

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

export interface Problem {
  type: string
  title: string
  status: number
  detail: string
  code: string
  instance: string
  requestId: string
  errors?: Array<{ path: string; message: string }>
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
}

const problemType = (code: string) =>
  `urn:cms-encryptor:problem:${code.replace(/^CMS_/, '').toLowerCase().replace(/_/g, '-')}`

function toProblem(raw: FastifyError, request: FastifyRequest): { problem: Problem; cause?: FastifyError } {
  let err = raw
  if (raw.validation) {
    err = new Errors.VALIDATION(
      `${raw.validationContext ?? 'request'}${raw.validation[0]?.instancePath ?? ''} ${raw.validation[0]?.message ?? 'is invalid'}`.trim(),
    )
  } else if (raw.code && FASTIFY_CODES[raw.code]) {
    err = FASTIFY_CODES[raw.code]!(raw)
  } else if (raw instanceof SyntaxError && raw.statusCode === 400) {
    err = new Errors.MALFORMED_JSON(raw.message)
  }
  const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500
  const internal = status >= 500 && !err.code?.startsWith('CMS_')
  const code = internal ? 'CMS_INTERNAL' : (err.code ?? 'CMS_BAD_REQUEST')
  const problem: Problem = {
    type: problemType(code),
    title: TITLES[status] ?? 'Error',
    status,
    // A 5xx never shows its cause: it may hold internals; the log has it under the request id.
    detail: internal ? 'Internal error; the log has the details under this request id.' : err.message,
    code,
    instance: request.url.split('?')[0]!,
    requestId: String(request.id),
  }
  if (raw.validation)
    problem.errors = raw.validation.map((v) => ({ path: v.instancePath || '/', message: v.message ?? 'invalid' }))
  return { problem, cause: internal ? raw : undefined }
}

export function sendProblem(reply: FastifyReply, problem: Problem) {
  return reply.code(problem.status).type('application/problem+json').send(problem)
}

/**
 * Errors of Node's HTTP parser (smuggling attempts, bytes after a body, header floods, timeouts)
 * never reach a route: Fastify's default answers them with its own JSON. This answers them with a
 * problem from the catalogue instead, then closes the socket as the default does.
 */
export function clientErrorHandler(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket) {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const error =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? new Errors.REQUEST_TIMEOUT()
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? new Errors.HEADERS_TOO_LARGE()
        : new Errors.MALFORMED_HTTP(err.code ?? 'unparseable')
  const status = error.statusCode!
  const body = JSON.stringify({
    type: problemType(error.code),
    title: STATUS_CODES[status],
    status,
    detail: error.message,
    code: error.code,
  })
  this.log.info({ code: error.code, parserError: err.code }, 'client error')
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/problem+json\r\nConnection: close\r\n\r\n${body}`,
    )
  }
  socket.destroy()
}

/** Renders every 4xx/5xx, Fastify's own included, as RFC 9457 application/problem+json. */
export default fp(
  async function errors(fastify: FastifyInstance) {
    fastify.setErrorHandler((error: FastifyError, request, reply) => {
      const { problem, cause } = toProblem(error, request)
      if (cause) request.log.error({ err: cause }, 'request failed')
      else request.log.info({ code: problem.code, status: problem.status }, 'request refused')
      const retryAfter = (error as { retryAfter?: number }).retryAfter
      if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter))
      return sendProblem(reply, problem)
    })
    fastify.setNotFoundHandler((request, reply) => {
      const { problem } = toProblem(new Errors.ROUTE_NOT_FOUND(request.method, request.url.split('?')[0]), request)
      return sendProblem(reply, problem)
    })
  },
  { name: 'errors' },
)
