import t from 'tap'
import { generateOpenApiObject } from '../../src/openapi/generate.js'
import { auth, buildTestApp } from '../helpers/app.js'
import { issueCertificate } from '../helpers/pki.js'
import { assertProblem, putCertificate, putEncryptor } from '../helpers/requests.js'
import { ContractChecker, type OpenApiDocument } from './contract.js'

const DAY = 86_400_000
const JSON_TYPE = { 'content-type': 'application/json' }

/** The ways a client says "no comment", and one that gives one. Every one is a 200. */
const ACCEPTED: Array<{ name: string; headers: Record<string, string>; payload?: string; comment?: string }> = [
  { name: 'no body at all', headers: {} },
  { name: 'no body, Content-Type: application/json', headers: JSON_TYPE },
  { name: '{}', headers: JSON_TYPE, payload: '{}' },
  { name: 'null', headers: JSON_TYPE, payload: 'null' },
  { name: 'a comment', headers: JSON_TYPE, payload: '{"comment":"planned"}', comment: 'planned' },
]

const REFUSED = [
  { name: 'an unknown property', payload: '{"note":"x"}' },
  { name: 'a comment that is not a string', payload: '{"comment":1}' },
  { name: 'an array', payload: '[]' },
]

t.test('a renewal step and an abort take an optional comment: every way of leaving it out works', async (t) => {
  const contract = new ContractChecker((await generateOpenApiObject()) as unknown as OpenApiDocument)
  const app = await buildTestApp(t)
  let n = 0
  /** An active exchange renewal of its own encryptor and alias. */
  const freshRenewal = async () => {
    const name = `r${++n}`
    await putCertificate(app, name, await issueCertificate(name, { key: 'ec-p256' }))
    await putEncryptor(app, name, { receiverAliases: [name] })
    const next = await issueCertificate(`${name}-next`, { key: 'ec-p256', notAfter: new Date(Date.now() + 800 * DAY) })
    const res = await app.inject({
      method: 'POST',
      url: '/renewals',
      headers: auth('tenant-admin'),
      payload: { procedure: 'exchange', encryptorId: name, currentAlias: name, certificate: next.pem },
    })
    t.equal(res.statusCode, 201, `${name} started`)
    return res.json().id as string
  }
  const post = (url: string, headers: Record<string, string>, payload?: string) =>
    app.inject({
      method: 'POST',
      url,
      headers: { ...auth('tenant-admin'), ...headers },
      ...(payload === undefined ? {} : { payload }),
    })
  const stepOp = 'POST /renewals/{id}/steps/{step}'
  const abortOp = 'POST /renewals/{id}/abort'

  for (const form of ACCEPTED) {
    const stepped = await freshRenewal()
    const step = await post(`/renewals/${stepped}/steps/exchange-certificate`, form.headers, form.payload)
    t.equal(step.statusCode, 200, `step with ${form.name}`)
    contract.check(t, stepOp, step, `step with ${form.name}`)
    t.equal(step.json().steps[0].comment, form.comment, `step with ${form.name}: the comment as given`)

    const aborted = await freshRenewal()
    const abort = await post(`/renewals/${aborted}/abort`, form.headers, form.payload)
    t.equal(abort.statusCode, 200, `abort with ${form.name}`)
    contract.check(t, abortOp, abort, `abort with ${form.name}`)
    t.equal(abort.json().state, 'aborted')
    const audit = await app.inject({ method: 'GET', url: `/audit?renewalId=${aborted}`, headers: auth('monitor') })
    const record = audit.json().records.find((r: { action: string }) => r.action === 'renewal.abort')
    t.equal(record?.comment ?? undefined, form.comment, `abort with ${form.name}: the comment audited as given`)
  }

  const untouched = await freshRenewal()
  for (const form of REFUSED) {
    for (const [op, url] of [
      [stepOp, `/renewals/${untouched}/steps/exchange-certificate`],
      [abortOp, `/renewals/${untouched}/abort`],
    ] as const) {
      const res = await post(url, JSON_TYPE, form.payload)
      assertProblem(t, res, 400, 'CMS_VALIDATION_FAILED', `${op} with ${form.name}`)
      contract.check(t, op, res, `${form.name}`)
    }
  }
  const after = await app.inject({ method: 'GET', url: `/renewals/${untouched}`, headers: auth('monitor') })
  t.match(after.json(), { state: 'active', steps: [{ status: 'next' }] }, 'the refused bodies changed nothing')
})

t.test('the document says the body may be left out', async (t) => {
  const doc = (await generateOpenApiObject()) as {
    paths: Record<string, Record<string, { requestBody?: { required?: boolean } }>>
  }
  t.equal(doc.paths['/renewals/{id}/steps/{step}']!.post!.requestBody?.required, false)
  t.equal(doc.paths['/renewals/{id}/abort']!.post!.requestBody?.required, false)
  t.equal(doc.paths['/renewals']!.post!.requestBody?.required, true, 'a start needs its body')
})

t.test('a request without a body but with a JSON Content-Type is a request without a body', async (t) => {
  const app = await buildTestApp(t)
  // Where no body is taken, the header alone is no error.
  const remove = await app.inject({
    method: 'DELETE',
    url: '/encryptors/ghost',
    headers: { ...auth('integration-developer'), ...JSON_TYPE, 'content-length': '0' },
  })
  assertProblem(t, remove, 404, 'CMS_ENCRYPTOR_NOT_FOUND', 'DELETE')
  // Where a body is needed, its absence is named as such, with or without the header.
  for (const headers of [{}, JSON_TYPE]) {
    const put = await app.inject({
      method: 'PUT',
      url: '/encryptors/x',
      headers: { ...auth('integration-developer'), ...headers },
    })
    assertProblem(t, put, 400, 'CMS_EMPTY_BODY', `PUT with headers ${JSON.stringify(headers)}`)
  }
})
