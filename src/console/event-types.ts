/**
 * The event types a subscription can ask for, as the service names them (src/webhooks/event-types.ts; a
 * test keeps the two lists equal, since the console imports nothing of the service).
 */
export const EVENT_TYPES = [
  'renewal.started',
  'renewal.step-completed',
  'renewal.completed',
  'renewal.aborted',
  'renewal.waiting',
  'certificate.expiring',
  'certificate.expired-in-use',
  'encryptor.paused',
  'encryptor.resumed',
  'keystore.changed',
  'key-pair.changed',
  'key-pair.expiring',
  'key-pair.expired-in-use',
  'encryptor.changed',
]
