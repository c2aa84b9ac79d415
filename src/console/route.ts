import { useEffect, useState } from 'preact/hooks'

/**
 * Views are addressed by the URL fragment (#/keystore/partner-ag): the server serves one page, and
 * the address of a view can be bookmarked or shared. Tokens never go there.
 */
export interface Route {
  view: string
  params: string[]
}

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent)
  return { view: parts[0] ?? 'overview', params: parts.slice(1) }
}

export const href = (...parts: string[]) => `#/${parts.map(encodeURIComponent).join('/')}`

export function navigate(...parts: string[]) {
  location.hash = href(...parts)
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash))
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash))
    addEventListener('hashchange', onChange)
    return () => removeEventListener('hashchange', onChange)
  }, [])
  return route
}
