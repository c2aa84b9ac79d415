import Ajv, { type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import type { Test } from 'tap'
import { generateOpenApiObject } from '../../src/openapi/generate.js'
import type { ReceivedEvent } from './webhook-receiver.js'

let validators: Promise<Map<string, ValidateFunction>> | undefined

/** One validator per event type, from the `webhooks` of the OpenAPI document the code generates. */
function contract(): Promise<Map<string, ValidateFunction>> {
  validators ??= generateOpenApiObject().then((doc) => {
    const ajv = new Ajv.default({ strict: false, allErrors: true })
    addFormats.default(ajv)
    const webhooks = (
      doc as { webhooks: Record<string, { post: { requestBody: { content: Record<string, { schema: object }> } } }> }
    ).webhooks
    return new Map(
      Object.entries(webhooks).map(([type, { post }]) => [
        type,
        ajv.compile(post.requestBody.content['application/json']!.schema),
      ]),
    )
  })
  return validators
}

/**
 * Every received event is what the OpenAPI document's `webhooks` says its type sends: the body (parsed as
 * received) and the three signature headers. Receivers generate their types from it, so it must be exact.
 */
export async function assertEventsMatchContract(t: Test, events: readonly ReceivedEvent[]): Promise<void> {
  const byType = await contract()
  const wrong: string[] = []
  for (const e of events) {
    const validate = byType.get(e.type)
    if (!validate) {
      wrong.push(`${e.type}: not in the document`)
      continue
    }
    if (!validate({ type: e.type, timestamp: e.timestamp, data: e.data }))
      wrong.push(`${e.type}: ${JSON.stringify(validate.errors)}`)
    for (const header of ['webhook-id', 'webhook-timestamp', 'webhook-signature'])
      if (typeof e.headers[header] !== 'string') wrong.push(`${e.type}: no ${header}`)
  }
  t.strictSame(wrong, [], `${events.length} events, each as the OpenAPI document's webhooks say`)
}
