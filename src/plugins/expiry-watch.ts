import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { daysUntilExpiry } from '../cms/validity.js'

const CHECK_EVERY_MS = 60 * 60 * 1000
const WARN_EVERY_MS = 24 * 60 * 60 * 1000

/**
 * Logs, at warn level and once a day per alias, each certificate that expires within the warning
 * threshold, so a receiver's renewal is started before messages would go to an expired key.
 */
export default fp(
  async function expiryWatch(fastify: FastifyInstance, opts: { warningDays: number }) {
    const lastWarned = new Map<string, number>()
    const check = async () => {
      try {
        for (const entry of await fastify.keystore.list({ expiringWithinDays: opts.warningDays })) {
          const key = `${entry.alias}:${entry.certificate.sha256Fingerprint}`
          const now = Date.now()
          if (now - (lastWarned.get(key) ?? 0) < WARN_EVERY_MS) continue
          lastWarned.set(key, now)
          const days = daysUntilExpiry(entry.certificate, now)
          fastify.log.warn(
            { alias: entry.alias, notAfter: entry.certificate.notAfter.toISOString(), daysUntilExpiry: days },
            days < 0
              ? 'receiver certificate expired: start a renewal'
              : 'receiver certificate expires soon: start a renewal',
          )
        }
      } catch (err) {
        fastify.log.error({ err }, 'expiry check failed')
      }
    }
    let timer: NodeJS.Timeout | undefined
    fastify.addHook('onReady', async () => {
      await check()
      timer = setInterval(() => void check(), CHECK_EVERY_MS)
      timer.unref()
    })
    fastify.addHook('onClose', async () => clearInterval(timer))
  },
  { name: 'expiry-watch', dependencies: ['services'] },
)
