// Reading a model without reading its weights.
//
// The structure of a model (nodes, names, dims, small constants) is a few MB even when its weights
// are hundreds; gapify's rules need the structure and at most the few tensors they fold. This
// reader walks the protobuf with positioned reads and leaves the payloads of big initializers
// (TensorProto.raw_data ≥ `lazyMin` under ModelProto.graph.initializer: 1 MiB for a rewrite, a
// page for lint) unread: their bytes stay untouched pages of a lazily allocated buffer, costing
// neither I/O nor memory. The codec decodes `bytes` fields as views without looking inside, so
// decoding this buffer gives the same model as reading the whole file — except that unread
// payloads are garbage until `ensure` loads them.
//
// Who may look at unread bytes: nobody without loading them. Tensor values are read through
// tensor.ts's rawBytes (every reader of values goes there), which asks `loadedView` first: the
// payload is read from the file on that first access, or, if the file was closed, an
// UnloadedBytesError says so — a skipped payload is never taken for its zeros. Writing copies
// unread ranges from the file to the output file by positioned reads into one reused block, never
// through a buffer the size of the model.
//
// Anything unexpected in the walk (a length past its message's end, a group, a short read) falls
// back to reading every byte, and the decoder then reports the problem as usual.

import { closeSync } from 'node:fs';
import { readFully } from '../input-file.js';
import { copyRange, writeAll, type Pacer } from './file-copy.js';
import { WIRE_I32, WIRE_I64, WIRE_LEN, WIRE_VARINT } from './codec.js';
import { UnloadedBytesError } from '../errors.js';

export { UnloadedBytesError };

/**
 * Read granularity: small fields near each other are read with one call. A page, so the header of
 * a skipped tensor costs 4 KiB of the payload after it, not 64.
 */
const BLOCK = 1 << 12;
/** raw_data payloads at least this big are not read until asked for (the rewrite's default). */
export const LAZY_MIN = 1 << 20;
/** For a reader that needs no weights (lint): skip every payload a page or bigger. */
export const STRUCTURE_ONLY = BLOCK;

/** The LazyFile behind each lazily read buffer, so any view into it can be loaded on access. */
const owners = new WeakMap<ArrayBufferLike, LazyFile>();

/**
 * `view` with its bytes read from the file if it points into a lazily read buffer and some were
 * skipped; any other view as it is. Throws UnloadedBytesError when they can no longer be read.
 */
export function loadedView(view: Uint8Array): Uint8Array {
  const owner = owners.get(view.buffer);
  return owner ? owner.ensureView(view) : view;
}

// Field numbers of onnx.proto on the path to the weights.
const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const TENSOR_RAW_DATA = 9;

/** The walk met something it does not expect: read the whole file instead. */
class Fallback extends Error {}

/**
 * One buffer that successive lazy reads take in turn. Lint reads one model after another and keeps
 * nothing of one but plain data; a fresh buffer the size of each file would cost more than reading
 * its structure (V8 counts each as external memory and collects garbage for it). Taking the buffer
 * again invalidates every view into the model read before.
 */
export class ReusableBuffer {
  private buf: Buffer | undefined;

  /** A buffer of `size` bytes (contents undefined), reusing the last one when it is big enough. */
  take(size: number): Buffer {
    // Grown to powers of two (64 MiB at least): a folder of models allocates a few times, not once
    // a model. Untouched pages cost nothing.
    if (!this.buf || this.buf.length < size) this.buf = Buffer.allocUnsafeSlow(Math.max(2 ** 26, 2 ** Math.ceil(Math.log2(size))));
    return this.buf.subarray(0, size);
  }
}

/** The file was closed: unread bytes can no longer be loaded (lint's read-only mode). */

type Level = 'model' | 'graph' | 'tensor';

export class LazyFile {
  /** The file's bytes; unread ranges hold zeros until loaded. */
  readonly buf: Buffer;
  private readonly loaded: Uint8Array;
  private fd: number | undefined;
  /** Bytes actually read from the file so far. */
  bytesRead = 0;

  /**
   * `lazyMin`: raw_data payloads of initializers at least this long are left unread. `reuse`: take
   * the buffer from there instead of allocating one (see ReusableBuffer).
   */
  constructor(fd: number, readonly size: number, private readonly lazyMin = LAZY_MIN, reuse?: ReusableBuffer) {
    this.fd = fd;
    // Not zero-filled and not touched: pages come into being only where we read.
    this.buf = reuse ? reuse.take(size) : Buffer.allocUnsafeSlow(size);
    this.loaded = new Uint8Array(Math.ceil(size / BLOCK));
    owners.set(this.buf.buffer, this);
  }

  /** Reads the model's structure, skipping big weight payloads; false: the walk gave up (the caller reads everything). */
  readStructure(): boolean {
    try {
      this.walk(0, this.size, 'model');
      return true;
    } catch (e) {
      if (e instanceof Fallback) return false;
      throw e;
    }
  }

  /** Makes bytes [start, end) valid, reading the blocks that hold them. */
  ensure(start: number, end: number): void {
    if (end > this.size) throw new Fallback();
    let b = Math.floor(start / BLOCK);
    const last = Math.ceil(end / BLOCK);
    while (b < last) {
      if (this.loaded[b]) {
        b++;
        continue;
      }
      let e = b;
      while (e < last && !this.loaded[e]) e++;
      const from = b * BLOCK;
      const to = Math.min(e * BLOCK, this.size);
      this.readInto(from, to);
      this.loaded.fill(1, b, e);
      b = e;
    }
  }

  ensureAll(): void {
    this.ensure(0, this.size);
  }

  /** Loads the bytes behind `view` (a view into `buf`, e.g. a decoded raw_data) and returns it. */
  ensureView(view: Uint8Array): Uint8Array {
    const at = this.offsetOf(view);
    if (at !== undefined) this.ensure(at, at + view.length);
    return view;
  }

  isLoaded(start: number, end: number): boolean {
    for (let b = Math.floor(start / BLOCK), last = Math.ceil(end / BLOCK); b < last; b++) if (!this.loaded[b]) return false;
    return true;
  }

  /** The file offset of a view into `buf`; undefined for bytes that are not the file's. */
  offsetOf(view: Uint8Array): number | undefined {
    if (view.buffer !== this.buf.buffer) return undefined;
    return view.byteOffset - this.buf.byteOffset;
  }

  /** Appends file bytes [start, end) to `out` (an fd open for writing), loaded or not; `pacer`: the writer's (see copyRange). */
  async copyTo(out: number, start: number, end: number, pacer: Pacer): Promise<void> {
    if (this.isLoaded(start, end)) {
      writeAll(out, this.buf.subarray(start, end));
      return;
    }
    if (!(await copyRange(this.openFd(), start, end - start, out, pacer))) throw new UnloadedBytesError('the model file shrank while gapify was using it');
  }

  /** Puts file bytes [start, end) into `out` at `at`: from memory where loaded, else read from the file (not kept). */
  copyInto(out: Uint8Array, at: number, start: number, end: number): void {
    if (this.isLoaded(start, end)) {
      out.set(this.buf.subarray(start, end), at);
      return;
    }
    const got = readFully(this.openFd(), out, at, end - start, start);
    this.bytesRead += got;
    if (got !== end - start) throw new UnloadedBytesError('the model file shrank while gapify was using it');
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private openFd(): number {
    if (this.fd === undefined) throw new UnloadedBytesError('weights of this model were not read (it was opened for analysis only)');
    return this.fd;
  }

  private readInto(from: number, to: number): void {
    if (readFully(this.openFd(), this.buf, from, to - from, from) !== to - from) throw new UnloadedBytesError('the model file shrank while being read');
    this.bytesRead += to - from;
  }

  /** A varint at `pos`: [value, position after it]. */
  private varint(pos: number): [number, number] {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      this.ensure(pos + i, pos + i + 1);
      const byte = this.buf[pos + i]!;
      value += (byte & 0x7f) * scale;
      scale *= 128;
      if (byte < 0x80) return [value, pos + i + 1];
    }
    throw new Fallback();
  }

  /** Reads the message in [start, end), descending towards the weights and skipping big payloads. */
  private walk(start: number, end: number, level: Level): void {
    let pos = start;
    while (pos < end) {
      const [tag, p] = this.varint(pos);
      const field = Math.floor(tag / 8);
      const wire = tag % 8;
      if (wire === WIRE_VARINT) {
        pos = this.varint(p)[1];
      } else if (wire === WIRE_I64 || wire === WIRE_I32) {
        pos = p + (wire === WIRE_I64 ? 8 : 4);
        this.ensure(p, pos);
      } else if (wire === WIRE_LEN) {
        const [len, s] = this.varint(p);
        const e = s + len;
        if (e > end) throw new Fallback();
        if (level === 'model' && field === MODEL_GRAPH) this.walk(s, e, 'graph');
        else if (level === 'graph' && field === GRAPH_INITIALIZER) this.walk(s, e, 'tensor');
        else if (!(level === 'tensor' && field === TENSOR_RAW_DATA && len >= this.lazyMin)) this.ensure(s, e);
        pos = e;
      } else {
        throw new Fallback(); // groups (unused by ONNX) or garbage
      }
    }
    if (pos !== end) throw new Fallback();
  }
}
