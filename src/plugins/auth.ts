import type { FastifyContextConfig, FastifyInstance, FastifyRequest, RouteOptions } from 'fastify'
import type { Actor } from '../audit/audit.js'
import fp from 'fastify-plugin'
import { FailureCounter } from '../auth/failure-counter.js'
import { ROLES, type Principal, type Role, type TokenRegistry } from '../auth/tokens.js'
import { Errors } from '../errors.js'
import { declareErrors } from './errors.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Whether a route needs a token is decided here and nowhere else: every route declares either
     * `public: true` or the `roles` allowed on it, or it fails to register. The auth check, the
     * OpenAPI `security` field and the rate limit (by client address on a public route, and which
     * roles are counted) all read it.
     */
    public?: true
    /** Roles allowed on the route. */
    roles?: readonly Role[]
  }
  interface FastifyRequest {
    principal?: Principal
    /** Who is acting and in which role, for audit records; set on every authenticated route. */
    actor?: Actor
  }
}

export const isPublic = (config: FastifyContextConfig | undefined) => config?.public === true

/** The actor of an authenticated request (routes with `roles` always have one). */
export function actorOf(request: FastifyRequest): Actor {
  if (!request.actor) throw new Error('actorOf() on a route without roles')
  return request.actor
}

const PUBLIC_CONTEXT = Symbol('public context')

/**
 * Registers a third-party plugin whose routes cannot carry our route config (Swagger UI) with every
 * route it adds public: the only way a route becomes public without declaring it itself.
 */
export async function registerPublic(fastify: FastifyInstance, register: (scope: FastifyInstance) => Promise<void>) {
  await fastify.register(async (scope) => {
    scope.decorate(PUBLIC_CONTEXT, true)
    await register(scope)
  })
}

/** Secure default: a route says who may call it, or the app does not start. */
function checkPublicity(this: FastifyInstance, route: RouteOptions, limitsFailures: boolean) {
  if ((this as unknown as Record<symbol, unknown>)[PUBLIC_CONTEXT] === true)
    route.config = { ...route.config, public: true }
  const publicRoute = isPublic(route.config)
  const roles = route.config?.roles
  if (publicRoute === (roles !== undefined)) {
    throw new Error(
      `${String(route.method)} ${route.url}: declare exactly one of config.public (true) or config.roles (non-empty)`,
    )
  }
  if (roles !== undefined && roles.length === 0) throw new Error(`${String(route.method)} ${route.url}: empty roles`)
  if (publicRoute) return
  declareErrors(route, Errors.UNAUTHENTICATED)
  if (limitsFailures) declareErrors(route, Errors.RATE_LIMITED)
  // A token always holds one of ROLES: a route open to all of them cannot answer 403.
  if (ROLES.some((r) => !roles!.includes(r))) declareErrors(route, Errors.FORBIDDEN)
}

const BEARER = /^Bearer ([\x21-\x7e]{1,512})$/

export interface AuthOptions {
  tokens: TokenRegistry
  /** Failed authentications per client address and window before 429 (0: no limit). */
  failureLimit?: number
  failureWindowMs?: number
}

function tooManyFailures(seconds: number) {
  const error = new Errors.RATE_LIMITED(`${seconds} s (too many failed authentications from this address)`)
  return Object.assign(error, { retryAfter: seconds })
}

/**
 * Bearer-token authentication and role checks, before the body is read: a caller without the right
 * role cannot make the service buffer or decrypt anything. Failed authentications are counted per
 * client address here, in the first hook, because a 401 ends the request before the rate limiter
 * (a preHandler, which needs to know the token) ever runs.
 */
export default fp(
  async function auth(fastify: FastifyInstance, opts: AuthOptions) {
    const failureLimit = opts.failureLimit ?? 0
    const failures = failureLimit > 0 ? new FailureCounter(failureLimit, opts.failureWindowMs ?? 60_000) : null
    fastify.decorateRequest('principal', undefined)
    fastify.decorateRequest('actor', undefined)
    fastify.addHook('onRoute', function (route) {
      checkPublicity.call(this, route, failures !== null)
    })
    // A failure past the limit is answered 429 instead of 401 until the window ends; a right token
    // is always let through, so clients sharing an address (NAT, a proxy without TRUST_PROXY) are
    // not locked out by one of them with a wrong token.
    const unauthenticated = (request: FastifyRequest, detail: string) => {
      if (!failures) return new Errors.UNAUTHENTICATED(detail)
      const wait = failures.retryAfter(request.ip)
      if (wait > 0) return tooManyFailures(wait)
      failures.record(request.ip)
      return new Errors.UNAUTHENTICATED(detail)
    }
    fastify.addHook('onRequest', async (request) => {
      const { config } = request.routeOptions
      // An unknown URL is answered 404 whoever asks: there is nothing to protect.
      if (request.is404 || isPublic(config)) return
      const roles = config.roles ?? []
      const match = BEARER.exec(request.headers.authorization ?? '')
      if (!match) throw unauthenticated(request, 'Send a bearer token: "Authorization: Bearer <token>".')
      const principal = opts.tokens.authenticate(match[1]!)
      if (!principal) throw unauthenticated(request, 'The bearer token is not valid.')
      request.principal = principal
      const role = principal.roles.find((r) => roles.includes(r))
      if (!role) {
        throw new Errors.FORBIDDEN(
          `This operation needs the role ${roles.join(' or ')}; ` +
            `the token "${principal.name}" has ${principal.roles.join(', ')}.`,
        )
      }
      request.actor = { name: principal.name, role }
    })
  },
  { name: 'auth', dependencies: ['errors'] },
)
