import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GraphView } from '../src/graph/graph.js';
import { inferShapes, type Dim } from '../src/graph/shapes.js';
import { readModel } from '../src/onnx/model-io.js';
import { AttributeType, DataType, type AttributeProto, type NodeProto, type TensorProto, type ValueInfoProto } from '../src/onnx/schema.js';
import { emptyTensor, makeTensor } from '../src/onnx/tensor.js';

// --- building graphs in code ------------------------------------------------------------------------

type AttrValue = number | number[] | string | TensorProto | { floats: number[] };

function attribute(name: string, v: AttrValue): AttributeProto {
  const a: AttributeProto = {
    name, floats: new Float32Array(0), ints: [], strings: [], tensors: [], graphs: [], sparse_tensors: [], type_protos: [],
  };
  if (typeof v === 'number') return Number.isInteger(v) ? { ...a, type: AttributeType.INT, i: v } : { ...a, type: AttributeType.FLOAT, f: v };
  if (typeof v === 'string') return { ...a, type: AttributeType.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { ...a, type: AttributeType.INTS, ints: v };
  if ('floats' in v) return { ...a, type: AttributeType.FLOATS, floats: Float32Array.from(v.floats) };
  return { ...a, type: AttributeType.TENSOR, t: v };
}

function node(op: string, input: string[], output: string[], attrs: Record<string, AttrValue> = {}, domain?: string): NodeProto {
  return {
    op_type: op, name: `${op}_${output[0]}`, input, output, domain,
    attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    metadata_props: [], device_configurations: [],
  };
}

function vi(name: string, dims?: Dim[], elemType: number = DataType.FLOAT): ValueInfoProto {
  const shape = dims && { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : d === undefined ? {} : { dim_param: d })) };
  return { name, type: { tensor_type: { elem_type: elemType, shape } }, metadata_props: [] };
}

const i64 = (name: string, values: number[], dims: number[] = [values.length]): TensorProto => makeTensor(name, DataType.INT64, dims, values);
const f32 = (name: string, dims: number[]): TensorProto => makeTensor(name, DataType.FLOAT, dims, new Float32Array(dims.reduce((a, b) => a * b, 1)));

interface Spec {
  inputs: ValueInfoProto[];
  nodes: NodeProto[];
  inits?: TensorProto[];
  valueInfo?: ValueInfoProto[];
  opset?: number;
}

function graphOf(s: Spec): GraphView {
  return new GraphView(
    {
      node: s.nodes, initializer: s.inits ?? [], sparse_initializer: [], input: s.inputs, output: [],
      value_info: s.valueInfo ?? [], quantization_annotation: [], metadata_props: [],
    },
    s.opset ?? 13,
  );
}

/** Infers shapes of a one-off graph; `y` is the usual output name. */
function infer(s: Spec, inputShapes?: ReadonlyMap<string, readonly Dim[]>) {
  return inferShapes(graphOf(s), inputShapes);
}

const X = (dims: Dim[]): ValueInfoProto => vi('x', dims);

// --- real exports --------------------------------------------------------------------------------------

const MODELS = resolve(dirname(fileURLToPath(import.meta.url)), '../../fixtures');

function real(t: { skip(m?: string): void }, file: string, inputShapes?: ReadonlyMap<string, readonly Dim[]>) {
  const path = join(MODELS, file);
  if (!existsSync(path)) {
    t.skip(`${path} is not there`);
    return undefined;
  }
  const m = readModel(path);
  const g = new GraphView(m.model.graph!, m.opset);
  const r = inferShapes(g, inputShapes);
  const of = (op: string) => g.nodes.filter((n) => n.op_type === op);
  return { g, r, of, inShape: (n: NodeProto) => r.shapes.get(n.input[0]!), outShape: (n: NodeProto) => r.shapes.get(n.output[0]!) };
}

test('mobilenet_v3_small: symbolic batch flows to the GlobalAveragePool and the logits', (t) => {
  const m = real(t, 'mobilenet_v3_small.onnx');
  if (!m) return;
  assert.deepEqual(m.r.unresolved, []);
  const gap = m.of('GlobalAveragePool').at(-1)!;
  assert.deepEqual(m.inShape(gap), ['batch', 576, 7, 7]);
  assert.deepEqual(m.outShape(m.of('Flatten')[0]!), ['batch', 576]);
  assert.deepEqual(m.r.shapes.get(m.g.outputs[0]!.name!), ['batch', 1000]);
  // Every node output is inferred (the export declares no value_info to fall back on).
  for (const n of m.g.nodes) for (const o of n.output) assert.ok(m.r.shapes.has(o), o);
});

test('mobilenet_v3_small: inputShapes overrides the declared batch', (t) => {
  const m = real(t, 'mobilenet_v3_small.onnx', new Map([['input', [1, 3, 224, 224]]]));
  if (!m) return;
  if (m.g.inputs[0]!.name !== 'input') return t.skip('input is not called "input"');
  assert.deepEqual(m.inShape(m.of('GlobalAveragePool').at(-1)!), [1, 576, 7, 7]);
});

test('shufflenet_v2_x0_5: channel shuffles resolve, ReduceMean sees [1, 1024, 7, 7]', (t) => {
  const m = real(t, 'shufflenet_v2_x0_5.onnx');
  if (!m) return;
  assert.deepEqual(m.r.unresolved, []);
  const rm = m.of('ReduceMean')[0]!;
  assert.deepEqual(m.inShape(rm), [1, 1024, 7, 7]);
  assert.deepEqual(m.outShape(rm), [1, 1024]);
  // Shape → Gather → arithmetic → Slice chains are tracked by value.
  assert.ok(m.of('Shape').every((n) => m.r.values.has(n.output[0]!)));
});

test('squeezenet1_0: ceil_mode pools give the 13×13 map', (t) => {
  const m = real(t, 'squeezenet1_0.onnx');
  if (!m) return;
  assert.deepEqual(m.r.unresolved, []);
  assert.deepEqual(m.inShape(m.of('GlobalAveragePool')[0]!), [1, 1000, 13, 13]);
  assert.deepEqual(m.outShape(m.of('Flatten')[0]!), [1, 1000]);
});

test('vgg_mini: AveragePool [1, 64, 7, 7] and Flatten [1, 3136]', (t) => {
  const m = real(t, 'vgg_mini.onnx');
  if (!m) return;
  assert.deepEqual(m.r.unresolved, []);
  assert.deepEqual(m.outShape(m.of('AveragePool')[0]!), [1, 64, 7, 7]);
  assert.deepEqual(m.outShape(m.of('Flatten')[0]!), [1, 3136]);
  assert.deepEqual(m.r.shapes.get(m.g.outputs[0]!.name!), [1, 10]);
});

// --- convolutions and pools ---------------------------------------------------------------------------

test('Conv: auto_pad SAME_UPPER / SAME_LOWER with stride 2 is ceil(in / stride)', () => {
  for (const autoPad of ['SAME_UPPER', 'SAME_LOWER']) {
    const r = infer({
      inputs: [X(['N', 3, 15, 16])], inits: [f32('w', [8, 3, 3, 3])],
      nodes: [node('Conv', ['x', 'w'], ['y'], { auto_pad: autoPad, strides: [2, 2] })],
    });
    assert.deepEqual(r.shapes.get('y'), ['N', 8, 8, 8]);
  }
});

test('Conv: pads, strides, dilations, VALID, groups, and the kernel from kernel_shape or the weight', () => {
  const conv = (x: Dim[], w: number[], attrs: Record<string, AttrValue>) =>
    infer({ inputs: [X(x)], inits: [f32('w', w)], nodes: [node('Conv', ['x', 'w'], ['y'], attrs)] });
  assert.deepEqual(conv([1, 3, 224, 224], [64, 3, 7, 7], { pads: [3, 3, 3, 3], strides: [2, 2] }).shapes.get('y'), [1, 64, 112, 112]);
  assert.deepEqual(conv([1, 8, 32, 32], [8, 1, 3, 3], { group: 8, pads: [2, 2, 2, 2], dilations: [2, 2] }).shapes.get('y'), [1, 8, 32, 32]);
  assert.deepEqual(conv([1, 3, 10, 11], [4, 3, 3, 2], { auto_pad: 'VALID', pads: [9, 9, 9, 9] }).shapes.get('y'), [1, 4, 8, 10]);
  assert.deepEqual(conv([1, 3, 10, 10], [4, 3, 3, 3], { kernel_shape: [3, 3], pads: [0, 1, 2, 0] }).shapes.get('y'), [1, 4, 10, 9]);
  // 1×1 conv keeps symbolic spatial dims; anything else can't size them.
  assert.deepEqual(conv(['N', 3, 'H', 'W'], [4, 3, 1, 1], {}).shapes.get('y'), ['N', 4, 'H', 'W']);
  assert.deepEqual(conv(['N', 3, 'H', 'W'], [4, 3, 3, 3], {}).shapes.get('y'), ['N', 4, undefined, undefined]);
});

test('ConvTranspose: stride 2 doubles with output_padding', () => {
  const r = infer({
    inputs: [X([1, 16, 7, 7])], inits: [f32('w', [16, 8, 3, 3])],
    nodes: [node('ConvTranspose', ['x', 'w'], ['y'], { strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] })],
  });
  assert.deepEqual(r.shapes.get('y'), [1, 8, 14, 14]);
});

test('pools: floor/ceil mode, windows starting in the end padding are dropped, global pools', () => {
  const pool = (op: string, x: Dim[], attrs: Record<string, AttrValue>) =>
    infer({ inputs: [X(x)], nodes: [node(op, ['x'], ['y'], attrs)] }).shapes.get('y');
  assert.deepEqual(pool('MaxPool', [1, 64, 112, 112], { kernel_shape: [3, 3], strides: [2, 2] }), [1, 64, 55, 55]);
  assert.deepEqual(pool('MaxPool', [1, 64, 112, 112], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }), [1, 64, 56, 56]);
  assert.deepEqual(pool('AveragePool', [1, 1, 4, 4], { kernel_shape: [2, 2], strides: [3, 3], pads: [1, 1, 1, 1], ceil_mode: 1 }), [1, 1, 2, 2]);
  assert.deepEqual(pool('AveragePool', [1, 1, 5, 5], { kernel_shape: [2, 2], strides: [2, 2], auto_pad: 'SAME_UPPER' }), [1, 1, 3, 3]);
  assert.deepEqual(pool('GlobalAveragePool', ['N', 512, 'H', 'W'], {}), ['N', 512, 1, 1]);
  assert.deepEqual(pool('GlobalMaxPool', [2, 512, 7], {}), [2, 512, 1]);
});

// --- shape arithmetic ------------------------------------------------------------------------------------

/** PyTorch's `x.view(x.size(0), -1)`: Shape → Gather(0) → Unsqueeze → Concat with [-1] → Reshape. */
function viewChain(opset: number, batch: Dim): Spec {
  const unsqueeze = opset >= 13 ? node('Unsqueeze', ['n', 'axes0'], ['n1']) : node('Unsqueeze', ['n'], ['n1'], { axes: [0] });
  return {
    opset,
    inputs: [X([batch, 64, 7, 7])],
    inits: [i64('zero', [0], []), i64('minus1', [-1]), ...(opset >= 13 ? [i64('axes0', [0])] : [])],
    nodes: [
      node('Shape', ['x'], ['s']),
      node('Gather', ['s', 'zero'], ['n'], { axis: 0 }),
      unsqueeze,
      node('Concat', ['n1', 'minus1'], ['target'], { axis: 0 }),
      node('Reshape', ['x', 'target'], ['y']),
    ],
  };
}

test('x.view(x.size(0), -1) with a symbolic batch gives [N, C*H*W]', () => {
  for (const opset of [11, 13]) {
    const r = infer(viewChain(opset, 'N'));
    assert.deepEqual(r.unresolved, []);
    assert.deepEqual(r.shapes.get('s'), [4]);
    assert.deepEqual(r.shapes.get('n'), []);
    assert.deepEqual(r.shapes.get('target'), [2]);
    assert.deepEqual(r.shapes.get('y'), ['N', 3136]);
    // Not fully concrete: not in `values`.
    assert.equal(r.values.has('s'), false);
    assert.equal(r.values.has('target'), false);
    assert.equal(r.elemTypes.get('s'), DataType.INT64);
  }
});

test('x.view(x.size(0), -1) with a concrete batch records the values', () => {
  const r = infer(viewChain(13, 'N'), new Map([['x', [2, 64, 7, 7]]]));
  assert.deepEqual(r.values.get('s'), [2, 64, 7, 7]);
  assert.deepEqual(r.values.get('n'), [2]);
  assert.deepEqual(r.values.get('target'), [2, -1]);
  assert.deepEqual(r.shapes.get('y'), [2, 3136]);
});

test('Reshape: 0 copies, -1 fills, a shape of unknown values still gives the rank', () => {
  const reshape = (x: Dim[], shape: number[]) =>
    infer({ inputs: [X(x)], inits: [i64('s', shape)], nodes: [node('Reshape', ['x', 's'], ['y'])] });
  assert.deepEqual(reshape(['N', 2, 96, 7, 7], [0, -1, 7, 7]).shapes.get('y'), ['N', 192, 7, 7]);
  assert.deepEqual(reshape([1, 192, 7, 7], [1, 2, 96, 7, 7]).shapes.get('y'), [1, 2, 96, 7, 7]);
  assert.deepEqual(reshape([1, 'C', 7, 7], [1, -1]).shapes.get('y'), [1, undefined]);
  const bad = reshape([1, 10], [3, -1]);
  assert.equal(bad.unresolved.length, 1);
  assert.equal(bad.shapes.has('y'), false);
  // A shape computed from a runtime input: values unknown, length 3.
  const r = infer({
    inputs: [X([1, 6, 4]), vi('s', [3], DataType.INT64)],
    nodes: [node('Reshape', ['x', 's'], ['y'])],
  });
  assert.deepEqual(r.shapes.get('y'), [undefined, undefined, undefined]);
  assert.deepEqual(r.unresolved, []);
});

test('Flatten keeps a symbolic batch', () => {
  const r = infer({ inputs: [X(['N', 512, 1, 1])], nodes: [node('Flatten', ['x'], ['y']), node('Flatten', ['x'], ['z'], { axis: 0 })] });
  assert.deepEqual(r.shapes.get('y'), ['N', 512]);
  assert.deepEqual(r.shapes.get('z'), [1, undefined]);
});

// --- other ops ----------------------------------------------------------------------------------------

test('broadcasting with symbolic dims; an impossible broadcast is unresolved', () => {
  const r = infer({
    inputs: [X(['N', 1, 4]), vi('b', [3, 1]), vi('c', [5])],
    nodes: [node('Add', ['x', 'b'], ['y']), node('Mul', ['y', 'c'], ['z']), node('Equal', ['x', 'b'], ['e'])],
  });
  assert.deepEqual(r.shapes.get('y'), ['N', 3, 4]);
  assert.equal(r.shapes.has('z'), false);
  assert.equal(r.elemTypes.get('e'), DataType.BOOL);
  assert.deepEqual(r.unresolved.map((u) => u.op), ['Mul']);
});

test('Gemm and MatMul', () => {
  const r = infer({
    inputs: [X(['N', 576]), vi('a3', [2, 'N', 5, 6]), vi('v', [6])],
    inits: [f32('w', [1000, 576]), f32('m', [6, 7])],
    nodes: [
      node('Gemm', ['x', 'w'], ['y'], { transB: 1 }),
      node('MatMul', ['a3', 'm'], ['mm']),
      node('MatMul', ['a3', 'v'], ['mv']),
      node('MatMul', ['v', 'm'], ['vm']),
    ],
  });
  assert.deepEqual(r.shapes.get('y'), ['N', 1000]);
  assert.deepEqual(r.shapes.get('mm'), [2, 'N', 5, 7]);
  assert.deepEqual(r.shapes.get('mv'), [2, 'N', 5]);
  assert.deepEqual(r.shapes.get('vm'), [7]);
});

test('Slice: attributes before opset 10, inputs after, negative steps', () => {
  const old = infer({ opset: 9, inputs: [X([1, 10, 8])], nodes: [node('Slice', ['x'], ['y'], { starts: [1, -3], ends: [1000, -1], axes: [1, 2] })] });
  assert.deepEqual(old.shapes.get('y'), [1, 9, 2]);
  const r = infer({
    inputs: [X(['N', 10, 8])],
    inits: [i64('st', [-1, 0]), i64('en', [-1000, Number.MAX_SAFE_INTEGER]), i64('ax', [1, 0]), i64('sp', [-2, 1])],
    nodes: [node('Slice', ['x', 'st', 'en', 'ax', 'sp'], ['y'])],
  });
  assert.deepEqual(r.shapes.get('y'), ['N', 5, 8]);
});

test('Split, Concat, Squeeze, Unsqueeze, Transpose', () => {
  const r = infer({
    inputs: [X(['N', 10, 1, 4])],
    inits: [i64('sp', [3, 7]), i64('ax', [2])],
    nodes: [
      node('Split', ['x', 'sp'], ['a', 'b'], { axis: 1 }),
      node('Split', ['x'], ['c', 'd'], { axis: 1 }),
      node('Concat', ['b', 'a', 'c'], ['cat'], { axis: -3 }),
      node('Squeeze', ['x', 'ax'], ['sq']),
      node('Unsqueeze', ['sq', 'ax'], ['un']),
      node('Transpose', ['x'], ['tr'], { perm: [0, 3, 1, 2] }),
    ],
  });
  assert.deepEqual(r.unresolved, []);
  assert.deepEqual(r.shapes.get('a'), ['N', 3, 1, 4]);
  assert.deepEqual(r.shapes.get('b'), ['N', 7, 1, 4]);
  assert.deepEqual(r.shapes.get('d'), ['N', 5, 1, 4]);
  assert.deepEqual(r.shapes.get('cat'), ['N', 15, 1, 4]);
  assert.deepEqual(r.shapes.get('sq'), ['N', 10, 4]);
  assert.deepEqual(r.shapes.get('un'), ['N', 10, 1, 4]);
  assert.deepEqual(r.shapes.get('tr'), ['N', 4, 10, 1]);
});

test('Reduce*: axes as attribute or input (by opset), keepdims, noop_with_empty_axes', () => {
  const x = [X([1, 1024, 7, 7])];
  const a = infer({ opset: 11, inputs: x, nodes: [node('ReduceMean', ['x'], ['y'], { axes: [2, 3], keepdims: 0 })] });
  assert.deepEqual(a.shapes.get('y'), [1, 1024]);
  const b = infer({ opset: 18, inputs: x, inits: [i64('ax', [-1, -2])], nodes: [node('ReduceMean', ['x', 'ax'], ['y'])] });
  assert.deepEqual(b.shapes.get('y'), [1, 1024, 1, 1]);
  const c = infer({ opset: 13, inputs: x, nodes: [node('ReduceSum', ['x'], ['y'], { noop_with_empty_axes: 1 }), node('ReduceMax', ['x'], ['z'], { keepdims: 0 })] });
  assert.deepEqual(c.shapes.get('y'), [1, 1024, 7, 7]);
  assert.deepEqual(c.shapes.get('z'), []);
});

test('Pad, Resize, Upsample, Expand, Tile, ConstantOfShape, TopK, ArgMax', () => {
  const r = infer({
    inputs: [X(['N', 3, 8, 8])],
    inits: [
      i64('pads', [0, 0, 1, 2, 0, 0, 1, 2]),
      makeTensor('scales', DataType.FLOAT, [4], [1, 1, 2, 0.5]),
      emptyTensor({ name: 'roi', data_type: DataType.FLOAT, dims: [0] }),
      i64('sizes', [1, 3, 5, 6]),
      i64('exp', [2, 1, 1, 1]),
      i64('reps', [1, 2, 1, 1]),
      i64('k', [5]),
    ],
    nodes: [
      node('Pad', ['x', 'pads'], ['pad']),
      node('Resize', ['x', 'roi', 'scales'], ['rs']),
      node('Resize', ['x', '', '', 'sizes'], ['rz']),
      node('Expand', ['x', 'exp'], ['ex']),
      node('Tile', ['x', 'reps'], ['ti']),
      node('Shape', ['x'], ['s'], { start: -2 }),
      node('ConstantOfShape', ['s'], ['cs']),
      node('TopK', ['x', 'k'], ['tv', 'ti2'], { axis: 1 }),
      node('ArgMax', ['x'], ['am'], { axis: 1, keepdims: 0 }),
    ],
  });
  assert.deepEqual(r.unresolved, []);
  assert.deepEqual(r.shapes.get('pad'), ['N', 3, 10, 12]);
  assert.deepEqual(r.shapes.get('rs'), ['N', 3, 16, 4]);
  assert.deepEqual(r.shapes.get('rz'), [1, 3, 5, 6]);
  assert.deepEqual(r.shapes.get('ex'), [2, 3, 8, 8]);
  assert.deepEqual(r.shapes.get('ti'), ['N', 6, 8, 8]);
  assert.deepEqual(r.values.get('s'), [8, 8]);
  assert.deepEqual(r.shapes.get('cs'), [8, 8]);
  assert.deepEqual(r.shapes.get('ti2'), ['N', 5, 8, 8]);
  assert.equal(r.elemTypes.get('ti2'), DataType.INT64);
  assert.deepEqual(r.shapes.get('am'), ['N', 8, 8]);

  const up = infer({ opset: 7, inputs: [X([1, 3, 8, 8])], nodes: [node('Upsample', ['x'], ['y'], { scales: { floats: [1, 1, 2, 2] } })] });
  assert.deepEqual(up.shapes.get('y'), [1, 3, 16, 16]);
});

test('Constant nodes and Cast feed shapes and values', () => {
  const r = infer({
    inputs: [X([2, 3, 4])],
    nodes: [
      node('Constant', [], ['c'], { value: i64('', [-1, 12]) }),
      node('Cast', ['c'], ['c32'], { to: DataType.INT32 }),
      node('Reshape', ['x', 'c32'], ['y']),
      node('Cast', ['x'], ['h'], { to: DataType.FLOAT16 }),
    ],
  });
  assert.deepEqual(r.values.get('c32'), [-1, 12]);
  assert.deepEqual(r.shapes.get('y'), [2, 12]);
  assert.equal(r.elemTypes.get('h'), DataType.FLOAT16);
  assert.equal(r.elemTypes.get('y'), DataType.FLOAT);
});

// --- odd models -----------------------------------------------------------------------------------------

test('an unknown op is unresolved, without throwing; what follows is unknown but not reported again', () => {
  const r = infer({
    inputs: [X([1, 8, 4, 4])],
    nodes: [
      node('FancyOp', ['x'], ['f']),
      node('Relu', ['f'], ['g']),
      node('Gelu', ['x'], ['ms'], {}, 'com.microsoft'),
      node('Einsum', ['x'], ['e'], { equation: 'ij->ji' }),
    ],
  });
  assert.deepEqual(r.unresolved.map((u) => [u.node?.output[0], u.op]), [['f', 'FancyOp'], ['ms', 'Gelu'], ['e', 'Einsum']]);
  assert.equal(r.shapes.has('f'), false);
  assert.equal(r.shapes.has('g'), false);
});

test('declared value_info fills in only what inference could not compute', () => {
  const r = infer({
    inputs: [X(['N', 8, 4, 4])],
    valueInfo: [vi('f', [1, 8, 4, 4]), vi('g', [1, 8, 4, 4])],
    nodes: [node('FancyOp', ['x'], ['f']), node('Relu', ['x'], ['g'])],
  });
  assert.deepEqual(r.shapes.get('f'), [1, 8, 4, 4]);
  assert.deepEqual(r.shapes.get('g'), ['N', 8, 4, 4]);
  assert.equal(r.unresolved.length, 1);
});

test('bad attributes, negative and huge dims, and broken graphs never throw', () => {
  const r = infer({
    inputs: [X([1, 3, -5, 2 ** 60])],
    inits: [f32('w', [4, 3, 3, 3])],
    nodes: [
      node('Conv', ['x', 'w'], ['y'], { pads: [1, 1, 1] }),
      node('Transpose', ['x'], ['t'], { perm: [0, 0, 1, 2] }),
      node('Concat', ['x', 'x'], ['c']),
      node('Relu', ['x'], ['r']),
    ],
  });
  assert.deepEqual(r.shapes.get('r'), [1, 3, undefined, undefined]);
  assert.deepEqual(r.unresolved.map((u) => u.op), ['Conv', 'Transpose', 'Concat']);
  // A value nobody produces: the order can't be computed, inference still walks the nodes.
  const broken = infer({ inputs: [X([1, 2])], nodes: [node('Add', ['x', 'ghost'], ['y']), node('Relu', ['x'], ['z'])] });
  assert.equal(broken.unresolved.length, 1);
  assert.deepEqual(broken.shapes.get('z'), [1, 2]);
  // op_type names that are Object.prototype members are just unknown ops.
  assert.equal(infer({ inputs: [X([1])], nodes: [node('constructor', ['x'], ['y']), node('__proto__', ['x'], ['z'])] }).unresolved.length, 2);
});
