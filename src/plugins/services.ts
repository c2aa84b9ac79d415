import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import { EncryptorService } from '../encryptors/service.js'
import { RecipientResolver } from '../encryptors/resolver.js'
import { KeystoreService } from '../keystore/service.js'
import { RenewalService } from '../renewals/service.js'
import { ChangeFeed } from '../store/changes.js'
import type { Database } from '../store/schema.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Kysely<Database>
    keystore: KeystoreService
    encryptors: EncryptorService
    recipients: RecipientResolver
    renewals: RenewalService
  }
}

/** The domain services over one store. The store is opened by the caller; this plugin closes it. */
export default fp(async function services(fastify: FastifyInstance, opts: { db: Kysely<Database> }) {
  const changes = new ChangeFeed()
  fastify.decorate('db', opts.db)
  fastify.decorate('keystore', new KeystoreService(opts.db, changes))
  fastify.decorate('encryptors', new EncryptorService(opts.db, changes))
  fastify.decorate('recipients', new RecipientResolver(opts.db, changes))
  fastify.decorate('renewals', new RenewalService(opts.db, changes))
  fastify.addHook('onClose', async () => {
    await opts.db.destroy()
  })
}, { name: 'services' })
