import { Errors } from '../errors.js'
import type { KeyPairCandidate } from './key-pair.js'

/** STUB: the PKCS#12 (RFC 7292) reader is being written; the PEM path works. */
export function readPkcs12KeyPair(_der: Buffer, _password: string, _alias?: string): KeyPairCandidate {
  throw new Errors.PKCS12_UNSUPPORTED(
    'PKCS#12 upload is not available yet; send privateKey and certificateChain as PEM.',
  )
}
