// Opening a file gapify reads — a model, its external data, cam's image and labels — without ever
// blocking. open(2) of a FIFO waits for a writer (and of some devices for the hardware), so a check
// made after the open comes too late: `gapify f.onnx` on a FIFO used to hang before any check ran.
// Here every file is opened O_NONBLOCK, which returns at once whatever the path names, and fstat
// on the open descriptor decides (not a stat of the path, which could change between the check and
// the open): only a regular file is read.

import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { NotARegularFile } from './errors.js';

export { NotARegularFile };

/** What a path names, in words for messages ("is not a regular file (a FIFO)"). */
export function fileKind(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a file';
}

export interface OpenedFile {
  readonly fd: number;
  readonly size: number;
}

/**
 * Opens `path` for reading if it is a regular file (symlinks followed). Throws the open's errno
 * error (ENOENT, EACCES, …) or NotARegularFile; never blocks.
 */
export function openRegularFile(path: string): OpenedFile {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new NotARegularFile(path, fileKind(st));
    return { fd, size: st.size };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/**
 * Reads `length` bytes of `fd` at `position` into `buf` at `offset`, however many reads that takes;
 * returns how many it got, fewer only when the file ended first (the caller says what that means).
 */
export function readFully(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, offset + done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** The whole of a regular file, read without blocking on what is not one (see openRegularFile). */
export function readRegularFile(path: string): Buffer {
  const { fd, size } = openRegularFile(path);
  try {
    const buf = Buffer.allocUnsafe(size);
    const got = readFully(fd, buf, 0, size, 0);
    return got === size ? buf : buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** What `path` names (symlinks followed), or undefined when it can't be stat'ed (missing, no access). */
export function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}
