import Ajv2020 from 'ajv/dist/2020.js'
import { connect } from 'node:net'
import t from 'tap'
import { generateOpenApiObject } from '../../src/openapi/generate.js'
import { buildLoggedTestApp } from '../helpers/app.js'

/** Sends raw bytes to 127.0.0.1:`port` and reads until the server closes the connection. */
function rawExchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port })
    let answer = ''
    socket.on('data', (d) => (answer += d.toString()))
    socket.on('close', () => resolve(answer))
    socket.on('error', reject)
    socket.end(request)
  })
}

/**
 * Requests Node's HTTP parser refuses never reach a route, yet their problem is built by the same
 * function as any other: it has the fields the Problem schema requires, a request id (in the
 * X-Request-Id header and the log) and an instance naming it.
 */
t.test('a request the HTTP parser refuses gets a complete problem, its id logged', async (t) => {
  const doc = (await generateOpenApiObject()) as { components: { schemas: { Problem: object } } }
  const validateProblem = new Ajv2020.default({ strict: false }).compile(doc.components.schemas.Problem)
  const { app, log } = await buildLoggedTestApp(t, 'info')
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as { port: number }).port

  const smuggled = 'POST /health/live HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n'
  const answer = await rawExchange(port, smuggled)
  const [head, body] = answer.split('\r\n\r\n') as [string, string]
  t.match(head, /^HTTP\/1\.1 400 Bad Request\r\n/)
  t.match(head, /\r\nContent-Type: application\/problem\+json\r\n/i)
  const problem = JSON.parse(body) as { requestId: string; instance: string; code: string }
  t.ok(validateProblem(problem), 'the body is a Problem', { errors: validateProblem.errors })
  t.equal(problem.code, 'CMS_MALFORMED_HTTP')
  t.match(head, new RegExp(`\\r\\nX-Request-Id: ${problem.requestId}\\r\\n`, 'i'), 'the id in the header')
  t.equal(problem.instance, `urn:uuid:${problem.requestId}`)
  t.match(log(), new RegExp(`"reqId":"${problem.requestId}"[^\\n]*"code":"CMS_MALFORMED_HTTP"`), 'the id in the log')

  // A refused request that did reach a route: the same fields, its path as the instance.
  const res = await app.inject({ method: 'GET', url: '/keystore/entries?x=1' })
  const routed = res.json() as { requestId: string; instance: string }
  t.ok(validateProblem(routed), 'a route problem is a Problem too')
  t.equal(routed.instance, '/keystore/entries')
  t.equal(routed.requestId, res.headers['x-request-id'])
})
