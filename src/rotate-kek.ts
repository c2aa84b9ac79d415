import { runRotateKek } from './kek-rotate-command.js'

/** `npm run kek:rotate` (node dist/rotate-kek.js in the image): see docs/key-encryption-key.md. */
process.exitCode = await runRotateKek(
  process.argv.slice(2),
  process.env,
  (line) => process.stdout.write(`${line}\n`),
  (line) => process.stderr.write(`${line}\n`),
)
