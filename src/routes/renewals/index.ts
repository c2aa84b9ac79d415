import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ROLES } from '../../auth/tokens.js'
import { Errors } from '../../errors.js'
import { actorOf } from '../../plugins/auth.js'
import { STEPS } from '../../renewals/procedures.js'
import { CERTIFICATE_ERRORS, EncryptorId, RECIPIENT_ERRORS, ref } from '../schemas.js'
import { adviceRoute } from './advice.js'
import { KEY_PAIR_UPLOAD_ERRORS } from '../keystore/key-pair-schemas.js'
import { CommentBody, RenewalSchema, StartRenewalBody, StepBody } from './schemas.js'
import { renewalView } from './view.js'

const IdParams = Type.Object({ id: Type.String({ format: 'uuid', description: 'Renewal id.' }) })
const Renewal = ref(RenewalSchema)
/** A step or an abort changes the keystore and the encryptor with the same checks as their endpoints. */
const CHANGE_ERRORS = [
  Errors.AUDIT_ANCHOR_BROKEN,
  Errors.RENEWAL_NOT_FOUND,
  Errors.RENEWAL_NOT_ACTIVE,
  Errors.STEP_OUT_OF_ORDER,
  Errors.ALIAS_IN_USE,
  ...RECIPIENT_ERRORS,
]

/** Renewal procedures as tracked workflows: start, take steps in order with the right role, or abort. */
const renewalRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.addSchema(RenewalSchema)

  fastify.post(
    '/renewals',
    {
      config: {
        roles: ['tenant-admin'],
        errors: [
          Errors.AUDIT_ANCHOR_BROKEN,
          ...CERTIFICATE_ERRORS,
          Errors.RENEWAL_INVALID,
          Errors.ENCRYPTOR_NOT_FOUND,
          Errors.RENEWAL_PRECONDITION,
          Errors.RENEWAL_IN_PROGRESS,
          Errors.TOO_MANY_ALIASES,
          ...RECIPIENT_ERRORS,
          // signer-key: the new signer certificate must allow signing.
          Errors.KEY_USAGE_FORBIDS_SIGNING,
        ],
      },
      schema: {
        tags: ['renewals'],
        summary: 'Start a renewal',
        body: StartRenewalBody,
        response: { 201: ref(RenewalSchema, 'Started.') },
      },
    },
    async (request, reply) => {
      const { certificate, ...rest } = request.body
      const renewal = await fastify.renewals.start(
        { ...rest, certificate: Buffer.from(certificate, 'utf8') },
        actorOf(request),
      )
      request.log.info(
        { renewalId: renewal.id, procedure: renewal.procedure, encryptorId: renewal.encryptorId },
        'renewal started',
      )
      return reply.code(201).header('location', `/renewals/${renewal.id}`).send(renewalView(renewal))
    },
  )

  fastify.get(
    '/renewals',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['renewals'],
        summary: 'List renewals',
        querystring: Type.Object({
          state: Type.Optional(
            Type.Enum(['active', 'completed', 'aborted'], { description: 'Only renewals in this state.' }),
          ),
          encryptorId: Type.Optional(EncryptorId),
        }),
        response: {
          200: Type.Object(
            { renewals: Type.Array(Renewal, { description: 'Renewals, newest first.' }) },
            { description: 'The renewals.' },
          ),
        },
      },
    },
    async (request) => ({ renewals: (await fastify.renewals.list(request.query)).map(renewalView) }),
  )

  // A static path: find-my-way matches it before the parametric /renewals/:id.
  adviceRoute(fastify)

  fastify.get(
    '/renewals/:id',
    {
      config: { roles: ROLES, errors: [Errors.RENEWAL_NOT_FOUND] },
      schema: {
        tags: ['renewals'],
        summary: 'Get a renewal',
        params: IdParams,
        response: { 200: Renewal },
      },
    },
    async (request) => renewalView(await fastify.renewals.get(request.params.id)),
  )

  fastify.post(
    '/renewals/:id/steps/:step',
    {
      config: {
        roles: ['tenant-admin', 'integration-developer'],
        errors: [
          ...CHANGE_ERRORS,
          Errors.STEP_UNKNOWN,
          Errors.STEP_FORBIDDEN,
          Errors.RENEWAL_PRECONDITION,
          // The add-alias step of a renewal started on a list saved past the limit, before it was enforced.
          Errors.TOO_MANY_ALIASES,
          // signer-key: the key pair add-key-pair brings, and the old one remove-old-key-pair deletes.
          ...KEY_PAIR_UPLOAD_ERRORS,
          Errors.SIGNATURE_SCHEME_MISMATCH,
          Errors.RENEWAL_INVALID,
        ],
      },
      schema: {
        tags: ['renewals'],
        summary: 'Take the next step of a renewal',
        description:
          'Each step is taken by one role, in order; repeating the last completed step answers the same ' +
          'state and changes nothing.',
        params: Type.Object({
          id: IdParams.properties.id,
          step: Type.Enum([...STEPS], { description: 'The step to take.' }),
        }),
        body: StepBody,
        response: { 200: ref(RenewalSchema, 'The renewal after the step.') },
      },
    },
    async (request) => {
      const { renewal, repeated } = await fastify.renewals.step(
        request.params.id,
        request.params.step,
        request.principal!.roles,
        actorOf(request),
        { comment: request.body?.comment, keyPair: request.body?.keyPair },
      )
      request.log.info(
        { renewalId: renewal.id, step: request.params.step, repeated, state: renewal.state },
        repeated ? 'renewal step repeated' : 'renewal step taken',
      )
      return renewalView(renewal)
    },
  )

  fastify.post(
    '/renewals/:id/abort',
    {
      config: { roles: ['tenant-admin'], errors: [...CHANGE_ERRORS, Errors.ABORT_REFUSED] },
      schema: {
        tags: ['renewals'],
        summary: 'Abort a renewal and restore the state before it',
        description: 'Possible until the receiver is confirmed to hold only its new key; refused (409) after that.',
        params: IdParams,
        body: CommentBody,
        response: { 200: ref(RenewalSchema, 'The aborted renewal.') },
      },
    },
    async (request) => {
      const renewal = await fastify.renewals.abort(request.params.id, actorOf(request), request.body?.comment)
      request.log.info({ renewalId: renewal.id }, 'renewal aborted')
      return renewalView(renewal)
    },
  )
}

export default renewalRoutes
