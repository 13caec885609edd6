// Local delivery into a Maildir (the qmail maildir spec, https://cr.yp.to/proto/maildir.html):
// write to tmp/, sync, then link into new/ so that a reader never sees an incomplete message.
import { constants } from 'node:fs';
import { link, mkdir, open, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

export type MaildirErrorCode = 'MAILDIR_BAD_LOCAL_PART' | 'MAILDIR_IO';

/**
 * Errors of a Maildir delivery. `temporary` says whether to try again later (defer) or give up
 * (bounce); `status` is the RFC 3463 code a report would carry.
 */
export class MaildirError extends Error {
  readonly code: MaildirErrorCode;
  /** The system error code (ENOSPC, EACCES...) for MAILDIR_IO. */
  readonly errno: string | undefined;
  readonly temporary: boolean;
  readonly status: string;
  readonly path: string | undefined;
  constructor(code: MaildirErrorCode, message: string, o: { errno?: string; temporary: boolean; status: string; path?: string; cause?: unknown }) {
    super(message, o.cause === undefined ? undefined : { cause: o.cause });
    this.name = 'MaildirError';
    this.code = code;
    this.errno = o.errno;
    this.temporary = o.temporary;
    this.status = o.status;
    this.path = o.path;
  }
}

// Errors that say the mailbox path itself cannot work, whatever happens later: permanent.
// Everything else is temporary, including EACCES, EPERM and EROFS: those are local set-up
// problems an administrator fixes, and mail should wait for the fix rather than bounce.
const PERMANENT: Record<string, string> = {
  ENAMETOOLONG: '5.1.3',
  ENOTDIR: '5.2.0',
  EISDIR: '5.2.0',
  ELOOP: '5.2.0',
  EINVAL: '5.2.0',
  EFBIG: '5.3.4',
};
const TEMPORARY_STATUS: Record<string, string> = {
  ENOSPC: '4.3.1',
  EDQUOT: '4.2.2',
};

/** Whether a system error code means try again later, and the status code it deserves. */
export function errnoOutcome(errno: string): { temporary: boolean; status: string } {
  const permanent = PERMANENT[errno];
  if (permanent !== undefined) return { temporary: false, status: permanent };
  return { temporary: true, status: TEMPORARY_STATUS[errno] ?? '4.3.0' };
}

function ioError(err: unknown, what: string, path: string): MaildirError {
  const errno = typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : 'EUNKNOWN';
  const reason = err instanceof Error ? err.message : String(err);
  return new MaildirError('MAILDIR_IO', `maildir ${what} ${path}: ${reason}`, { errno, ...errnoOutcome(errno), path, cause: err });
}

/**
 * The mailbox directory name for a local part: lower-cased; refused when it could escape the
 * root or is not a single safe file name ("/", NUL or other controls, a leading ".", empty,
 * longer than a file name may be).
 */
export function mailboxName(localPart: string): string {
  const name = localPart.toLowerCase();
  const bad = (why: string): MaildirError =>
    // eslint-disable-next-line no-control-regex
    new MaildirError('MAILDIR_BAD_LOCAL_PART', `local part "${localPart.replace(/[\x00-\x1f\x7f]/g, '?')}" cannot name a mailbox: ${why}`, {
      temporary: false, status: '5.1.3',
    });
  if (name === '') throw bad('empty');
  if (name.includes('/')) throw bad('contains "/"');
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) throw bad('contains a control character');
  if (name.startsWith('.')) throw bad('starts with "."');
  if (Buffer.byteLength(name) > 255) throw bad('longer than 255 octets');
  return name;
}

/** The host part of a unique name: "/" and ":" written as \057 and \072, as the spec asks. */
function escapeHost(host: string): string {
  return host.replace(/\//g, '\\057').replace(/:/g, '\\072');
}

/** The delivery id within a file name: anything but letters, digits, "-" and "_" as _XX. */
function escapeId(id: string): string {
  return id.replace(/[^A-Za-z0-9_-]/g, (c) => '_' + c.charCodeAt(0).toString(16).padStart(2, '0'));
}

// Two deliveries in one process within the same millisecond with the same id get distinct
// microsecond fields from this counter, so that the names differ before any collision check.
let sequence = 0;

function uniqueName(now: number, deliveryId: string, hostname: string): string {
  const seconds = Math.floor(now / 1000);
  const micro = (Math.floor(now) % 1000) * 1000 + (sequence++ % 1000);
  return `${seconds}.M${micro}P${process.pid}Q${escapeId(deliveryId)}.${escapeHost(hostname)}`;
}

/** Create tmp, new and cur (mode 0700) when missing. */
async function ensureMaildir(dir: string): Promise<void> {
  for (const sub of ['tmp', 'new', 'cur']) {
    const p = join(dir, sub);
    try {
      await mkdir(p, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw ioError(err, 'cannot create', p);
    }
  }
}

/**
 * Converts CRLF to LF while content streams through; a CR at the end of a piece waits for the
 * next one. A CR not followed by LF is kept as it is.
 */
class LineEnds {
  #pendingCr = false;

  convert(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    if (chunk.length === 0) return out;
    let start = 0;
    if (this.#pendingCr) {
      this.#pendingCr = false;
      if (chunk[0] !== 0x0a) out.push(CR);
    }
    for (;;) {
      const cr = chunk.indexOf(0x0d, start);
      if (cr < 0) break;
      if (cr === chunk.length - 1) {
        if (cr > start) out.push(chunk.subarray(start, cr));
        this.#pendingCr = true;
        return out;
      }
      if (chunk[cr + 1] === 0x0a) {
        if (cr > start) out.push(chunk.subarray(start, cr));
        start = cr + 1; // the LF starts the next piece
      } else {
        out.push(chunk.subarray(start, cr + 1));
        start = cr + 1;
      }
    }
    if (start < chunk.length) out.push(chunk.subarray(start));
    return out;
  }

  end(): Buffer[] {
    return this.#pendingCr ? [CR] : [];
  }
}

const CR = Buffer.from([0x0d]);
const WRITE_BATCH = 64 * 1024;

export interface MaildirOptions {
  /** Our host name, the last part of the unique file name. */
  readonly hostname: string;
  readonly now?: () => number;
  /** Unique for this delivery (message id and recipient): the Q field of the file name. */
  readonly deliveryId: string;
  /** The envelope sender, "" for the null sender: written as Return-Path: <...>. */
  readonly returnPath: string;
  /** The recipient address: written as Delivered-To:. */
  readonly deliveredTo: string;
}

// eslint-disable-next-line no-control-regex
const headerValue = (s: string): string => s.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();

/**
 * Deliver one message into <root>/<local part>/ (a Maildir). The file is written in tmp/ with
 * Return-Path: and Delivered-To: in front, CRLF line ends turned into LF (the Maildir convention:
 * readers expect the local text form), synced, then linked into new/ under its unique name and
 * the new/ directory synced. Nothing is ever visible in new/ before it is complete; on any failure
 * the tmp file is removed. Errors from reading `message` propagate unchanged (after cleanup).
 */
export async function deliverToMaildir(
  root: string,
  localPart: string,
  message: AsyncIterable<Buffer> | Iterable<Buffer>,
  opts: MaildirOptions,
): Promise<{ path: string; size: number }> {
  const dir = join(root, mailboxName(localPart));
  await ensureMaildir(dir);
  const now = opts.now ?? Date.now;

  const { name, tmpPath, file } = await createTmp(dir, opts, now);
  let unclosed: FileHandle | undefined = file;
  let size = 0;
  let linked = false;
  try {
    // Pieces are copied into one buffer and written 64 KiB at a time: few system calls, and no
    // reference kept to the caller's chunks (a reader may reuse its buffers).
    const buf = Buffer.allocUnsafe(WRITE_BATCH);
    let used = 0;
    const flush = async (): Promise<void> => {
      if (used === 0) return;
      try {
        let off = 0;
        while (off < used) off += (await file.write(buf, off, used - off)).bytesWritten;
      } catch (err) {
        throw ioError(err, 'cannot write', tmpPath);
      }
      size += used;
      used = 0;
    };
    const put = async (pieces: Buffer[]): Promise<void> => {
      for (const p of pieces) {
        let off = 0;
        while (off < p.length) {
          const n = p.copy(buf, used, off);
          used += n;
          off += n;
          if (used === buf.length) await flush();
        }
      }
    };

    await put([Buffer.from(
      `Return-Path: <${headerValue(opts.returnPath)}>\nDelivered-To: ${headerValue(opts.deliveredTo)}\n`, 'utf8')]);
    const ends = new LineEnds();
    for await (const chunk of message) await put(ends.convert(chunk));
    await put(ends.end());
    await flush();

    try {
      await file.sync();
    } catch (err) {
      throw ioError(err, 'cannot sync', tmpPath);
    }
    unclosed = undefined;
    try {
      await file.close();
    } catch (err) {
      throw ioError(err, 'cannot close', tmpPath);
    }

    const finalPath = await publish(dir, name, tmpPath, opts, now);
    linked = true;
    try {
      await syncDir(join(dir, 'new'));
    } catch (err) {
      await unlink(finalPath).catch(() => undefined);
      throw err;
    }
    return { path: finalPath, size };
  } finally {
    if (unclosed !== undefined) await unclosed.close().catch(() => undefined);
    if (!linked) await unlink(tmpPath).catch(() => undefined);
  }
}

/** Open a new file in tmp/ under a unique name; a name in use is replaced by another. */
async function createTmp(dir: string, opts: MaildirOptions, now: () => number): Promise<{ name: string; tmpPath: string; file: FileHandle }> {
  for (let attempt = 0; ; attempt++) {
    const name = uniqueName(now(), opts.deliveryId, opts.hostname);
    const tmpPath = join(dir, 'tmp', name);
    try {
      const file = await open(tmpPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      return { name, tmpPath, file };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && attempt < 5) continue;
      throw ioError(err, 'cannot create', tmpPath);
    }
  }
}

/**
 * Move the finished file from tmp/ into new/. link() refuses to replace an existing file, so a
 * clash of names can never overwrite a delivered message; a file system without hard links gets
 * rename(), after a check that the name is free.
 */
async function publish(dir: string, name: string, tmpPath: string, opts: MaildirOptions, now: () => number): Promise<string> {
  let target = join(dir, 'new', name);
  for (let attempt = 0; ; attempt++) {
    try {
      await link(tmpPath, target);
      await unlink(tmpPath).catch(() => undefined);
      return target;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && attempt < 5) {
        target = join(dir, 'new', uniqueName(now(), opts.deliveryId, opts.hostname));
        continue;
      }
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS' || code === 'EXDEV') {
        return renameInto(tmpPath, target, opts, now, dir);
      }
      throw ioError(err, 'cannot link', target);
    }
  }
}

async function renameInto(tmpPath: string, first: string, opts: MaildirOptions, now: () => number, dir: string): Promise<string> {
  let target = first;
  for (let attempt = 0; attempt < 5; attempt++) {
    const free = await open(target, constants.O_RDONLY).then(
      async (h) => { await h.close(); return false; },
      (err: NodeJS.ErrnoException) => err.code === 'ENOENT',
    );
    if (free) {
      try {
        await rename(tmpPath, target);
      } catch (err) {
        throw ioError(err, 'cannot rename into', target);
      }
      return target;
    }
    target = join(dir, 'new', uniqueName(now(), opts.deliveryId, opts.hostname));
  }
  throw ioError(Object.assign(new Error('no free name'), { code: 'EEXIST' }), 'cannot name', target);
}

/**
 * fsync a directory, so that the new entry survives a crash. A file system that cannot sync a
 * directory (EINVAL, ENOTSUP) is accepted as it is; any other failure throws, and the caller takes
 * the message back out of new/ so that a later attempt does not deliver it twice.
 */
async function syncDir(path: string): Promise<void> {
  let h: FileHandle | undefined;
  try {
    h = await open(path, constants.O_RDONLY);
    await h.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw ioError(err, 'cannot sync', path);
  } finally {
    await h?.close().catch(() => undefined);
  }
}
