import { useState } from 'preact/hooks'
import { call, type Problem } from '../api'
import { session } from '../session'
import type { Whoami } from '../types'
import { Field, ProblemBox, useAction } from '../ui'

/** Paste a token once per tab; it is checked with GET /whoami before it is kept. */
export function SignIn({ onSignedIn, problem }: { onSignedIn: (me: Whoami) => void; problem: Problem | null }) {
  const [token, setToken] = useState('')
  const action = useAction()
  const submit = async (e: Event) => {
    e.preventDefault()
    const value = token.trim()
    const answer = await action.run(() => call<Whoami>('/whoami', { token: value }))
    if (!answer) return
    session.save(value)
    setToken('')
    onSignedIn(answer.data)
  }
  return (
    <section class="sign-in">
      <h1 tabIndex={-1}>Sign in</h1>
      <p>
        Paste a bearer token. It is kept in this browser tab only (sessionStorage) and sent to the service with each
        request; closing the tab or signing out forgets it.
      </p>
      <ProblemBox problem={action.problem ?? problem} />
      <form onSubmit={submit}>
        <Field label="Bearer token" id="token">
          <input
            id="token"
            type="password"
            autoComplete="off"
            spellcheck={false}
            required
            value={token}
            onInput={(e) => setToken((e.currentTarget as HTMLInputElement).value)}
          />
        </Field>
        <button type="submit" disabled={action.busy || !token.trim()}>
          Sign in
        </button>
      </form>
    </section>
  )
}
