import { Errors } from '../errors.js'

/** HTTP conditional-request headers as the domain sees them (RFC 9110 13.1). */
export interface Preconditions {
  ifMatch?: string
  ifNoneMatch?: string
}

export const etag = (version: number) => `"${version}"`

/** Checks If-Match / If-None-Match against the current version (undefined: the resource does not exist). */
export function checkPreconditions(what: string, current: number | undefined, p: Preconditions = {}): void {
  if (p.ifMatch !== undefined) {
    const tags = p.ifMatch.split(',').map((t) => t.trim().replace(/^W\//, ''))
    const matches = current !== undefined && (tags.includes('*') || tags.includes(etag(current)))
    if (!matches) {
      throw new Errors.PRECONDITION_FAILED(
        current === undefined
          ? `If-Match: ${what} does not exist.`
          : `If-Match: ${what} is at version ${etag(current)}, not ${p.ifMatch}.`,
      )
    }
  }
  if (p.ifNoneMatch !== undefined && current !== undefined) {
    const tags = p.ifNoneMatch.split(',').map((t) => t.trim().replace(/^W\//, ''))
    if (tags.includes('*') || tags.includes(etag(current))) {
      throw new Errors.PRECONDITION_FAILED(`If-None-Match: ${what} already exists (version ${etag(current)}).`)
    }
  }
}
