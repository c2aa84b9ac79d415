import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp } from '../../src/app.js'
import { testConfig, testTokens } from './app.js'

/** The OpenAPI document the code describes, as YAML. */
export function generateOpenApi(): Promise<string> {
  return withApp((app) => app.swagger({ yaml: true }))
}

/** The same document as an object. */
export function generateOpenApiObject(): Promise<object> {
  return withApp((app) => app.swagger())
}

async function withApp<T>(read: (app: Awaited<ReturnType<typeof createApp>>) => T): Promise<T> {
  const dataDir = mkdtempSync(join(tmpdir(), 'cms-openapi-'))
  const app = await createApp(testConfig({ DATA_DIR: dataDir }), { tokens: testTokens(), logger: false })
  try {
    await app.ready()
    return read(app)
  } finally {
    await app.close()
    rmSync(dataDir, { recursive: true, force: true })
  }
}
