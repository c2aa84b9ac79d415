import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { registerPublic } from '../plugins/auth.js'

/** Where `npm run build` writes the console (scripts/build-console.ts): dist/console, from src/ and dist/ alike. */
export const CONSOLE_DIR = fileURLToPath(new URL('../../dist/console/', import.meta.url))

/**
 * Stricter than the API's policy: the console is our own code only, so nothing inline (no script, no
 * style attribute), nothing from another host, no framing. No upgrade-insecure-requests: behind a
 * plain-HTTP proxy (docker-compose) it would send the page's own requests to a port that does not
 * speak TLS; HSTS covers HTTPS deployments.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ')

/**
 * The renewal console at /console/: static files, no token (the page asks for one and sends it as a
 * bearer token to the API, like any client). Files are revalidated on every load (no-cache + ETag),
 * so a new release is seen at once without hashed file names.
 */
export default async function consoleRoutes(fastify: FastifyInstance) {
  if (!existsSync(`${CONSOLE_DIR}index.html`)) {
    fastify.log.warn({ dir: CONSOLE_DIR }, 'the console is not built (npm run build): /console/ answers 404')
  }
  // The address people type; the page's relative links need the trailing slash.
  fastify.get('/console', { config: { public: true }, schema: { hide: true } }, async (_request, reply) =>
    reply.redirect('/console/'),
  )
  await registerPublic(fastify, async (scope) => {
    scope.addHook('onSend', async (_request, reply) => {
      reply.header('content-security-policy', CONSOLE_CSP)
    })
    await scope.register(fastifyStatic, {
      root: CONSOLE_DIR,
      prefix: '/console/',
      decorateReply: false,
      redirect: true,
      index: 'index.html',
      cacheControl: false,
      etag: true,
      schemaHide: true,
      setHeaders: (reply) => reply.header('cache-control', 'no-cache'),
    })
  })
}
