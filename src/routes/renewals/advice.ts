import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ROLES } from '../../auth/tokens.js'
import { advise, QUESTION_IDS } from '../../renewals/advice.js'
import { PROCEDURES, STEPS } from '../../renewals/procedures.js'

type Scope = Parameters<FastifyPluginAsyncTypebox>[0]

const answer = (question: string) =>
  Type.Optional(
    Type.Boolean({ description: `The answer to "${question}" (true or false); leave out if not known yet.` }),
  )

const AdviceQuery = Type.Object({
  decryptsWithBothKeys: answer('can the receiver decrypt with its old and its new key at once?'),
  acceptsSeveralRecipientInfos: answer('does the receiver accept messages with several RecipientInfos?'),
  hasPreparedAlias: answer('does the encryptor already list a prepared, empty second alias?'),
})

const AdviceSchema = Type.Object(
  {
    question: Type.Union(
      [
        Type.Object({
          id: Type.Enum([...QUESTION_IDS], { description: 'The query parameter that answers it.' }),
          text: Type.String({ description: 'The question, for a person.' }),
          help: Type.String({ description: 'What the question means and how to find the answer.' }),
        }),
        Type.Null(),
      ],
      { description: 'The next question to answer, or null once a procedure is recommended.' },
    ),
    recommendation: Type.Union(
      [
        Type.Object({
          procedure: Type.Enum([...PROCEDURES], { description: 'The procedure that fits the answers.' }),
          why: Type.String({ description: 'Why it fits, in one sentence.' }),
          newAlias: Type.Enum(['required', 'refused'], {
            description: 'Whether starting it takes a newAlias (POST /renewals).',
          }),
          steps: Type.Array(
            Type.Object({
              name: Type.Enum([...STEPS], { description: 'Step name.' }),
              role: Type.Enum([...ROLES], { description: 'Role that takes it.' }),
            }),
            { description: 'Its steps, in order.' },
          ),
        }),
        Type.Null(),
      ],
      { description: 'The recommended procedure, or null while a question is open.' },
    ),
  },
  { description: 'Exactly one of question and recommendation is set.' },
)

/** Which procedure fits a receiver: the questions one at a time, then the recommendation. */
export function adviceRoute(fastify: Scope) {
  fastify.get(
    '/renewals/advice',
    {
      config: { roles: ROLES },
      schema: {
        tags: ['renewals'],
        summary: 'Which procedure fits a receiver',
        description:
          'Answer the questions as query parameters, one at a time: the answer names the next question on ' +
          'the path, or the procedure it ends in, with its steps. Answers off the path are ignored.',
        querystring: AdviceQuery,
        response: { 200: AdviceSchema },
      },
    },
    async (request) => advise(request.query),
  )
}
