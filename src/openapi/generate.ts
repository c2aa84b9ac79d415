import type { FastifyInstance } from 'fastify'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp } from '../app.js'
import { TokenRegistry } from '../auth/tokens.js'
import { loadConfig } from '../config.js'

/**
 * Builds the app with the default configuration (whatever the environment says: the document
 * describes the service as shipped) on a throwaway data directory and no tokens, hands it to `use`,
 * then closes it and removes the directory.
 */
export async function withDefaultApp<T>(use: (app: FastifyInstance) => T | Promise<T>): Promise<T> {
  const dataDir = await mkdtemp(join(tmpdir(), 'cms-openapi-'))
  try {
    const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' })
    const app = await createApp(config, { tokens: new TokenRegistry([]), logger: false })
    try {
      await app.ready()
      return await use(app)
    } finally {
      await app.close()
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true })
  }
}

/** The OpenAPI document the code describes, as YAML (what `npm run openapi` writes to openapi.yaml). */
export function generateOpenApi(): Promise<string> {
  return withDefaultApp((app) => app.swagger({ yaml: true }))
}

/** The same document as an object. */
export function generateOpenApiObject(): Promise<Record<string, unknown>> {
  return withDefaultApp((app) => app.swagger() as unknown as Record<string, unknown>)
}
