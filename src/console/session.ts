import type { Role, Whoami } from './types'

/**
 * The bearer token lives in this tab's sessionStorage only: never in the URL, a cookie or
 * localStorage, so it goes when the tab closes and another tab can hold another role.
 */
const KEY = 'cms-console-token'

export const session = {
  token: (): string | null => sessionStorage.getItem(KEY),
  save: (token: string) => sessionStorage.setItem(KEY, token),
  forget: () => sessionStorage.removeItem(KEY),
}

/** What the signed-in token may do, as the API's route roles say. */
export function abilities(me: Whoami) {
  const has = (role: Role) => me.roles.includes(role)
  return {
    has,
    changesKeystore: has('tenant-admin'),
    changesEncryptors: has('integration-developer'),
    startsRenewals: has('tenant-admin'),
    readsAudit: has('tenant-admin') || has('monitor'),
    managesWebhooks: has('tenant-admin'),
    /** Holds a role that takes renewal steps at all. */
    takesSteps: has('tenant-admin') || has('integration-developer'),
  }
}
export type Abilities = ReturnType<typeof abilities>
