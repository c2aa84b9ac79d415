import type { Test } from 'tap'
import type { Config } from '../../src/config.js'
import { buildTestApp } from './app.js'
import { issueCertificate } from './pki.js'
import { putCertificate, putEncryptor } from './requests.js'

/**
 * The app listening on a loopback port (for real sockets: streaming, aborts), with an encryptor
 * `big` for an RSA and an EC receiver.
 */
export async function listeningEncryptApp(t: Test, config: Partial<Record<keyof Config, string>> = {}) {
  const app = await buildTestApp(t, config)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  const rsa = await issueCertificate('stream-rsa')
  const ec = await issueCertificate('stream-ec', { key: 'ec-p256' })
  await putCertificate(app, 'rsa', rsa)
  await putCertificate(app, 'ec', ec)
  await putEncryptor(app, 'big', { receiverAliases: ['rsa', 'ec'] })
  return { app, port, rsa, ec }
}
