// The wire codec: byte-exact round trips of every fixture, unknown fields, source-byte reuse,
// int64 / negative values, packing, float16 storage, and what corrupt input does.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { decode, encode, encodeChunks, encodedSize, SOURCE, WireError } from '../src/onnx/codec.js';
import { makeAttribute, makeConstantNode, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/onnx/builder.js';
import { DataType, UNKNOWN, type AttributeProto, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from '../src/onnx/schema.js';
import { emptyTensor, floatToHalf, halfToFloat, readFloats } from '../src/onnx/tensor.js';
import { concat, rng, varint } from './support/bytes.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = join(ROOT, 'fixtures');
const fixtureFiles = readdirSync(FIXTURES).filter((f) => f.endsWith('.onnx')).sort();

/** A copy as a plain Uint8Array (decoding a Buffer yields Buffer-typed `bytes` fields). */
function plain(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

function readFixture(name: string): Uint8Array {
  return plain(readFileSync(join(FIXTURES, name)));
}



/** Field `id` as a length-delimited field holding `body`. */
function lenField(id: number, body: Uint8Array | number[]): Uint8Array {
  const b = body instanceof Uint8Array ? body : Uint8Array.from(body);
  return concat(varint(id * 8 + 2), varint(b.length), b);
}

/** Positions where a and b (same length) differ. */
function diffPositions(a: Uint8Array, b: Uint8Array): number[] {
  assert.equal(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) out.push(i);
  return out;
}

const decodeModel = (b: Uint8Array): ModelProto => decode<ModelProto>('onnx.ModelProto', b);
const encodeModel = (m: ModelProto, reuseSource = true): Uint8Array => plain(encode('onnx.ModelProto', m, { reuseSource }));


// ---------------------------------------------------------------------------------------------

describe('fixtures round-trip byte for byte', () => {
  it('has the generated fixtures', () => {
    for (const f of ['resnet_tail.onnx', 'fp16_tail.onnx', 'reducemean_tail.onnx']) assert.ok(fixtureFiles.includes(f), `fixtures/${f} missing: run npm run fixtures`);
  });

  for (const file of fixtureFiles) {
    it(file, () => {
      const bytes = readFixture(file);
      const model = decodeModel(bytes);
      assert.ok(model.graph, 'has a graph');
      assert.ok(Object.isFrozen(model) && Object.isFrozen(model.graph) && Object.isFrozen(model.graph.node));
      // Reusing source bytes: the whole model is one view of the input.
      const reused = encodeModel(model);
      assert.ok(Buffer.from(reused).equals(Buffer.from(bytes)), 'reuseSource: identical bytes');
      // Canonical re-encode from the decoded fields: the same bytes again.
      const canonical = encodeModel(model, false);
      assert.ok(Buffer.from(canonical).equals(Buffer.from(bytes)), 'reuseSource false: identical bytes');
      assert.equal(encodedSize('onnx.ModelProto', model, { reuseSource: false }), bytes.length);
      // Chunks concatenate to the same bytes, as on disk.
      const chunks = encodeChunks('onnx.ModelProto', model);
      assert.ok(Buffer.concat(chunks).equals(Buffer.from(bytes)));
    });
  }
});

describe('builder messages', () => {
  // Every attribute kind, dims of every kind, a Constant node, a float16 initializer.
  function builtModel(): ModelProto {
    const sub = makeGraph([makeNode('Identity', ['o'], ['r'])], 'then', [], [makeValueInfo('r', DataType.FLOAT, [2])]);
    const t = makeTensor('w', DataType.FLOAT, [2, 2], [1, 2, 3, 4.5]);
    const node = makeNode(
      'Custom',
      ['x', '', 'w'],
      ['y', ''],
      {
        i: 3,
        big: 2n ** 62n,
        neg: -7,
        f: 0.1,
        f1: { f: 1 },
        i1: { i: 1 },
        s: 'text',
        ints: [1, -2, 3],
        floats: [0.5, 1.25],
        strings: ['a', 'bc'],
        fl: { floats: [1, 2] },
        is: { ints: [] },
        t,
        t2: { t },
        g: sub,
        gs: { graphs: [sub] },
        ts: { tensors: [t] },
        skipped: undefined,
      },
      'n0',
      'com.example',
    );
    const graph = makeGraph(
      [makeConstantNode('c', makeTensor('', DataType.INT64, [2], [-1, 16]), 'const'), node],
      'g',
      [makeValueInfo('x', DataType.FLOAT, ['N', 3, undefined, 32]), makeValueInfo('u', DataType.FLOAT, undefined)],
      [makeValueInfo('y', DataType.FLOAT16, [])],
      [t, makeTensor('h', DataType.FLOAT16, [3], [1, -0.5, 65504])],
      [makeValueInfo('c', DataType.INT64, [2])],
    );
    return makeModel(graph, { extraOpsets: [{ domain: 'com.example', version: 1 }] });
  }

  it('encode → decode gives an equal structure', () => {
    const model = builtModel();
    const decoded = decodeModel(encodeModel(model));
    assert.deepStrictEqual(decoded, model);
  });

  it('has every repeated field the decoder would give', () => {
    const model = builtModel();
    const decoded = decodeModel(encodeModel(model));
    // deepStrictEqual above already compares keys; spot-check the forms explicitly too.
    const attr = model.graph!.node[1]!.attribute[0]!;
    assert.ok(attr.floats instanceof Float32Array);
    for (const k of ['ints', 'strings', 'tensors', 'graphs', 'sparse_tensors', 'type_protos'] as const) assert.deepEqual(attr[k], []);
    assert.deepEqual(Object.keys(model.graph!).sort(), Object.keys(decoded.graph!).sort());
    assert.deepEqual(Object.keys(model.graph!.node[0]!).sort(), Object.keys(decoded.graph!.node[0]!).sort());
  });

  it('infers attribute types like onnx.helper', () => {
    const types = (attrs: Record<string, Parameters<typeof makeAttribute>[1]>): number[] =>
      makeNode('X', [], [], attrs).attribute.map((a) => a.type ?? -1);
    assert.deepEqual(types({ a: 1, b: 1.5, c: 'x', d: [1, 2], e: [1.5, 2], f: { f: 2 }, g: { i: 2 }, h: 5n, k: ['s'] }), [2, 1, 3, 7, 6, 1, 2, 2, 8]);
    assert.equal(makeAttribute('f', 0.1).f, Math.fround(0.1));
    assert.equal(makeAttribute('big', 2n ** 40n).i, 2 ** 40, 'safe bigints become numbers, as decoded');
    assert.throws(() => makeAttribute('x', 2 ** 60), /safe integer/);
    assert.throws(() => makeAttribute('x', 2n ** 63n), /int64/);
  });

  it('writes what protobufjs writes', () => {
    // An independent encoder as the oracle for the canonical form.
    const root = new protobuf.Root().loadSync(join(ROOT, 'proto', 'onnx.proto'), { keepCase: true });
    const Node = root.lookupType('onnx.NodeProto');
    const ours = encode('onnx.NodeProto', makeNode('Gemm', ['a', 'b', 'c'], ['y'], { alpha: { f: 0.5 }, transB: 1, perm: [1, 0], neg: -3 }, 'gemm'));
    const theirs = Node.encode(
      Node.fromObject({
        input: ['a', 'b', 'c'],
        output: ['y'],
        name: 'gemm',
        op_type: 'Gemm',
        attribute: [
          { name: 'alpha', type: 1, f: 0.5 },
          { name: 'transB', type: 2, i: 1 },
          { name: 'perm', type: 7, ints: [1, 0] },
          { name: 'neg', type: 2, i: -3 },
        ],
      }),
    ).finish();
    assert.deepEqual(plain(ours), plain(theirs));
  });
});

describe('unknown fields', () => {
  // Field 99 as a varint (value 42), field 100 length-delimited ('abc').
  const unknownBytes = concat(varint(99 * 8 + 0), varint(42), varint(100 * 8 + 2), [3, 0x61, 0x62, 0x63]);

  it('survive on a model, including after an unrelated change', () => {
    const bytes = concat(readFixture('resnet_tail.onnx'), unknownBytes);
    const model = decodeModel(bytes);
    const unknown = model[UNKNOWN];
    assert.equal(unknown?.length, 2);
    assert.deepEqual(plain(concat(...unknown!)), unknownBytes);
    assert.deepEqual(encodeModel(model), bytes);
    assert.deepEqual(encodeModel(model, false), bytes);

    // Spread a new graph: the model is re-encoded field by field, its unknown fields with it.
    const changed: ModelProto = { ...model, graph: { ...model.graph!, name: 'renamed' } };
    for (const reuse of [true, false]) {
      const again = decodeModel(encodeModel(changed, reuse));
      assert.equal(again.graph?.name, 'renamed');
      assert.deepEqual(plain(concat(...again[UNKNOWN]!)), unknownBytes);
    }
  });

  it('survive on a node inside a model', () => {
    const nodeBytes = concat(encode('onnx.NodeProto', makeNode('Relu', ['x'], ['y'], {}, 'relu')), unknownBytes);
    const node = decode<NodeProto>('onnx.NodeProto', nodeBytes);
    assert.equal(node[UNKNOWN]?.length, 2);
    const graph = makeGraph([node], 'g', [makeValueInfo('x', DataType.FLOAT, [1])], [makeValueInfo('y', DataType.FLOAT, [1])]);
    const model = decodeModel(encodeModel(makeModel(graph)));
    const n0 = model.graph!.node[0]!;
    assert.deepEqual(plain(concat(...n0[UNKNOWN]!)), unknownBytes);

    // Change something else (graph name), and separately the node itself: unknowns stay.
    const g = model.graph!;
    const variants: ModelProto[] = [
      { ...model, graph: { ...g, name: 'other' } },
      { ...model, graph: { ...g, node: [{ ...n0, name: 'relu2' }] } },
    ];
    for (const m of variants) {
      for (const reuse of [true, false]) {
        const again = decodeModel(encodeModel(m, reuse)).graph!.node[0]!;
        assert.deepEqual(plain(concat(...again[UNKNOWN]!)), unknownBytes);
        assert.equal(again.op_type, 'Relu');
      }
    }
  });

  it('a known field number with a foreign (valid) wire type is kept as unknown, like protobuf C++', () => {
    // ModelProto.graph (7) written as a varint.
    const bytes = concat(readFixture('resnet_tail.onnx'), varint(7 * 8 + 0), [5]);
    const model = decodeModel(bytes);
    assert.ok(model.graph, 'the real graph field is still decoded');
    assert.equal(model[UNKNOWN]?.length, 1);
    assert.deepEqual(encodeModel(model, false), bytes);
  });
});

describe('source bytes', () => {
  it('a spread copy does not inherit them', () => {
    const bytes = readFixture('resnet_tail.onnx');
    const model = decodeModel(bytes);
    const g = model.graph!;
    const gemm = g.node.find((n) => n.op_type === 'Gemm')!;
    assert.equal(gemm.name, '/fc/Gemm');
    assert.ok((gemm as unknown as Record<symbol, unknown>)[SOURCE] instanceof Uint8Array);
    const renamed: NodeProto = { ...gemm, name: '/fc/Gemx' }; // same length: same layout
    assert.equal((renamed as unknown as Record<symbol, unknown>)[SOURCE], undefined);

    const changed: ModelProto = { ...model, graph: { ...g, node: g.node.map((n) => (n === gemm ? renamed : n)) } };
    for (const reuse of [true, false]) {
      const out = encodeModel(changed, reuse);
      const diff = diffPositions(bytes, out);
      assert.equal(diff.length, 1, 'exactly one byte differs');
      const at = diff[0]!;
      assert.equal(Buffer.from(bytes.subarray(at - 7, at + 1)).toString(), '/fc/Gemm');
      assert.equal(Buffer.from(out.subarray(at - 7, at + 1)).toString(), '/fc/Gemx');
      const again = decodeModel(out);
      assert.equal(again.graph!.node.find((n) => n.op_type === 'Gemm')!.name, '/fc/Gemx');
    }

    // A longer name changes the enclosing lengths; the rest decodes the same.
    const longer: ModelProto = { ...model, graph: { ...g, node: g.node.map((n) => (n === gemm ? { ...n, name: '/classifier/fc/Gemm' } : n)) } };
    const again = decodeModel(encodeModel(longer));
    assert.equal(again.graph!.node.find((n) => n.op_type === 'Gemm')!.name, '/classifier/fc/Gemm');
    assert.deepEqual(again.graph!.initializer, g.initializer);
    assert.deepEqual(again.graph!.node.filter((n) => n.op_type !== 'Gemm'), g.node.filter((n) => n.op_type !== 'Gemm'));
  });

  it('an unchanged initializer is written as a view of the input', () => {
    // Big enough (≥ 16 KiB) to become its own chunk.
    const big = makeTensor('big', DataType.FLOAT, [64, 128], Array.from({ length: 64 * 128 }, (_, i) => i));
    const graph = makeGraph([makeNode('Identity', ['big'], ['y'])], 'g', [], [makeValueInfo('y', DataType.FLOAT, [64, 128])], [big]);
    const bytes = encodeModel(makeModel(graph));
    const model = decodeModel(bytes);
    const changed: ModelProto = { ...model, graph: { ...model.graph!, name: 'other' } };
    const chunks = encodeChunks('onnx.ModelProto', changed);
    assert.ok(chunks.some((c) => c.buffer === bytes.buffer && c.length >= 64 * 128 * 4), 'the tensor is a view of the input');
    assert.equal(decodeModel(plain(Buffer.concat(chunks))).graph!.name, 'other');
  });
});

describe('integers', () => {
  const MAX = 9223372036854775807n;
  const MIN = -9223372036854775808n;

  it('int64 beyond 2^53 round-trips as bigint (INTS attribute, int64_data, dims)', () => {
    const t = emptyTensor({ name: 'big', data_type: DataType.INT64, dims: [3], int64_data: [MAX, MIN, 2 ** 53 - 1] });
    const node = makeNode('Slice', ['x'], ['y'], { ends: { ints: [MAX, -1, 2n ** 53n] }, i: MIN });
    const model = makeModel(makeGraph([node], 'g', [], [], [t]));
    for (const reuse of [true, false]) {
      const m = decodeModel(encodeModel(decodeModel(encodeModel(model)), reuse));
      const a = m.graph!.node[0]!.attribute;
      assert.deepEqual(a[0]!.ints, [MAX, -1, 2n ** 53n]);
      assert.equal(a[1]!.i, MIN);
      assert.deepEqual(m.graph!.initializer[0]!.int64_data, [MAX, MIN, 2 ** 53 - 1]);
      assert.equal(typeof m.graph!.initializer[0]!.int64_data[2], 'number');
    }
  });

  it('negative int32 and int64 values use 10-byte varints and decode back', () => {
    const t = emptyTensor({ data_type: DataType.INT32, dims: [3], int32_data: [-1, -2147483648, 2147483647] });
    const bytes = plain(encode('onnx.TensorProto', t));
    // dims(1)=3, data_type(2)=6, int32_data(5) packed: 10 + 10 + 5 bytes.
    assert.deepEqual([...bytes.subarray(0, 6)], [0x08, 3, 0x10, 6, 0x2a, 25]);
    assert.deepEqual([...bytes.subarray(6, 16)], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    const back = decode<TensorProto>('onnx.TensorProto', bytes);
    assert.deepEqual(back.int32_data, [-1, -2147483648, 2147483647]);

    const attr = decode<AttributeProto>('onnx.AttributeProto', encode('onnx.AttributeProto', makeAttribute('a', { ints: [-1, -300] })));
    assert.deepEqual(attr.ints, [-1, -300]);
    const dims = decode<TensorProto>('onnx.TensorProto', encode('onnx.TensorProto', emptyTensor({ dims: [-1, 4] })));
    assert.deepEqual(dims.dims, [-1, 4]);
  });

  it('dims are written unpacked, float_data packed; both forms decode', () => {
    const t = emptyTensor({ data_type: DataType.FLOAT, dims: [2, 3], float_data: Float32Array.of(1, 2, 3, 4, 5, 6) });
    const bytes = plain(encode('onnx.TensorProto', t));
    const floats = new Uint8Array(Float32Array.of(1, 2, 3, 4, 5, 6).buffer);
    assert.deepEqual(bytes, concat([0x08, 2, 0x08, 3, 0x10, 1, 0x22, 24], floats));
    // Packed dims (a proto3 writer) and unpacked floats (one fixed32 tag each) are read too.
    const other = concat([0x0a, 2, 2, 3, 0x10, 1], ...[1, 2, 3, 4, 5, 6].map((v) => concat([0x25], new Uint8Array(Float32Array.of(v).buffer))));
    const back = decode<TensorProto>('onnx.TensorProto', other);
    assert.deepEqual(back.dims, [2, 3]);
    assert.ok(back.float_data instanceof Float32Array);
    assert.deepEqual([...back.float_data], [1, 2, 3, 4, 5, 6]);
    // Canonically re-encoded, it comes out in the ONNX form.
    assert.deepEqual(plain(encode('onnx.TensorProto', back, { reuseSource: false })), bytes);
  });
});

describe('packed repeated floats, edge cases', () => {
  const f32 = (v: number): number[] => [...new Uint8Array(Float32Array.of(v).buffer)];

  it('a packed float run whose length is not a multiple of 4 is a WireError', () => {
    // float_data (4) packed, 5 bytes: one float and a stray byte.
    assert.throws(() => decode('onnx.TensorProto', Uint8Array.of(0x22, 5, ...f32(1), 0x99)), WireError);
  });

  it('unpacked then packed float_data keep wire order', () => {
    // Parsers must accept both forms, even mixed; values concatenate in wire order.
    const bytes = Uint8Array.from([0x25, ...f32(1), 0x22, 8, ...f32(2), ...f32(3)]);
    assert.deepEqual([...decode<TensorProto>('onnx.TensorProto', bytes).float_data], [1, 2, 3]);
  });
});

describe('float16', () => {
  it('raw_data and int32_data hold the same values for readFloats', () => {
    const values = [0, 1, -2, 0.5, 0.1, 65504, -65504, 5.960464477539063e-8, 1e-5, -0];
    const bits = values.map(floatToHalf);
    const raw = makeTensor('r', DataType.FLOAT16, [values.length], values);
    const typed = emptyTensor({ name: 't', data_type: DataType.FLOAT16, dims: [values.length], int32_data: bits });
    const expected = Float64Array.from(bits, halfToFloat);
    for (const t of [raw, typed]) {
      const back = decode<TensorProto>('onnx.TensorProto', plain(encode('onnx.TensorProto', t)));
      assert.deepEqual(readFloats(back), expected);
    }
    assert.equal(raw.raw_data?.length, values.length * 2);
    assert.equal(expected[4], halfToFloat(0x2e66), '0.1 rounds to the nearest half');
  });

  it('fp16_tail.onnx stores float16 weights in raw_data', () => {
    const model = decodeModel(readFixture('fp16_tail.onnx'));
    for (const t of model.graph!.initializer) {
      assert.equal(t.data_type, DataType.FLOAT16);
      assert.ok(t.raw_data && t.raw_data.length === 2 * t.dims.reduce<number>((a, b) => a * Number(b), 1));
      assert.ok(readFloats(t).every(Number.isFinite));
    }
  });
});

describe('corrupt input', () => {
  const good = readFixture('resnet_tail.onnx');

  function decodesOrWireError(bytes: Uint8Array): 'ok' | 'error' {
    try {
      decodeModel(bytes);
      return 'ok';
    } catch (e) {
      assert.ok(e instanceof WireError, `expected a WireError, got ${(e as Error)?.stack ?? String(e)}`);
      return 'error';
    }
  }

  it('truncated input throws WireError', () => {
    assert.throws(() => decodeModel(good.subarray(0, good.length - 1)), WireError);
    assert.throws(() => decodeModel(good.subarray(0, good.length >> 1)), WireError);
    assert.throws(() => decodeModel(Uint8Array.of(0x08)), WireError, 'tag without its varint');
    assert.throws(() => decodeModel(Uint8Array.of(0x3a, 0x80)), WireError, 'truncated length');
    // Any prefix either is a valid (shorter) message or throws a WireError.
    let errors = 0;
    for (let n = 0; n < good.length; n++) if (decodesOrWireError(good.subarray(0, n)) === 'error') errors++;
    assert.ok(errors > good.length * 0.9);
  });

  it('random bytes and flipped bytes throw WireError or decode, never crash', () => {
    const next = rng(42);
    for (let k = 0; k < 300; k++) {
      const len = 1 + Math.floor(next() * 200);
      decodesOrWireError(Uint8Array.from({ length: len }, () => Math.floor(next() * 256)));
    }
    for (let k = 0; k < 300; k++) {
      const bytes = plain(good);
      for (let j = 0; j < 4; j++) bytes[Math.floor(next() * bytes.length)] = Math.floor(next() * 256);
      decodesOrWireError(bytes);
    }
  });

  it('invalid wire types throw WireError', () => {
    for (const wire of [3, 4, 6, 7]) {
      assert.throws(() => decodeModel(concat(good, varint(99 * 8 + wire), [0])), WireError, `wire type ${wire}`);
      assert.throws(() => decodeModel(concat(varint(7 * 8 + wire), [0])), WireError, `graph with wire type ${wire}`);
    }
    assert.throws(() => decodeModel(Uint8Array.of(0x00, 0x00)), WireError, 'field number 0');
    assert.throws(() => decodeModel(concat([0x08], new Array(11).fill(0xff))), WireError, 'varint longer than 10 bytes');
    // A length that overruns its parent message.
    assert.throws(() => decodeModel(lenField(7, lenField(1, [0x0a, 50]))), WireError);
  });

  it('nesting deeper than the limit throws WireError', () => {
    // TypeProto.sequence_type (4) → Sequence.elem_type (1) → TypeProto …: two levels per step.
    const nested = (steps: number): Uint8Array => {
      let b: Uint8Array = new Uint8Array(0);
      for (let i = 0; i < steps; i++) b = lenField(4, lenField(1, b));
      return b;
    };
    assert.doesNotThrow(() => decode('onnx.TypeProto', nested(30)));
    assert.throws(() => decode('onnx.TypeProto', nested(40)), (e) => e instanceof WireError && /nested deeper than 64/.test(e.message));
    assert.throws(() => decode('onnx.TypeProto', nested(5_000)), WireError, 'very deep input: no stack overflow');
    assert.throws(() => decode('onnx.ModelProto', good, { maxDepth: 5 }), WireError);
    assert.doesNotThrow(() => decode('onnx.ModelProto', good, { maxDepth: 6 }), "input → type → tensor_type → shape → dim is depth 6");
  });
});

describe('names are bytes', () => {
  /** A NodeProto whose name field holds `name` as it is, whatever the bytes. */
  const nodeWithName = (name: number[]): Uint8Array => concat(lenField(3, name), lenField(4, [0x52, 0x65, 0x6c, 0x75]));
  const rebuilt = (n: NodeProto): Uint8Array => plain(encode('onnx.NodeProto', { ...n }, { reuseSource: false }));

  for (const [what, bytes] of [
    ['invalid UTF-8 (a lone continuation byte, a truncated sequence, 0xFF)', [0x61, 0x80, 0x62, 0xe2, 0x82, 0x63, 0xff]],
    ['an overlong encoding and an encoded surrogate', [0xc0, 0xaf, 0xed, 0xa0, 0x80]],
    ['a leading byte order mark', [0xef, 0xbb, 0xbf, 0x78]],
    ['a real U+FFFD and control characters', [0xef, 0xbf, 0xbd, 0x1b, 0x5b, 0x33, 0x31, 0x6d, 0x0a]],
    ['four-byte UTF-8 (an emoji)', [0x78, 0xf0, 0x9f, 0x98, 0x80]],
  ] as const) {
    it(`${what}: decoded and re-encoded from the string, byte for byte`, () => {
      const src = nodeWithName([...bytes]);
      // From a Uint8Array and from a Buffer (a file's bytes: strings are decoded without a view).
      for (const input of [src, Buffer.from(src)]) {
        const n = decode<NodeProto>('onnx.NodeProto', input);
        assert.deepEqual(rebuilt(n), src);
      }
    });
  }

  it('names that differ only in invalid bytes stay different (U+FFFD would merge them)', () => {
    const a = decode<NodeProto>('onnx.NodeProto', nodeWithName([0x70, 0xfe]));
    const b = decode<NodeProto>('onnx.NodeProto', nodeWithName([0x70, 0xff]));
    assert.notEqual(a.name, b.name);
    // A name built from a decoded one (a rewrite's `${name}_1`) keeps the original bytes.
    const derived = plain(encode('onnx.NodeProto', { ...a, name: `${a.name!}_1` }, { reuseSource: false }));
    assert.deepEqual(derived, nodeWithName([0x70, 0xfe, 0x5f, 0x31]));
  });
});
