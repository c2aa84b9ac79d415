import type { Role } from '../auth/tokens.js'
import { PROCEDURE, type Procedure, type StepName } from './procedures.js'

/**
 * Which procedure fits a receiver, decided by at most three yes/no questions. The tree is data so
 * that the console, the API and docs/renewals.md ask the same questions in the same order.
 */
export const QUESTION_IDS = ['decryptsWithBothKeys', 'acceptsSeveralRecipientInfos', 'hasPreparedAlias'] as const
export type QuestionId = (typeof QUESTION_IDS)[number]

/** Where an answer leads: the next question, or the procedure with the reason it fits. */
type Branch = { ask: QuestionId } | { procedure: Procedure; why: string }

interface QuestionNode {
  text: string
  help: string
  yes: Branch
  no: Branch
}

export const FIRST_QUESTION: QuestionId = 'decryptsWithBothKeys'

export const QUESTIONS: Record<QuestionId, QuestionNode> = {
  decryptsWithBothKeys: {
    text: 'Can the receiver decrypt with its old and its new key at the same time while it switches?',
    help:
      'Some receivers install the new private key beside the old one and try both. If yours does, the ' +
      'certificate can be swapped in one step; if it holds one key at a time, the answer is no.',
    yes: {
      procedure: 'exchange',
      why:
        'The receiver decrypts with either key, so the new certificate can replace the old one under the ' +
        'same alias in one step: every message is readable before and after.',
    },
    no: { ask: 'acceptsSeveralRecipientInfos' },
  },
  acceptsSeveralRecipientInfos: {
    text: 'Does the receiver accept messages that carry several RecipientInfos?',
    help:
      'A message can be encrypted for several keys at once, one RecipientInfo each; most CMS libraries pick ' +
      'the one matching their key. Some receivers reject any message with more than one.',
    yes: { ask: 'hasPreparedAlias' },
    no: {
      procedure: 'downtime',
      why:
        'The receiver holds one key and reads only messages with one RecipientInfo, so no message can serve ' +
        'the old and the new key alike: encrypting pauses while the receiver swaps its key.',
    },
  },
  hasPreparedAlias: {
    text: 'Does the encryptor already list a prepared, empty second alias for this receiver (missingAlias "skip")?',
    help:
      'An encryptor with missingAlias "skip" may list an alias the keystore has no certificate for: it is ' +
      'skipped until one is stored. A previous prepared-alias renewal leaves such an alias behind.',
    yes: {
      procedure: 'prepared-alias',
      why:
        'The encryptor already lists the empty alias: storing the new certificate under it adds the second ' +
        'RecipientInfo, with no change to the encryptor, until the receiver has switched.',
    },
    no: {
      procedure: 'add-alias',
      why:
        'The receiver accepts several RecipientInfos: messages carry one for the old and one for the new ' +
        'key while it switches, under a second alias added to the encryptor and removed from it afterwards.',
    },
  },
}

export type Answers = Partial<Record<QuestionId, boolean>>

export type Advice =
  | { question: { id: QuestionId; text: string; help: string }; recommendation: null }
  | {
      question: null
      recommendation: {
        procedure: Procedure
        why: string
        newAlias: 'required' | 'refused'
        steps: { name: StepName; role: Role }[]
      }
    }

/**
 * Walks the tree from the first question with `answers`: the first unanswered question on the path,
 * or the procedure it ends in. Answers to questions off the path are ignored.
 */
export function advise(answers: Answers): Advice {
  let branch: Branch = { ask: FIRST_QUESTION }
  while ('ask' in branch) {
    const id: QuestionId = branch.ask
    const node: QuestionNode = QUESTIONS[id]
    const answer: boolean | undefined = answers[id]
    if (answer === undefined) return { question: { id, text: node.text, help: node.help }, recommendation: null }
    branch = answer ? node.yes : node.no
  }
  const definition = PROCEDURE[branch.procedure]
  return {
    question: null,
    recommendation: {
      procedure: branch.procedure,
      why: branch.why,
      newAlias: definition.newAlias,
      steps: definition.steps.map((s) => ({ name: s.name, role: s.role })),
    },
  }
}
