// Copying a byte range from one open file to another through one reused block: how untouched
// weights travel from an input model (or its data file) to the output without ever being held
// whole. (Node has no ranged copy_file_range; this is the user-space equivalent.)

import { readSync, writeSync } from 'node:fs';

const COPY_BLOCK = 16 << 20;

/** Writes all of `bytes` to `fd`, at `position` (null: the file's current position). */
export function writeAll(fd: number, bytes: Uint8Array, position: number | null = null): void {
  for (let done = 0; done < bytes.length;) {
    done += writeSync(fd, bytes, done, bytes.length - done, position === null ? null : position + done);
  }
}

/**
 * Lets the event loop run. Writing a model is a long run of synchronous calls (fast, and simple to
 * keep ordered), so the writers call this (through a Pacer) every block's worth: a SIGINT or
 * SIGTERM is then handled within one block — the temp file removed, the old output kept — instead
 * of after the whole write.
 */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Counts bytes written and yields to the event loop once every copy block's worth. */
export class Pacer {
  private since = 0;

  async wrote(bytes: number): Promise<void> {
    this.since += bytes;
    if (this.since < COPY_BLOCK) return;
    this.since = 0;
    await yieldToEventLoop();
  }
}

/**
 * Copies `length` bytes at `offset` of `from` to `to` (at `position`, or its current position),
 * telling `pacer` each block written (the writer's one Pacer: it yields every block's worth of
 * the whole write, however the write is split into copies). Resolves false if `from` ended early
 * (the caller names the file in its error).
 */
export async function copyRange(from: number, offset: number, length: number, to: number, pacer: Pacer, position: number | null = null, block?: Buffer): Promise<boolean> {
  const buf = block ?? Buffer.allocUnsafe(Math.min(COPY_BLOCK, Math.max(length, 1)));
  for (let done = 0; done < length;) {
    const n = readSync(from, buf, 0, Math.min(buf.length, length - done), offset + done);
    if (n === 0) return false;
    writeAll(to, buf.subarray(0, n), position === null ? null : position + done);
    done += n;
    await pacer.wrote(n);
  }
  return true;
}

/** A block for several copyRange calls. */
export function copyBlock(upTo: number): Buffer {
  return Buffer.allocUnsafeSlow(Math.min(COPY_BLOCK, Math.max(upTo, 1)));
}
