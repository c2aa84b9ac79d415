import { randomBytes } from 'node:crypto'
import { constants, type Stats } from 'node:fs'
import { link, mkdir, open, stat, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

/**
 * DATA_DIR holds the SQLite store and the secrets written beside it (the bootstrap tokens, the audit
 * key). Whoever can write into it can plant a symlink where a secret is about to be written, or
 * swap the key, so the service refuses a directory others can write to, and creates its secrets so
 * that nothing already at their name is followed or overwritten.
 */
export class DataDirError extends Error {
  override name = 'DataDirError'
}

const errno = (err: unknown) => (err as NodeJS.ErrnoException).code ?? (err as Error).message
const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, '0')

/** Who this process runs as; undefined where the platform has no uids (the owner check is then skipped). */
const processUid = () => process.getuid?.()

/**
 * Creates DATA_DIR (mode 0700) when it is missing, then refuses it unless it is a directory owned by
 * this process's user and writable by nobody else. A symlink to such a directory is accepted (a
 * volume mounted elsewhere): the checks apply to the directory it resolves to. The directories above
 * it are the operator's to protect.
 */
export async function ensureDataDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  let info: Stats
  try {
    info = await stat(dir)
  } catch (err) {
    throw new DataDirError(`DATA_DIR ${dir}: cannot be read (${errno(err)})`)
  }
  if (!info.isDirectory()) throw new DataDirError(`DATA_DIR ${dir} is not a directory.`)
  const uid = processUid()
  if (uid !== undefined && info.uid !== uid) {
    throw new DataDirError(
      `DATA_DIR ${dir} is owned by uid ${info.uid}, but the service runs as uid ${uid}: another user could ` +
        `replace the secrets kept there. Give it to the service's user (chown ${uid} ${dir}).`,
    )
  }
  if (info.mode & 0o022) {
    throw new DataDirError(
      `DATA_DIR ${dir} is writable by ${info.mode & 0o020 ? 'its group' : 'other users'} (mode ${octal(info.mode)}): ` +
        `they could plant or swap the secrets kept there. Restrict it (chmod 700 ${dir}).`,
    )
  }
}

const CREATE_EXCLUSIVE = constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | constants.O_WRONLY

/**
 * Writes a new secret file, mode 0600, refusing if anything already has its name: a file left there
 * is not overwritten, and a symlink planted there is not followed (O_EXCL with O_NOFOLLOW), so the
 * secret cannot be sent to a place someone else chose. A file that could not be written whole is removed.
 */
export async function createSecretFile(file: string, content: string | Buffer): Promise<void> {
  let handle
  try {
    handle = await open(file, CREATE_EXCLUSIVE, 0o600)
  } catch (err) {
    const code = errno(err)
    if (code === 'EEXIST' || code === 'ELOOP') {
      throw new DataDirError(
        `${file} already exists; it is left untouched and not overwritten. ` +
          'If it is left over from an earlier start, read what it holds, remove it, and start again.',
      )
    }
    throw new DataDirError(`${file}: cannot be created (${code})`)
  }
  try {
    await handle.writeFile(content)
    await handle.sync()
  } catch (err) {
    await handle.close()
    await unlink(file).catch(() => {})
    throw new DataDirError(`${file}: cannot be written (${errno(err)})`)
  }
  await handle.close()
}

/**
 * Reads a secret file this process (or an earlier one) created: not through a symlink, and only if
 * it is a regular file of this user that no one else may read or write.
 */
export async function readSecretFile(file: string): Promise<Buffer> {
  let handle
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW)
  } catch (err) {
    const code = errno(err)
    if (code === 'ENOENT') throw err
    if (code === 'ELOOP') throw new DataDirError(`${file} is a symlink; a secret file is never read through one.`)
    throw new DataDirError(`${file}: cannot be read (${code})`)
  }
  try {
    const info = await handle.stat()
    const uid = processUid()
    if (!info.isFile()) throw new DataDirError(`${file} is not a regular file.`)
    if (uid !== undefined && info.uid !== uid)
      throw new DataDirError(`${file} is owned by uid ${info.uid}, not by the service's uid ${uid}.`)
    if (info.mode & 0o077) {
      throw new DataDirError(
        `${file} is open to other users (mode ${octal(info.mode)}); it must be 0600 (chmod 600 ${file}).`,
      )
    }
    return await handle.readFile()
  } finally {
    await handle.close()
  }
}

/**
 * The secret file's content, creating it with `make()` if it does not exist yet. Processes starting
 * together (replicas on a shared volume, an overlapping restart) all end up with the same content:
 * the file is written whole under a temporary name and then linked into place, which succeeds for
 * exactly one of them (link(2) refuses an existing name, symlinks included); the others read its file.
 */
export async function readOrCreateSecretFile(file: string, make: () => Buffer): Promise<Buffer> {
  try {
    return await readSecretFile(file)
  } catch (err) {
    if (errno(err) !== 'ENOENT') throw err
  }
  const temporary = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`)
  await createSecretFile(temporary, make())
  try {
    await link(temporary, file)
  } catch (err) {
    if (errno(err) !== 'EEXIST') throw new DataDirError(`${file}: cannot be created (${errno(err)})`)
  } finally {
    await unlink(temporary).catch(() => {})
  }
  return readSecretFile(file)
}
