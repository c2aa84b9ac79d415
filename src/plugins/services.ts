import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import { encryptorAliasUsers } from '../encryptors/alias-users.js'
import { EncryptorService } from '../encryptors/service.js'
import { RecipientResolver } from '../encryptors/resolver.js'
import { loadSigningKeyPair } from '../keystore/key-pair-repository.js'
import { KeyPairService } from '../keystore/key-pairs.js'
import { KeystoreService } from '../keystore/service.js'
import { RenewalService } from '../renewals/service.js'
import { ChangeListener } from '../store/change-listener.js'
import { ChangeFeed } from '../store/changes.js'
import { externalCommitsOf } from '../store/database.js'
import type { Database } from '../store/schema.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Kysely<Database>
    keystore: KeystoreService
    /** The tenant's own key pairs (signing), sealed with the app's keyEncryptionKeys. */
    keyPairs: KeyPairService
    encryptors: EncryptorService
    recipients: RecipientResolver
    renewals: RenewalService
    /** Listens for other replicas' changes (PostgreSQL only). */
    changeListener: ChangeListener | null
  }
}

/**
 * The domain services over one store. The store is opened by the caller; this plugin closes it.
 * On PostgreSQL it also listens for the changes other replicas commit.
 */
export default fp(
  async function services(fastify: FastifyInstance, opts: { db: Kysely<Database>; databaseUrl: string }) {
    const changes = new ChangeFeed()
    const recipients = new RecipientResolver(opts.db, changes, externalCommitsOf(opts.db), (db, alias) =>
      loadSigningKeyPair(db, fastify.keyEncryptionKeys, alias),
    )
    fastify.decorate('db', opts.db)
    fastify.decorate('keystore', new KeystoreService(opts.db, changes, encryptorAliasUsers))
    fastify.decorate('keyPairs', new KeyPairService(opts.db, changes, encryptorAliasUsers, fastify.keyEncryptionKeys))
    fastify.decorate('encryptors', new EncryptorService(opts.db, changes))
    fastify.decorate('recipients', recipients)
    fastify.decorate('renewals', new RenewalService(opts.db, changes, fastify.keyEncryptionKeys))

    let listener: ChangeListener | null = null
    if (opts.databaseUrl) {
      listener = new ChangeListener(opts.databaseUrl, changes, {
        onDown: () => recipients.suspend(),
        onUp: () => recipients.resume(),
        onError: (message) => fastify.log.warn(message),
      })
      await listener.start()
    }
    fastify.decorate('changeListener', listener)

    fastify.addHook('onClose', async () => {
      await listener?.close()
      await opts.db.destroy()
    })
  },
  // The app decorates keyEncryptionKeys (loaded and checked against the store before it is built).
  { name: 'services', decorators: { fastify: ['keyEncryptionKeys'] } },
)
