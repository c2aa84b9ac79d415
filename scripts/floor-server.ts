/**
 * The HTTP floor for benchmarks: a bare Fastify route that reads the same POST body and answers
 * 200, with nothing else. Encrypt throughput is reported as a ratio of this.
 */
import Fastify from 'fastify'

const app = Fastify({ logger: false })
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))
app.post('/floor', async () => 'ok')
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) })
process.send?.({ port: (app.server.address() as { port: number }).port })
