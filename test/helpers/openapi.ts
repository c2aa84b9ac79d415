import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp } from '../../src/app.js'
import { testConfig, testTokens } from './app.js'

/** The OpenAPI document the code describes, as YAML. */
export async function generateOpenApi(): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'cms-openapi-'))
  const app = await createApp(testConfig({ DATA_DIR: dataDir }), { tokens: testTokens(), logger: false })
  try {
    await app.ready()
    return app.swagger({ yaml: true })
  } finally {
    await app.close()
    rmSync(dataDir, { recursive: true, force: true })
  }
}
