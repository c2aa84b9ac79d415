import { useEffect, useRef, useState } from 'preact/hooks'
import { call } from './api'
import { href, useRoute, type Route } from './route'
import { abilities, session, type Abilities } from './session'
import type { Whoami } from './types'
import { asProblem, ProblemBox } from './ui'
import { AuditView } from './views/audit'
import { EncryptorView, EncryptorsView } from './views/encryptors'
import { EntryView } from './views/entry'
import { KeyPairView } from './views/key-pairs'
import { KeystoreView } from './views/keystore'
import { OverviewView } from './views/overview'
import { RenewalView } from './views/renewal'
import { RenewalsView } from './views/renewals'
import { SignIn } from './views/sign-in'
import { StartRenewalView } from './views/start-renewal'
import { UploadView } from './views/upload'
import { WebhookView, WebhooksView } from './views/webhooks'

export interface ViewProps {
  me: Whoami
  can: Abilities
  params: string[]
}

interface NavItem {
  view: string
  label: string
  shown: (can: Abilities) => boolean
  /** Other views this item is the current page for (a key pair's page belongs to the keystore). */
  also?: string[]
}

const NAV: NavItem[] = [
  { view: 'overview', label: 'Overview', shown: () => true },
  { view: 'keystore', label: 'Keystore', shown: () => true, also: ['key-pairs'] },
  { view: 'encryptors', label: 'Encryptors', shown: () => true },
  { view: 'renewals', label: 'Renewals', shown: () => true },
  { view: 'start', label: 'Start a renewal', shown: (can) => can.startsRenewals },
  { view: 'audit', label: 'Audit', shown: (can) => can.readsAudit },
  { view: 'webhooks', label: 'Webhooks', shown: (can) => can.managesWebhooks },
]

function View({ route, ...props }: Omit<ViewProps, 'params'> & { route: Route }) {
  const p = { ...props, params: route.params }
  switch (route.view) {
    case 'overview':
      return <OverviewView {...p} />
    case 'keystore':
      if (route.params[0] === '+new') return <UploadView {...p} />
      return route.params.length ? <EntryView {...p} /> : <KeystoreView {...p} />
    case 'key-pairs':
      // Our key pairs are listed in the keystore view; each has a page of its own.
      return route.params.length ? <KeyPairView {...p} /> : <KeystoreView {...p} />
    case 'encryptors':
      return route.params.length ? <EncryptorView {...p} /> : <EncryptorsView {...p} />
    case 'renewals':
      return route.params.length ? <RenewalView {...p} /> : <RenewalsView {...p} />
    case 'start':
      return <StartRenewalView {...p} />
    case 'audit':
      return <AuditView {...p} />
    case 'webhooks':
      return route.params.length ? <WebhookView {...p} /> : <WebhooksView {...p} />
    default:
      return (
        <section>
          <h1>Not found</h1>
          <p>
            There is no view "{route.view}". <a href={href('overview')}>Go to the overview</a>.
          </p>
        </section>
      )
  }
}

type SessionState = { status: 'checking' } | { status: 'signed-out' } | { status: 'signed-in'; me: Whoami }

/** The console: sign in with a token, then the views that token's roles may use. */
export function App() {
  const route = useRoute()
  const [state, setState] = useState<SessionState>(() =>
    session.token() ? { status: 'checking' } : { status: 'signed-out' },
  )
  const [problem, setProblem] = useState<ReturnType<typeof asProblem> | null>(null)

  // A token kept in this tab from before a reload: ask again who it is (it may have been revoked).
  useEffect(() => {
    if (state.status !== 'checking') return
    call<Whoami>('/whoami').then(
      ({ data }) => setState({ status: 'signed-in', me: data }),
      (err) => {
        session.forget()
        setProblem(asProblem(err))
        setState({ status: 'signed-out' })
      },
    )
  }, [state.status])

  // Move focus to the new view's heading, so keyboard and screen-reader users land on it; not on the
  // document's first view, where the focus stays at the start and the first Tab reaches "Skip to content".
  const firstView = useRef(true)
  useEffect(() => {
    if (state.status === 'checking') return
    if (firstView.current) {
      firstView.current = false
      return
    }
    document.querySelector<HTMLElement>('main h1')?.focus()
  }, [route.view, route.params.join('/'), state.status])

  const signOut = () => {
    session.forget()
    setState({ status: 'signed-out' })
  }

  if (state.status !== 'signed-in') {
    return (
      <div class="shell">
        <header class="topbar">
          <span class="brand">cms-encryptor console</span>
        </header>
        {/* Holds the navigation's place while the token is checked, so the page does not move when it appears. */}
        <div class="nav-placeholder" aria-hidden="true" />
        <main id="main">
          {state.status === 'checking' ? (
            <p class="loading">Checking the token…</p>
          ) : (
            <SignIn
              problem={problem}
              onSignedIn={(me) => {
                setProblem(null)
                setState({ status: 'signed-in', me })
              }}
            />
          )}
        </main>
      </div>
    )
  }
  const { me } = state
  const can = abilities(me)
  return (
    <div class="shell">
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}>
        Skip to content
      </a>
      <header class="topbar">
        <span class="brand">cms-encryptor console</span>
        <span class="who">
          Signed in as <strong>{me.name}</strong> ({me.roles.join(', ')})
        </span>
        <button type="button" class="secondary" onClick={signOut}>
          Sign out
        </button>
      </header>
      <nav aria-label="Views">
        <ul>
          {NAV.filter((n) => n.shown(can)).map((n) => (
            <li key={n.view}>
              <a
                href={href(n.view)}
                aria-current={route.view === n.view || n.also?.includes(route.view) ? 'page' : undefined}
              >
                {n.label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" tabIndex={-1}>
        <ProblemBox problem={problem} />
        <View route={route} me={me} can={can} />
      </main>
    </div>
  )
}
