import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import type { ServerResponse } from 'node:http'
import { finished, pipeline, type Readable } from 'node:stream'
import { Gauge } from 'prom-client'
import { Type } from 'typebox'
import { CipherWorkers } from '../cms/cipher-workers.js'
import { EnvelopeEncryptStream } from '../cms/encrypt-stream.js'
import type { EnvelopeMessage } from '../cms/enveloped-data.js'
import { SignStream } from '../cms/sign-stream.js'
import {
  createOutputEncoder,
  encodedLength,
  encodeWhole,
  mediaType,
  OUTPUT_ENCODINGS,
  type OutputEncoding,
} from '../cms/output-encoding.js'
import type { EncryptorPause } from '../encryptors/encryptor.js'
import type { ResolvedEncryptor } from '../encryptors/resolver.js'
import { Errors } from '../errors.js'
import { hasPayload, readExactly } from './payload.js'
import { binaryBody, EncryptorIdParams, textBody } from './schemas.js'

/**
 * Payloads up to this size are read whole and encrypted in one call: the fastest path for the many
 * small messages integration flows send. Larger or chunked payloads stream.
 */
const BUFFERED_PAYLOAD_LIMIT = 256 * 1024
const DEFAULT_RETRY_AFTER_SECONDS = 60
/** A streamed encrypt refused for the stream limit: slots free up as streams end, usually within seconds. */
const STREAM_RETRY_AFTER_SECONDS = 1
/** MAX_CONCURRENT_STREAMS' default, for an app that does not pass the option. */
const DEFAULT_MAX_CONCURRENT_STREAMS = 64

export interface EncryptRouteOptions {
  maxPayloadBytes: number
  cipherThreads: number
  /** Streamed encrypts in progress at once (MAX_CONCURRENT_STREAMS); 0: no limit. */
  maxConcurrentStreams?: number
}

/**
 * Streamed encrypts in progress in this process. Each holds up to a few MiB of buffers and a cipher
 * thread's time for as long as its client keeps sending, so past the limit a new one is refused
 * before its body is read. A slot is held for the life of the response and released when the
 * response ends, however: success, error, client abort or timeout.
 */
class StreamSlots {
  inUse = 0

  constructor(private readonly limit: number) {}

  acquire(response: ServerResponse): void {
    if (this.limit > 0 && this.inUse >= this.limit) {
      throw Object.assign(new Errors.TOO_MANY_STREAMS(this.limit), { retryAfter: STREAM_RETRY_AFTER_SECONDS })
    }
    this.inUse++
    // finished() also calls back for a response closed already (a client gone before the handler ran).
    finished(response, () => this.inUse--)
  }
}

/** The hot path: payload in, CMS out. Only integration flows may call it. */
const encryptRoutes: FastifyPluginAsyncTypebox<EncryptRouteOptions> = async (fastify, opts) => {
  // The payload is opaque bytes of any media type: never parse it, hand the stream to the handler.
  fastify.removeAllContentTypeParsers()
  fastify.addContentTypeParser('*', (_request, payload, done) => done(null, payload))

  // An error answered before the body was read: close the connection rather than drain gigabytes.
  fastify.addHook('onSend', async (request, reply) => {
    if (reply.statusCode >= 400 && !request.raw.complete) reply.header('connection', 'close')
  })
  // Streamed payloads are encrypted on worker threads, so AES overlaps with socket I/O. Started
  // when the server listens (tests that only inject start them lazily, if at all).
  const cipherWorkers = opts.cipherThreads >= 0 ? new CipherWorkers(opts.cipherThreads) : undefined
  if (cipherWorkers) {
    fastify.addHook('onListen', async () => cipherWorkers.warm())
    fastify.addHook('onClose', () => cipherWorkers.close())
  }

  const streams = new StreamSlots(opts.maxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_STREAMS)
  new Gauge({
    name: 'cms_encrypt_streams_in_progress',
    help: 'Streamed encrypts in progress (limited by MAX_CONCURRENT_STREAMS).',
    registers: [fastify.metrics.registry],
    collect() {
      this.set(streams.inUse)
    },
  })

  fastify.addHook('onError', async (_request, _reply, error) => {
    fastify.metrics.encryptErrors.inc({ reason: error.code ?? 'CMS_INTERNAL' })
  })

  fastify.post(
    '/encryptors/:id/encrypt',
    {
      config: {
        roles: ['integration-flow'],
        errors: [
          Errors.ENCRYPTOR_NOT_FOUND,
          Errors.ENCRYPTOR_PAUSED,
          Errors.NOT_READY,
          Errors.NO_RECIPIENT,
          Errors.EMPTY_BODY,
          Errors.PAYLOAD_TOO_LARGE,
          Errors.PAYLOAD_LENGTH_MISMATCH,
          Errors.REQUEST_ABORTED,
          Errors.UNSUPPORTED_MEDIA_TYPE,
          Errors.TOO_MANY_STREAMS,
        ],
        responseHeaders: { 200: ['X-Cms-Recipients', 'X-Cms-Signer', 'Cache-Control'] },
        // The payload is never parsed, so no schema validates it.
        documentedBody: { '*/*': binaryBody('The payload: raw bytes of any media type.') },
      },
      schema: {
        tags: ['encrypt'],
        summary: 'Encrypt a payload as CMS EnvelopedData (AuthEnvelopedData for GCM)',
        description:
          'The body is the payload, raw bytes of any media type. With a Content-Length the output is DER ' +
          '(or its base64/PEM); a chunked body gets BER with indefinite lengths. X-Cms-Recipients lists the ' +
          'aliases encrypted for, in RecipientInfo order. An encryptor with a signer signs first: the ' +
          'EnvelopedData then holds a SignedData (content type id-signedData) over the payload, and X-Cms-Signer ' +
          'names the key pair. DER whenever every length is known before the signature is made (RSA signers, ' +
          'a Content-Length or a payload small enough to hold); BER otherwise (ECDSA signatures vary in length).',
        params: EncryptorIdParams,
        querystring: Type.Object({
          encoding: Type.Optional(
            Type.Enum([...OUTPUT_ENCODINGS], { description: "Overrides the encryptor's output encoding." }),
          ),
        }),
        response: {
          // Sent as bytes (a Buffer or a stream), never serialized as JSON.
          200: {
            description: 'The CMS ContentInfo (EnvelopedData, or AuthEnvelopedData for GCM).',
            content: {
              'application/pkcs7-mime': binaryBody('DER (known length) or BER (chunked input).'),
              'text/plain': textBody('base64 of the DER/BER, one line.'),
              'application/x-pem-file': textBody('PEM, -----BEGIN CMS-----.'),
            },
          },
        },
      },
    },
    async (request, reply) => {
      const payload = request.body as Readable | undefined
      const lengthHeader = request.headers['content-length']
      const declared = lengthHeader === undefined ? undefined : Number(lengthHeader)
      if (declared !== undefined && declared > opts.maxPayloadBytes)
        throw new Errors.PAYLOAD_TOO_LARGE(opts.maxPayloadBytes)
      const buffered = declared !== undefined && declared <= BUFFERED_PAYLOAD_LIMIT
      // Before anything waits (the store, the body): a refused stream costs no more than its headers.
      if (!buffered) streams.acquire(reply.raw)

      const resolved = await fastify.recipients.resolve(request.params.id)
      if (resolved.pause) throw pausedError(resolved.id, resolved.pause)
      const encoding = request.query.encoding ?? resolved.encoding
      if (!payload || declared === 0 || (declared === undefined && !(await hasPayload(payload)))) {
        throw new Errors.EMPTY_BODY('The payload is empty; send the bytes to encrypt as the request body.')
      }

      if (buffered) {
        // The body first: the message's content key exists only for the synchronous seal, which wipes it.
        const plaintext = await readExactly(payload, declared)
        // Signed first (a whole payload: DER whatever the scheme), so the key is not waiting on the signature.
        const content = resolved.signer ? await resolved.signer.template.start().whole(plaintext) : plaintext
        const message = resolved.template.start()
        const sealed = message.seal(content)
        fastify.metrics.encrypted(declared, message.aliases.length)
        return withMessageHeaders(reply, message, resolved, encoding).send(encodeWhole(encoding, sealed))
      }

      // Signing, when the encryptor signs, goes first and enforces the payload's limits; the envelope then
      // encrypts the SignedData, whose length is known up front only for a fixed-length (RSA) signature.
      const signed = resolved.signer?.template.start()
      const signing = signed ? new SignStream(signed, declared, opts.maxPayloadBytes) : undefined
      const envelopeLength = signed && declared !== undefined ? signed.encodedLength(declared) : declared
      const message = resolved.template.start()
      let encrypting: EnvelopeEncryptStream
      try {
        encrypting = signing
          ? new EnvelopeEncryptStream(message, envelopeLength, Number.MAX_SAFE_INTEGER, cipherWorkers)
          : new EnvelopeEncryptStream(message, declared, opts.maxPayloadBytes, cipherWorkers)
      } catch (err) {
        message.dispose()
        throw err
      }
      const counted = signing ?? encrypting
      const output = encoding === 'der' ? encrypting : createOutputEncoder(encoding)
      const onDone = (err: Error | null) => {
        if (!err) return fastify.metrics.encrypted(counted.bytesIn, message.aliases.length)
        // Headers are out by now: the client sees a cut connection, never a truncated "success".
        // Fastify itself warns about the cut response; this adds the catalogue code at debug level.
        const code = (err as NodeJS.ErrnoException).code
        const reason = code?.startsWith('CMS_') ? code : 'CMS_STREAM_ABORTED'
        fastify.metrics.encryptErrors.inc({ reason })
        request.log.debug({ code: reason, err: err.message }, 'streamed encrypt aborted')
      }
      const stages = [...(signing ? [signing] : []), encrypting, ...(output === encrypting ? [] : [output])]
      pipeline([payload, ...stages], onDone)
      withMessageHeaders(reply, message, resolved, encoding)
      if (envelopeLength !== undefined)
        reply.header('content-length', encodedLength(encoding, message.encodedLength(envelopeLength)))
      return reply.send(output)
    },
  )
}

/** The response headers that describe the message. */
function withMessageHeaders(
  reply: FastifyReply,
  message: EnvelopeMessage,
  resolved: ResolvedEncryptor,
  encoding: OutputEncoding,
) {
  reply
    .type(mediaType(encoding, resolved.template.content.authenticated))
    .header('x-cms-recipients', message.aliases.join(','))
    .header('cache-control', 'no-store')
  if (resolved.signer) reply.header('x-cms-signer', resolved.signer.alias)
  return reply
}

/** Retry-After points at the end of the planned downtime when it is known, else a minute from now. */
function pausedError(id: string, pause: EncryptorPause) {
  const until = pause.until ? Date.parse(pause.until) : NaN
  const retryAfter = Number.isNaN(until)
    ? DEFAULT_RETRY_AFTER_SECONDS
    : Math.max(1, Math.ceil((until - Date.now()) / 1000))
  return Object.assign(
    new Errors.ENCRYPTOR_PAUSED(
      `Encryptor "${id}" is paused for a receiver key exchange (renewal ${pause.renewalId}); ` +
        'nothing is encrypted for a key the receiver may no longer hold. Retry later.',
    ),
    { retryAfter },
  )
}

export default encryptRoutes
