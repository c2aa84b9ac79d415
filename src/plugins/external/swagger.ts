import swagger, { type SwaggerOptions } from '@fastify/swagger'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { CertificateJsonBody } from '../../routes/keystore/schemas.js'

const binary = { type: 'string', format: 'binary' }

/**
 * Bodies the route schemas cannot describe (Fastify would validate them): the raw payload of an
 * encrypt, and certificate uploads as PEM or DER besides JSON. Documentation only.
 */
const DOCUMENTED_BODIES: Record<string, { body?: object; response200?: object }> = {
  'POST /encryptors/{id}/encrypt': {
    body: {
      content: {
        'application/octet-stream': { schema: { ...binary, description: 'The payload: raw bytes of any media type.' } },
      },
    },
    response200: {
      description: 'The CMS ContentInfo (EnvelopedData, or AuthEnvelopedData for GCM).',
      headers: {
        'x-cms-recipients': {
          description: 'Aliases encrypted for, comma-separated, in RecipientInfo order.',
          schema: { type: 'string' },
        },
      },
      content: {
        'application/pkcs7-mime': { schema: { ...binary, description: 'DER (known length) or BER (chunked input).' } },
        'text/plain': { schema: { type: 'string', description: 'base64 of the DER/BER, one line.' } },
        'application/x-pem-file': { schema: { type: 'string', description: 'PEM, -----BEGIN CMS-----.' } },
      },
    },
  },
  'PUT /keystore/entries/{alias}': {
    body: {
      content: {
        'application/json': { schema: CertificateJsonBody },
        'application/x-pem-file': { schema: { type: 'string', description: 'One certificate, PEM.' } },
        'text/plain': { schema: { type: 'string', description: 'One certificate, PEM.' } },
        'application/pkix-cert': { schema: { ...binary, description: 'One certificate, DER.' } },
      },
    },
  },
}

export const swaggerOptions: SwaggerOptions = {
  openapi: {
    openapi: '3.1.0',
    info: {
      title: 'cms-encryptor',
      version: '0.1.0',
      description:
        'Encrypts payloads as CMS/PKCS#7 EnvelopedData for one or several receivers; keeps the receiver keystore and encryptor configurations. Errors are RFC 9457 application/problem+json.',
    },
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'A token of role tenant-admin, integration-developer, integration-flow or monitor.',
        },
      },
    },
    security: [{ bearer: [] }],
    tags: [
      { name: 'keystore', description: 'Receiver certificates by alias.' },
      { name: 'encryptors', description: 'Receivers and algorithms of an integration flow encrypt step.' },
      { name: 'encrypt', description: 'Payload in, CMS out.' },
      { name: 'renewals', description: 'Receiver key renewals as step-by-step workflows.' },
      { name: 'audit', description: 'Who changed what, when.' },
      { name: 'health', description: 'Liveness and readiness.' },
      { name: 'ops', description: 'Metrics and this document.' },
    ],
  },
  transform({ schema, url, route }) {
    const extra = DOCUMENTED_BODIES[`${route.method} ${url.replace(/:(\w+)/g, '{$1}')}`]
    return { schema: extra?.body && schema ? { ...schema, body: extra.body } : schema, url }
  },
  transformObject(documentObject) {
    const doc = (documentObject as { openapiObject: Record<string, unknown> }).openapiObject as {
      paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown> }>>
      components: { schemas?: Record<string, unknown> }
    }
    for (const [key, extra] of Object.entries(DOCUMENTED_BODIES)) {
      const [method, path] = key.split(' ') as [string, string]
      const op = doc.paths[path]?.[method.toLowerCase()]
      if (op && extra.response200) op.responses['200'] = extra.response200
    }
    for (const path of ['/health/live', '/health/ready', '/openapi.yaml'])
      if (doc.paths[path]?.get) doc.paths[path]!.get!.security = []
    return doc
  },
}

/** OpenAPI 3.1 document built from the route schemas (`npm run openapi` writes openapi.yaml). */
export default fp(
  async function openapi(fastify: FastifyInstance) {
    await fastify.register(swagger, swaggerOptions)
  },
  { name: 'openapi' },
)
