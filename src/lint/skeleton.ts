// Reading a model for lint without reading its weights.
//
// Lint needs a model's structure (nodes, names, dims, dtypes, small int constants), never the
// values of its big tensors. Reading a 550 MB VGG16 whole costs ~4× `cat` (the fresh buffer's
// page faults plus the copy); this reader walks the protobuf with positioned reads instead and
// leaves the payloads of big initializers (TensorProto.raw_data ≥ 1 MiB under ModelProto.graph
// .initializer) unread: their bytes stay untouched pages of a lazily allocated buffer, so they
// cost neither I/O nor memory. The codec decodes `bytes` fields as views (it never looks inside),
// and validateModel checks their lengths only, so `parseModel` on this buffer gives the same
// ModelFile — same checks, same ModelErrors — as `readModel`, except that the skipped payloads
// read as zeros. Nothing lint calls reads them: shape inference reads int tensors of ≤ 64
// elements, the rules read dims. (Never hand such a ModelFile to the rewriter or onnxruntime.)
//
// Anything unexpected in the walk (a length past its message's end, a group, a short read) falls
// back to reading every byte, and the decoder or readModel then reports the problem as usual.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseModel, readModel, type ModelFile } from '../onnx/model-io.js';

/** Read granularity: small fields near each other are read with one call. */
const BLOCK = 1 << 16;
/** raw_data payloads at least this big are not read. */
export const SKIP_MIN = 1 << 20;
/** A protobuf message can't exceed 2 GiB (readModel says so for bigger files). */
const MAX_MODEL_FILE = 2 ** 31 - 1;

// Field numbers of onnx.proto on the path to the weights.
const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const TENSOR_RAW_DATA = 9;

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

class Fallback extends Error {}

type Level = 'model' | 'graph' | 'tensor';

class SparseFile {
  readonly buf: Buffer;
  private readonly filled: Uint8Array;
  /** Bytes actually read. */
  read = 0;

  constructor(
    private readonly fd: number,
    readonly size: number,
  ) {
    // Not zero-filled and not touched: pages come into being only where we read.
    this.buf = Buffer.allocUnsafeSlow(size);
    this.filled = new Uint8Array(Math.ceil(size / BLOCK));
  }

  /** Makes bytes [start, end) valid, reading the blocks that hold them. */
  ensure(start: number, end: number): void {
    if (end > this.size) throw new Fallback();
    let b = Math.floor(start / BLOCK);
    const last = Math.ceil(end / BLOCK);
    while (b < last) {
      if (this.filled[b]) {
        b++;
        continue;
      }
      let e = b;
      while (e < last && !this.filled[e]) e++;
      const from = b * BLOCK;
      const to = Math.min(e * BLOCK, this.size);
      let off = from;
      while (off < to) {
        const n = readSync(this.fd, this.buf, off, to - off, off);
        if (n === 0) throw new Fallback(); // the file shrank
        off += n;
      }
      this.read += to - from;
      this.filled.fill(1, b, e);
      b = e;
    }
  }

  /** A varint at `pos`: [value, position after it]. */
  varint(pos: number): [number, number] {
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
  walk(start: number, end: number, level: Level): void {
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
        else if (!(level === 'tensor' && field === TENSOR_RAW_DATA && len >= SKIP_MIN)) this.ensure(s, e);
        pos = e;
      } else {
        throw new Fallback(); // groups (unused by ONNX) or garbage
      }
    }
    if (pos !== end) throw new Fallback();
  }
}

/** Like readModel, without reading big initializers' bytes (see the top of this file). */
export function readModelSkeleton(path: string): ModelFile & { readonly bytesRead: number } {
  const abs = resolve(path);
  let fd: number;
  try {
    fd = openSync(abs, 'r');
  } catch {
    return { ...readModel(abs), bytesRead: 0 }; // readModel says why, in its words
  }
  let sf: SparseFile;
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size === 0 || st.size > MAX_MODEL_FILE) return { ...readModel(abs), bytesRead: st.size };
    sf = new SparseFile(fd, st.size);
    try {
      sf.walk(0, st.size, 'model');
    } catch (e) {
      if (!(e instanceof Fallback)) throw e;
      try {
        sf.ensure(0, st.size);
      } catch (e2) {
        if (!(e2 instanceof Fallback)) throw e2;
        return { ...readModel(abs), bytesRead: st.size };
      }
    }
  } finally {
    closeSync(fd);
  }
  return { ...parseModel(abs, sf.buf), bytesRead: sf.read };
}
