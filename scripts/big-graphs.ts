// Models that are big in structure, not in weights: millions of nodes or metadata entries. Written
// as protobuf bytes straight to the file (the builder would hold every message in memory first),
// for the benchmark and the resource-limit tests.
//
//   chain:    x [1,16,4,4] ─ Relu ─ Relu ─ … (n of them) ─ GlobalAveragePool ─ Flatten ─ Gemm ─ logits
//   metadata: the same 3-node classifier with n metadata_props entries (keys k0, k1, …)

import { closeSync, openSync, writeSync } from 'node:fs';
import { encode } from '../src/onnx/codec.js';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/onnx/builder.js';
import { DataType, type GraphProto, type ModelProto } from '../src/onnx/schema.js';

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 128) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** Buffered appends to a file. */
class Out {
  private readonly buf = Buffer.allocUnsafe(1 << 20);
  private pos = 0;
  constructor(private readonly fd: number) {}

  bytes(b: Uint8Array | number[]): void {
    if (this.pos + b.length > this.buf.length) this.flush();
    if (b.length > this.buf.length) {
      writeSync(this.fd, Uint8Array.from(b));
      return;
    }
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  flush(): void {
    if (this.pos) writeSync(this.fd, this.buf, 0, this.pos);
    this.pos = 0;
  }
}

const field = (id: number, body: Uint8Array | number[]): number[] => [...varint(id * 8 + 2), ...varint(body.length), ...body];
const ascii = (s: string): number[] => [...Buffer.from(s, 'latin1')];

/** The classifier tail after the chain: 'x' → … → `last` ─ GAP ─ Flatten ─ Gemm ─ logits. */
function tail(last: string): GraphProto {
  const w = Array.from({ length: 160 }, (_, i) => Math.sin(i) / 4);
  return makeGraph(
    [
      makeNode('GlobalAveragePool', [last], ['p'], {}, 'gap'),
      makeNode('Flatten', ['p'], ['f'], { axis: 1 }, 'flatten'),
      makeNode('Gemm', ['f', 'W', 'b'], ['logits'], { transB: 1 }, 'fc'),
    ],
    'big', [makeValueInfo('x', DataType.FLOAT, [1, 16, 4, 4])], [makeValueInfo('logits', DataType.FLOAT, [1, 10])],
    [makeTensor('W', DataType.FLOAT, [10, 16], w), makeTensor('b', DataType.FLOAT, [10], new Array<number>(10).fill(0.1))],
  );
}

/** Writes `model` with `graphPrefix` (node fields) put first in its graph and `modelSuffix` fields appended. */
function writeWith(path: string, model: ModelProto, graphPrefix: { bytes: number; write(out: Out): void }, modelSuffix?: { write(out: Out): void }): void {
  const { graph, ...rest } = model;
  const graphBytes = encode('onnx.GraphProto', graph!);
  const head = encode('onnx.ModelProto', rest as ModelProto);
  const fd = openSync(path, 'w');
  const out = new Out(fd);
  out.bytes(head);
  const len = graphPrefix.bytes + graphBytes.length;
  out.bytes([...varint(7 * 8 + 2), ...varint(len)]);
  graphPrefix.write(out);
  out.bytes(graphBytes);
  modelSuffix?.write(out);
  out.flush();
  closeSync(fd);
}

/** A chain of `n` Relu nodes (names v0000000…, ~28 bytes a node). */
export function writeChainModel(path: string, n: number): void {
  const name = (i: number): string => (i === 0 ? 'x' : `v${String(i).padStart(7, '0')}`);
  const node = (i: number): number[] => field(1, [...field(1, ascii(name(i))), ...field(2, ascii(name(i + 1))), ...field(4, ascii('Relu'))]);
  let bytes = 0;
  for (let i = 0; i < n; i++) bytes += node(i).length;
  writeWith(path, makeModel(tail(name(n)), { opset: 13 }), {
    bytes,
    write(out) {
      for (let i = 0; i < n; i++) out.bytes(node(i));
    },
  });
}

/** The 3-node classifier with `n` metadata entries {k<i>: ''} (~10 bytes each). */
export function writeMetadataModel(path: string, n: number): void {
  writeWith(path, makeModel(tail('x'), { opset: 13 }), { bytes: 0, write() {} }, {
    write(out) {
      for (let i = 0; i < n; i++) {
        out.bytes(field(14, field(1, ascii(`k${i.toString(36)}`))));
      }
    },
  });
}
