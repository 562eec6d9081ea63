// The verification engine against real onnxruntime (no mocks): tiny models built in code.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RuntimeError, UsageError } from '../src/errors.js';
import { encode } from '../src/onnx/codec.js';
import { readModel } from '../src/onnx/model-io.js';
import { DataType, type AttributeProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from '../src/onnx/schema.js';
import { makeTensor } from '../src/onnx/tensor.js';
import {
  compareModels,
  compareTensors,
  comparisonFailures,
  DEFAULT_TOLERANCES,
  HALF_TOLERANCES,
  makeSeededInputs,
  parseInputShapes,
  probeValues,
  resolveInputs,
  seededData,
} from '../src/verify/index.js';

// --- tiny model builders ---------------------------------------------------------------------------

type Dim = number | string | null;

function vi(name: string, elemType?: number, dims?: readonly Dim[]): ValueInfoProto {
  if (elemType === undefined) return { name, metadata_props: [] };
  const shape = dims === undefined ? {} : {
    shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : d === null ? {} : { dim_param: d })) },
  };
  return { name, type: { tensor_type: { elem_type: elemType, ...shape } }, metadata_props: [] };
}

function intAttr(name: string, i: number): AttributeProto {
  return {
    name, type: 2, i, floats: new Float32Array(0), ints: [], strings: [], tensors: [], graphs: [], sparse_tensors: [], type_protos: [],
  };
}

function node(op: string, input: string[], output: string[], attribute: AttributeProto[] = [], domain?: string): NodeProto {
  return { op_type: op, input, output, attribute, metadata_props: [], device_configurations: [], ...(domain === undefined ? {} : { domain }) };
}

function model(nodes: NodeProto[], inputs: ValueInfoProto[], outputs: ValueInfoProto[], initializer: TensorProto[] = []): ModelProto {
  return {
    ir_version: 8,
    opset_import: [{ domain: '', version: 13 }],
    metadata_props: [], training_info: [], functions: [], configuration: [],
    graph: {
      name: 'g', node: nodes, initializer, sparse_initializer: [], input: inputs, output: outputs,
      value_info: [], quantization_annotation: [], metadata_props: [],
    },
  };
}

const W = [0.1, -0.2, 0.3, 0.4, 0.5, -0.6, 0.7, 0.8, -0.9, 1.0, 1.1, -1.2]; // 4×3
const B = [0.01, 0.02, 0.03];

interface LinearOpts {
  w?: number[];
  b?: number[];
  batch?: Dim;
  outName?: string;
  /** Unsqueeze the output to [N, 3, 1]. */
  unsqueeze?: boolean;
  /** Cast the output to double. */
  castDouble?: boolean;
  inputName?: string;
}

/** y = x·W + b, x: [batch, 4] float. W is also listed as a graph input (an initializer: not fed). */
function linear(o: LinearOpts = {}): ModelProto {
  const x = o.inputName ?? 'x';
  const out = o.outName ?? 'y';
  const nodes = [node('MatMul', [x, 'W'], ['m']), node('Add', ['m', 'B'], ['y0'])];
  const init = [makeTensor('W', DataType.FLOAT, [4, 3], o.w ?? W), makeTensor('B', DataType.FLOAT, [3], o.b ?? B)];
  let last = 'y0';
  if (o.unsqueeze) {
    init.push(makeTensor('axes', DataType.INT64, [1], [2]));
    nodes.push(node('Unsqueeze', [last, 'axes'], ['y1']));
    last = 'y1';
  }
  if (o.castDouble) {
    nodes.push(node('Cast', [last, ], ['y2'], [intAttr('to', DataType.DOUBLE)]));
    last = 'y2';
  }
  nodes.push(node('Identity', [last], [out]));
  const batch = o.batch === undefined ? 'N' : o.batch;
  return model(nodes, [vi(x, DataType.FLOAT, [batch, 4]), vi('W', DataType.FLOAT, [4, 3])], [vi(out, o.castDouble ? DataType.DOUBLE : DataType.FLOAT)], init);
}

let dir: string;
let n = 0;
function save(m: ModelProto, name = `m${n++}.onnx`): string {
  const p = join(dir, name);
  writeFileSync(p, encode('onnx.ModelProto', m));
  return p;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'gapify-verify-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

// --- --input-shape parsing ---------------------------------------------------------------------------

describe('parseInputShapes', () => {
  test('named and unnamed specs', () => {
    const s = parseInputShapes(['data:1,3,224,224', 'mask:1, 10']);
    assert.deepEqual([...s.byName], [['data', [1, 3, 224, 224]], ['mask', [1, 10]]]);
    assert.equal(s.unnamed, undefined);
    assert.deepEqual(parseInputShapes(['1,3,299,299']).unnamed, [1, 3, 299, 299]);
    assert.equal(parseInputShapes([]).byName.size, 0);
  });

  test("names containing ':' split on the last ':'", () => {
    const s = parseInputShapes(['input:0:1,224,224,3', 'a:b:c:7']);
    assert.deepEqual(s.byName.get('input:0'), [1, 224, 224, 3]);
    assert.deepEqual(s.byName.get('a:b:c'), [7]);
  });

  test('bad syntax is a one-line UsageError', () => {
    for (const bad of [['x:1,3,a,224'], ['x:'], [':1,3'], ['x'], ['x:1,,3'], ['x:1,0,3'], ['x:-1,3'], ['1x3x224x224'], ['input:0'],
      ['x:1', 'x:2'], ['1,2', '3,4'], ['1,2', 'x:3,4'], ['x:1.5']]) {
      assert.throws(() => parseInputShapes(bad), (e: unknown) => {
        assert.ok(e instanceof UsageError, `${bad.join(' ')}: ${String(e)}`);
        assert.equal(e.exitCode, 2);
        assert.ok(!e.message.includes('\n'));
        return true;
      });
    }
  });
});

// --- input resolution ----------------------------------------------------------------------------------

describe('resolveInputs', () => {
  test('symbolic batch defaults to 1 and is noted; initializer inputs are not fed', () => {
    const inputs = resolveInputs(linear(), undefined, { label: 'lin.onnx' });
    assert.equal(inputs.length, 1);
    const x = inputs[0]!;
    assert.equal(x.name, 'x');
    assert.equal(x.dtype, 'float32');
    assert.deepEqual(x.shape, [1, 4]);
    assert.deepEqual(x.sources, ['default', 'model']);
    assert.deepEqual(x.declared, ['N', 4]);
    assert.equal(x.note, 'x: batch N=1 (default) → 1×4');
  });

  test('--input-shape overrides the symbolic dim', () => {
    const [x] = resolveInputs(linear(), parseInputShapes(['x:2,4']));
    assert.deepEqual(x!.shape, [2, 4]);
    assert.deepEqual(x!.sources, ['user', 'model']);
    assert.equal(x!.note, undefined);
    const [u] = resolveInputs(linear(), parseInputShapes(['5,4']));
    assert.deepEqual(u!.shape, [5, 4]);
  });

  test('rank-4 image inputs: NCHW and NHWC defaults', () => {
    const m = model([node('Identity', ['img'], ['o'])], [vi('img', DataType.FLOAT, ['batch', null, 'h', 'w'])], [vi('o', DataType.FLOAT)]);
    const [img] = resolveInputs(m);
    assert.deepEqual(img!.shape, [1, 3, 224, 224]);
    assert.deepEqual(img!.sources, ['default', 'default', 'default', 'default']);
    assert.match(img!.note!, /^img: batch=1 \(default\), channels=3 \(default\), height h=224 \(default\), width w=224 \(default\) → 1×3×224×224$/);
    const nhwc = model([node('Identity', ['img'], ['o'])], [vi('img', DataType.FLOAT, ['N', null, null, 3])], [vi('o', DataType.FLOAT)]);
    assert.deepEqual(resolveInputs(nhwc)[0]!.shape, [1, 224, 224, 3]);
    const fixedC = model([node('Identity', ['img'], ['o'])], [vi('img', DataType.FLOAT, [null, 1, null, null])], [vi('o', DataType.FLOAT)]);
    assert.deepEqual(resolveInputs(fixedC)[0]!.shape, [1, 1, 224, 224]);
    assert.deepEqual(resolveInputs(fixedC, parseInputShapes(['img:4,1,32,48']))[0]!.shape, [4, 1, 32, 48]);
  });

  test('specs that do not fit the model are UsageErrors', () => {
    const two = model([node('Add', ['a', 'b'], ['o'])], [vi('a', DataType.FLOAT, [2]), vi('b', DataType.FLOAT, [2])], [vi('o', DataType.FLOAT)]);
    const cases: [ModelProto, string[], RegExp][] = [
      [linear(), ['nope:1,4'], /'nope', which is not an input of m\.onnx \(inputs: 'x'\)/],
      [linear(), ['W:4,3'], /'W', which is not an input/],
      [linear(), ['x:1,4,1'], /rank 3, but m\.onnx declares 'x' with rank 2/],
      [linear(), ['x:1,5'], /dim 1 is 5, but m\.onnx fixes it at 4/],
      [two, ['2'], /has 2 inputs \('a', 'b'\), so the spec must name one/],
      [model([node('Identity', ['u'], ['o'])], [vi('u', DataType.FLOAT)], [vi('o', DataType.FLOAT)]), [], /no declared rank/],
    ];
    for (const [m, spec, re] of cases) {
      assert.throws(() => resolveInputs(m, parseInputShapes(spec), { label: 'm.onnx' }), (e: unknown) => e instanceof UsageError && re.test(e.message), spec.join(' '));
    }
  });

  test('inputs gapify cannot feed are RuntimeErrors', () => {
    const bf = model([node('Identity', ['x'], ['o'])], [vi('x', DataType.BFLOAT16, [1])], [vi('o', DataType.BFLOAT16)]);
    assert.throws(() => resolveInputs(bf), (e: unknown) => e instanceof RuntimeError && /bfloat16/.test(e.message));
  });
});

// --- seeded inputs --------------------------------------------------------------------------------------

describe('seeded inputs', () => {
  const x = { name: 'x', dtype: 'float32' as const, shape: [2, 8] };

  test('same seed → same data, different seed → different data', () => {
    assert.deepEqual(seededData(x, 7), seededData(x, 7));
    assert.notDeepEqual(seededData(x, 7), seededData(x, 8));
    assert.notDeepEqual(seededData(x, 7), seededData({ ...x, name: 'y' }, 7));
    const v = seededData(x, 7) as Float32Array;
    assert.equal(v.length, 16);
    for (const e of v) assert.ok(e >= -1 && e < 1);
  });

  test('dtypes: float16, float64, int64, int32, bool, uint8', async () => {
    const inputs = resolveInputs(model(
      [],
      [
        vi('h', DataType.FLOAT16, [3]), vi('d', DataType.DOUBLE, [3]), vi('i64', DataType.INT64, [50]),
        vi('i32', DataType.INT32, [50]), vi('b', DataType.BOOL, [50]), vi('u8', DataType.UINT8, [50]),
      ],
      [],
    ));
    const feeds = await makeSeededInputs(inputs, 3);
    assert.equal(feeds.h!.type, 'float16');
    assert.ok(feeds.h!.data instanceof Uint16Array);
    assert.ok(feeds.d!.data instanceof Float64Array);
    const i64 = feeds.i64!.data as BigInt64Array;
    assert.ok(i64 instanceof BigInt64Array);
    for (const v of i64) assert.ok(v >= 0n && v < 8n);
    for (const v of feeds.i32!.data as Int32Array) assert.ok(v >= 0 && v < 8);
    assert.equal(feeds.b!.type, 'bool');
    for (const v of feeds.b!.data as Uint8Array) assert.ok(v === 0 || v === 1);
    assert.ok(feeds.u8!.data instanceof Uint8Array);
    const again = await makeSeededInputs(inputs, 3);
    assert.deepEqual(again.i64!.data, feeds.i64!.data);
  });
});

// --- comparing models ------------------------------------------------------------------------------------

describe('compareModels', () => {
  test('identical models compare equal, error 0', async () => {
    const p = save(linear());
    const c = await compareModels({ path: p }, { path: save(linear()) });
    assert.ok(c.ok, comparisonFailures(c).join('; '));
    assert.equal(c.outputs.length, 1);
    const y = c.outputs[0]!;
    assert.equal(y.name, 'y');
    assert.equal(y.maxAbsError, 0);
    assert.equal(y.maxRelError, 0);
    assert.deepEqual(y.shapeA, [1, 3]);
    assert.deepEqual(c.notes, ['x: batch N=1 (default) → 1×4']);
    assert.deepEqual({ atol: c.tolerances.atol, rtol: c.tolerances.rtol }, DEFAULT_TOLERANCES);
    assert.equal(c.tolerances.source, 'default');
    assert.deepEqual(comparisonFailures(c), []);
  });

  test('bytes sources and in-memory protos work too', async () => {
    const m = linear();
    const bytes = encode('onnx.ModelProto', m);
    const c = await compareModels({ bytes, label: 'mem-a', model: m }, { bytes, label: 'mem-b', model: m });
    assert.ok(c.ok);
    assert.equal(c.a, 'mem-a');
  });

  test('a bias 1e-2 off fails with max abs error 1e-2', async () => {
    const c = await compareModels({ path: save(linear()) }, { path: save(linear({ b: [B[0]!, B[1]! + 1e-2, B[2]!] })) });
    assert.equal(c.ok, false);
    const y = c.outputs[0]!;
    assert.equal(y.ok, false);
    assert.ok(Math.abs(y.maxAbsError! - 1e-2) < 1e-6, String(y.maxAbsError));
    assert.equal(y.mismatched, 1);
    assert.match(comparisonFailures(c)[0]!, /^output 'y': 1 of 3 elements differ, max abs error 0\.01, max rel error .* \(atol 0\.0001, rtol 0\.001\)$/);
  });

  test('a weight 1e-2 off fails with max abs error 1e-2·|x|, and loose tolerances accept it', async () => {
    const w = [...W];
    w[0] = w[0]! + 1e-2; // W[0][0]: y[0] moves by 1e-2 · x[0]
    const a = save(linear());
    const b = save(linear({ w }));
    const c = await compareModels({ path: a }, { path: b }, { seed: 42 });
    const x0 = (seededData({ name: 'x', dtype: 'float32', shape: [1, 4] }, 42) as Float32Array)[0]!;
    const y = c.outputs[0]!;
    assert.ok(Math.abs(y.maxAbsError! - 1e-2 * Math.abs(x0)) < 1e-6, `${y.maxAbsError} vs ${1e-2 * Math.abs(x0)}`);
    assert.ok(Math.abs(x0) > 0.1); // seed 42's x[0] is 0.186: the error is well past atol
    assert.equal(c.ok, false);
    const loose = await compareModels({ path: a }, { path: b }, { seed: 42, atol: 2e-2 });
    assert.ok(loose.ok);
    assert.equal(loose.tolerances.source, 'user');
    assert.equal(loose.tolerances.rtol, DEFAULT_TOLERANCES.rtol);
  });

  test('output shape mismatch', async () => {
    const c = await compareModels({ path: save(linear()) }, { path: save(linear({ unsqueeze: true })) });
    assert.equal(c.ok, false);
    const y = c.outputs[0]!;
    assert.deepEqual([y.shapeA, y.shapeB], [[1, 3], [1, 3, 1]]);
    assert.equal(y.maxAbsError, null);
    assert.equal(y.reason, 'shape 1×3 vs 1×3×1');
  });

  test('output dtype mismatch', async () => {
    const c = await compareModels({ path: save(linear()) }, { path: save(linear({ castDouble: true })) });
    assert.equal(c.ok, false);
    const y = c.outputs[0]!;
    assert.deepEqual([y.dtypeA, y.dtypeB], ['float32', 'float64']);
    assert.equal(y.reason, 'dtype float32 vs float64');
  });

  test('missing and extra outputs (matched by name)', async () => {
    const c = await compareModels({ path: save(linear()) }, { path: save(linear({ outName: 'z' })) });
    assert.equal(c.ok, false);
    assert.deepEqual(c.missing, ['y']);
    assert.deepEqual(c.extra, ['z']);
    assert.deepEqual(c.outputs, []);
    assert.equal(comparisonFailures(c).length, 2);
  });

  test('outputs in a different order still match by name', async () => {
    const mk = (order: string[]): ModelProto => model(
      [node('Relu', ['x'], ['r']), node('Neg', ['x'], ['n'])],
      [vi('x', DataType.FLOAT, [2, 2])],
      order.map((o) => vi(o, DataType.FLOAT, [2, 2])),
    );
    const c = await compareModels({ path: save(mk(['r', 'n'])) }, { path: save(mk(['n', 'r'])) });
    assert.ok(c.ok);
    assert.deepEqual(c.outputs.map((o) => o.name), ['r', 'n']);
  });

  test('--input-shape overrides the default batch for both runs', async () => {
    const c = await compareModels({ path: save(linear()) }, { path: save(linear()) }, { inputShapes: parseInputShapes(['x:3,4']) });
    assert.ok(c.ok);
    assert.deepEqual(c.inputs[0]!.shape, [3, 4]);
    assert.deepEqual(c.notes, []);
    assert.deepEqual(c.outputs[0]!.shapeA, [3, 3]);
  });

  test('different inputs are reported, B is not run', async () => {
    const c = await compareModels({ path: save(linear()) }, { path: save(linear({ inputName: 'data' })) });
    assert.equal(c.ok, false);
    assert.deepEqual(c.inputMismatches, ["input 'x' of A is not an input of B", "input 'data' of B is not an input of A"]);
    const fixed = await compareModels({ path: save(linear()) }, { path: save(linear({ batch: 2 })) });
    assert.match(fixed.inputMismatches[0]!, /B fixes dim 0 at 2, but it is fed as 1/);
  });

  test('float16 outputs get the looser default tolerances', async () => {
    const half = (bias: number): ModelProto => model(
      [node('Add', ['x', 'c'], ['y'])],
      [vi('x', DataType.FLOAT16, ['N', 8])],
      [vi('y', DataType.FLOAT16)],
      [makeTensor('c', DataType.FLOAT16, [1], [bias])],
    );
    const c = await compareModels({ path: save(half(0.5)) }, { path: save(half(0.5 + 2 ** -9)) });
    assert.deepEqual({ atol: c.tolerances.atol, rtol: c.tolerances.rtol }, HALF_TOLERANCES);
    assert.equal(c.tolerances.source, 'half-default');
    assert.equal(c.outputs[0]!.dtypeA, 'float16');
    assert.ok(c.outputs[0]!.maxAbsError! > 0 && c.outputs[0]!.maxAbsError! < 5e-3, String(c.outputs[0]!.maxAbsError));
    assert.ok(c.ok);
    const strict = await compareModels({ path: save(half(0.5)) }, { path: save(half(0.5 + 2 ** -9)) }, { atol: 1e-4, rtol: 1e-3 });
    assert.equal(strict.ok, false);
  });

  test('an ORT failure is a one-line RuntimeError naming the model', async () => {
    const bad = linear();
    const p = save(model([...bad.graph!.node.slice(0, -1), node('NoSuchOp', ['y0'], ['y'])], bad.graph!.input, bad.graph!.output, bad.graph!.initializer), 'bad.onnx');
    await assert.rejects(compareModels({ path: save(linear()) }, { path: p }), (e: unknown) => {
      assert.ok(e instanceof RuntimeError, String(e));
      assert.ok(e.message.startsWith(`onnxruntime could not load ${p}: `), e.message);
      assert.match(e.message, /NoSuchOp/);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
  });

  test('a run failure is a RuntimeError too', async () => {
    // Reshape to a shape the data can't take: loads fine, fails when run.
    const m = model(
      [node('Reshape', ['x', 's'], ['y'])],
      [vi('x', DataType.FLOAT, [1, 4])],
      [vi('y', DataType.FLOAT)],
      [makeTensor('s', DataType.INT64, [1], [5])],
    );
    const p = save(m, 'reshape.onnx');
    await assert.rejects(compareModels({ path: p }, { path: p }), (e: unknown) => e instanceof RuntimeError && e.message.startsWith(`onnxruntime failed to run ${p}: `));
  });
});

describe('compareTensors', () => {
  test('NaN in the same places is equal; on one side it is not', () => {
    const t = (v: number[]) => ({ type: 'float32', dims: [v.length], data: Float32Array.from(v) });
    const same = compareTensors('o', t([1, NaN, Infinity]), t([1, NaN, Infinity]), DEFAULT_TOLERANCES);
    assert.ok(same.ok);
    assert.equal(same.maxAbsError, 0);
    const one = compareTensors('o', t([1, NaN, 2]), t([1, 0, 2]), DEFAULT_TOLERANCES);
    assert.equal(one.ok, false);
    assert.equal(one.nanMismatch, true);
    assert.equal(one.maxAbsError, 0);
  });

  test('allclose semantics and relative error against the output scale', () => {
    const t = (v: number[]) => ({ type: 'float64', dims: [v.length], data: Float64Array.from(v) });
    const c = compareTensors('o', t([100, 0.5]), t([100.05, 0.5]), DEFAULT_TOLERANCES);
    assert.ok(c.ok); // 0.05 <= 1e-4 + 1e-3 · 100.05
    assert.ok(Math.abs(c.maxRelError! - 0.05 / 100) < 1e-12);
  });

  test('integers compare exactly', () => {
    const i = (v: bigint[]) => ({ type: 'int64', dims: [v.length], data: BigInt64Array.from(v) });
    assert.ok(compareTensors('o', i([1n, 2n]), i([1n, 2n]), DEFAULT_TOLERANCES).ok);
    const c = compareTensors('o', i([1000n, 2n]), i([1001n, 2n]), DEFAULT_TOLERANCES);
    assert.equal(c.ok, false);
    assert.equal(c.maxAbsError, 1);
  });
});

// --- probing -------------------------------------------------------------------------------------------------

describe('probeValues', () => {
  test('returns concrete dims and dtypes of intermediate values', async () => {
    const m = linear();
    const g = m.graph!;
    const withShape = model([...g.node, node('Shape', ['m'], ['s'])], g.input, g.output, g.initializer);
    const file = readModel(save(withShape));
    const dims = await probeValues(file, withShape, ['m', 's', 'y'], { inputShapes: parseInputShapes(['x:2,4']) });
    const meta = (name: string): object => ({ dims: dims.get(name)?.dims, dtype: dims.get(name)?.dtype });
    assert.deepEqual(meta('m'), { dims: [2, 3], dtype: 'float32' });
    assert.deepEqual(meta('s'), { dims: [2], dtype: 'int64' });
    assert.deepEqual(meta('y'), { dims: [2, 3], dtype: 'float32' });
    assert.deepEqual([...(dims.get('s')!.data as BigInt64Array)], [2n, 3n]);
    await assert.rejects(probeValues(file, withShape, ['nope']), RuntimeError);
  });

  test('a model with external data is probed from a temp file beside it, then cleaned up', async () => {
    const sub = mkdtempSync(join(dir, 'ext-'));
    const w = makeTensor('W', DataType.FLOAT, [4, 3], W);
    writeFileSync(join(sub, 'w.bin'), w.raw_data!);
    const { raw_data: _raw, ...rest } = w;
    const extW: TensorProto = {
      ...rest,
      data_location: 1,
      external_data: [{ key: 'location', value: 'w.bin' }, { key: 'offset', value: '0' }, { key: 'length', value: String(w.raw_data!.length) }],
    } as TensorProto;
    const g = linear().graph!;
    const m = model(g.node, g.input, g.output, [extW, ...g.initializer.slice(1)]);
    const p = join(sub, 'ext.onnx');
    writeFileSync(p, encode('onnx.ModelProto', m));
    const dims = await probeValues(readModel(p), m, ['m']);
    assert.deepEqual(dims.get('m')!.dims, [1, 3]);
    assert.deepEqual(readdirSync(sub).sort(), ['ext.onnx', 'w.bin']);
  });
});

// --- a real exported model, when available ----------------------------------------------------------------

const squeezenet = fileURLToPath(new URL('../../fixtures/squeezenet1_0.onnx', import.meta.url));

test('squeezenet1_0 compared with itself', { skip: !existsSync(squeezenet) && 'fixtures/squeezenet1_0.onnx not present' }, async () => {
  const c = await compareModels({ path: squeezenet }, { path: squeezenet });
  assert.ok(c.ok, comparisonFailures(c).join('; '));
  assert.deepEqual(c.inputs[0]!.shape, [1, 3, 224, 224]);
  for (const o of c.outputs) assert.equal(o.maxAbsError, 0);
  const file = readModel(squeezenet);
  const { model } = file;
  const gap = model.graph!.node.find((nd) => nd.op_type === 'GlobalAveragePool')!;
  const probed = await probeValues(file, model, [gap.input[0]!, gap.output[0]!]);
  assert.equal(probed.get(gap.output[0]!)!.dims.length, 4);
  assert.deepEqual(probed.get(gap.output[0]!)!.dims.slice(2), [1, 1]);
});
