// Freeing size-carrying constants (src/size/unpin.ts, analysis.ts): Reshape targets that hold the
// trained map size or batch are computed at run time; what changes meaning with the size is named
// and refused. Models are built here, at the trained size, with real onnxruntime; a model built the
// same way at another size is what the exporter would have traced there — the test's own reference,
// independent of the one gapify builds.
//
// Every model: input [B,3,2h,2w] ─ Conv 3×3 s2 (3→8) ─ Relu ─ x [B,8,h,w] ─ <body> ─ Conv 3×3 pad 1
// (8→8) ─ Relu ─ GlobalAveragePool ─ Flatten ─ Gemm(8→5) ─ logits [B,5], trained at h = w = 16. The
// Conv after the body makes the scores depend on where each value went.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { gapify as gapifyLib } from '../src/gapify.js';
import { lintModel } from '../src/lint/index.js';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, type DimSpec } from '../src/onnx/builder.js';
import { readModel } from '../src/onnx/model-io.js';
import { DataType, type ModelProto } from '../src/onnx/schema.js';
import { readInts } from '../src/onnx/tensor.js';
import { alignReshape, evalDims, reshaped } from '../src/size/unpin.js';
import { Net, Rng } from './support/net.js';
import { opCounts, saveModel, tempDir } from './support/models.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const tmp = tempDir('gapify-unpin-');
after(() => tmp.cleanup());

/** Batch and map size at the body: what a traced constant holds. */
interface At {
  b: number;
  h: number;
  w: number;
}
const TRAINED: At = { b: 1, h: 16, w: 16 };
type Body = (net: Net, x: string, at: At) => string;

/** The model traced at `at` (see the top of the file); `batch`: the input's declared batch (default: at.b). */
function build(body: Body, at: At, opts: { batch?: DimSpec; opset?: number; head?: 'gap' | 'flatten' } = {}): ModelProto {
  const net = new Net(DataType.FLOAT, new Rng(11));
  let x = net.conv('stem', 'input', 3, 8, 3, 2, 1);
  x = net.op('Relu', '/stem/Relu', [x]);
  x = body(net, x, at);
  x = net.conv('head', x, 8, 8, 3, 1, 1);
  x = net.op('Relu', '/head/Relu', [x]);
  // 'flatten': a spatial tail (VGG's), whose weight fits the trained map only.
  const spatial = opts.head === 'flatten';
  if (!spatial) x = net.op('GlobalAveragePool', '/gap/GlobalAveragePool', [x]);
  x = net.op('Flatten', '/Flatten', [x], { axis: 1 });
  const features = spatial ? 8 * at.h * at.w : 8;
  net.weight('fc.weight', [5, features], net.normals(5 * features, spatial ? 0.03 : 0.5));
  net.weight('fc.bias', [5], net.uniforms(5, 0.1));
  net.op('Gemm', '/fc/Gemm', [x, 'fc.weight', 'fc.bias'], { transB: 1 }, 'logits');
  const graph = makeGraph(
    net.nodes, 'unpin',
    [makeValueInfo('input', DataType.FLOAT, [opts.batch ?? at.b, 3, 2 * at.h, 2 * at.w])],
    [makeValueInfo('logits', DataType.FLOAT, [at.b, 5])],
    net.initializers,
  );
  return makeModel(graph, { opset: opts.opset ?? 13 });
}

let count = 0;
const save = (model: ModelProto): string => saveModel(tmp.dir, `m${count++}.onnx`, model);

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const SESSION = { graphOptimizationLevel: 'disabled', executionProviders: ['cpu'], logSeverityLevel: 4 } as const;

async function logits(model: string | Uint8Array, at: At): Promise<ort.Tensor> {
  const s = typeof model === 'string' ? await ort.InferenceSession.create(model, SESSION) : await ort.InferenceSession.create(model, SESSION);
  try {
    const shape = [at.b, 3, 2 * at.h, 2 * at.w];
    const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * 0.37) * 0.9);
    return (await s.run({ input: new ort.Tensor('float32', data, shape) })).logits!;
  } finally {
    await s.release();
  }
}

/** The written model at `at` against the model traced at `at`: shapes equal, values within 1e-5. */
async function matchesTraced(written: string, body: Body, at: At): Promise<void> {
  const want = await logits(saveModel(tmp.dir, `traced${count++}.onnx`, build(body, at)), at);
  const got = await logits(written, at);
  assert.deepEqual(got.dims, want.dims);
  const a = got.data as Float32Array;
  const b = want.data as Float32Array;
  let err = 0;
  for (let i = 0; i < a.length; i++) err = Math.max(err, Math.abs(a[i]! - b[i]!));
  assert.ok(err < 1e-5, `max abs error ${err} at ${JSON.stringify(at)}`);
}

/** The written Reshape named `name`: its target's producer op, and the target's values when constant. */
function targetOf(path: string, name: string): { op: string | undefined; values?: number[] } {
  const g = readModel(path).model.graph!;
  const r = g.node.find((n) => n.name === name)!;
  const p = g.node.find((n) => n.output.includes(r.input[1]!));
  return { op: p?.op_type, ...(p?.op_type === 'Constant' ? { values: readInts(p.attribute[0]!.t!) } : {}) };
}

// --- bodies ------------------------------------------------------------------------------------------

/** ShuffleNet's channel shuffle, traced: view(b, 2, 4, h, w) → transpose(1, 2) → view(b, -1, h, w). */
const shuffle: Body = (net, x, { b, h, w }) => {
  const r = net.op('Reshape', '/shuffle/Reshape', [x, net.constInt64('/shuffle/Constant', [5], [b, 2, 4, h, w])]);
  const t = net.op('Transpose', '/shuffle/Transpose', [r], { perm: [0, 2, 1, 3, 4] });
  return net.op('Reshape', '/shuffle/Reshape_1', [t, net.constInt64('/shuffle/Constant_1', [4], [b, -1, h, w])]);
};

/** Softmax over the positions, traced: view(b, c, h*w) → softmax(2) → view(b, c, h, w) (a split: stays a pin). */
const spatialSoftmax: Body = (net, x, { b, h, w }) => {
  const r = net.op('Reshape', '/attn/Reshape', [x, net.constInt64('/attn/Constant', [3], [b, 8, h * w])]);
  const s = net.op('Softmax', '/attn/Softmax', [r], { axis: 2 });
  return net.op('Reshape', '/attn/Reshape_1', [s, net.constInt64('/attn/Constant_1', [4], [b, 8, h, w])]);
};

/** A softmax over everything, traced at batch 1: view(1, -1) → softmax(1) → view(1, c, h, w). */
const globalSoftmax: Body = (net, x, { b, h, w }) => {
  const r = net.op('Reshape', '/all/Reshape', [x, net.constInt64('/all/Constant', [2], [b, -1])]);
  const s = net.op('Softmax', '/all/Softmax', [r], { axis: 1 });
  return net.op('Reshape', '/all/Reshape_1', [s, net.constInt64('/all/Constant_1', [4], [b, 8, h, w])]);
};

// --- the alignment, alone ------------------------------------------------------------------------------

describe('alignReshape: output dims as products of the input dims that follow the size', () => {
  const names = (x: number[], moves: boolean[], labels: string[]): string[] => x.map((d, k) => (moves[k] ? labels[k]! : String(d)));

  test('channel shuffle: constants stay, H and W are copied', () => {
    const x = [1, 48, 28, 28];
    const moves = [false, false, true, true];
    const dims = alignReshape(x, [1, 2, 24, 28, 28], moves, names(x, moves, ['', '', 'H', 'W']));
    assert.ok(Array.isArray(dims));
    assert.deepEqual(evalDims(dims, [1, 48, 44, 36]), [1, 2, 24, 44, 36]);
  });

  test('view(b, c, h*w): a product; the batch follows with --dynamic-batch', () => {
    const x = [1, 64, 7, 7];
    const dims = alignReshape(x, [1, 64, 49], [true, false, true, true], ['N', '64', 'H', 'W']);
    assert.ok(Array.isArray(dims));
    assert.deepEqual(evalDims(dims, [3, 64, 11, 9]), [3, 64, 99]);
  });

  test('view(1, -1) on a batch that follows: the 1 is the batch', () => {
    const dims = alignReshape([1, 8, 1, 1], [1, 8], [true, false, false, false], ['N', '8', '1', '1']);
    assert.ok(Array.isArray(dims));
    assert.deepEqual(evalDims(dims, [5, 8, 1, 1]), [5, 8]);
  });

  test('a split of a dim that follows the size is not guessed', () => {
    const r = alignReshape([1, 8, 256], [1, 8, 16, 16], [false, false, true], ['1', '8', 'H·W']);
    assert.ok(!Array.isArray(r));
    assert.match(r.why, /splits H·W \(256 here\) into 16 × 16: which part follows the size can't be told/);
    const pixels = alignReshape([1, 8, 28, 28], [1, 8, 14, 2, 14, 2], [false, false, true, true], ['1', '8', 'H', 'W']);
    assert.ok(!Array.isArray(pixels));
  });

  test('a batch folded into another dim has no place of its own', () => {
    const r = alignReshape([1, 48, 7, 7], [48, 49], [true, false, false, false], ['N', '48', '7', '7']);
    assert.ok(!Array.isArray(r));
    assert.match(r.why, /has no 1 for its input's dim N \(1 here\), which follows the size/);
  });

  test('reshaped: Reshape semantics with 0 and -1', () => {
    assert.deepEqual(reshaped([2, 3, 4], [0, -1], false), [2, 12]);
    assert.deepEqual(reshaped([2, 3, 4], [0, 5], false), undefined);
    assert.deepEqual(reshaped([2, 3, 4], [0, 0, -1], true), undefined, 'allowzero: the 0s are zeros, and -1 can\'t be found');
  });
});

// --- frees, end to end ------------------------------------------------------------------------------------

describe('--dynamic-size frees constant Reshape targets', () => {
  test('channel shuffle: both Reshapes computed from the shape; matches the model traced at 24×24 and 20×28', async () => {
    const input = save(build(shuffle, TRAINED));
    const out = join(tmp.dir, 'shuffle.dyn.onnx');
    const r = cli(input, '-o', out, '--dynamic-size');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /dynamic size: input 'input' \[1, 3, height, width\] \(trained at 32×32, stride 2\)/);
    assert.match(r.stdout, /freed 2 Reshape targets/);
    assert.match(r.stdout, /Reshape '\/shuffle\/Reshape' \[1, 2, 4, 16, 16\] → \[1, 2, 4, H, W\]/);
    assert.match(r.stdout, /Reshape '\/shuffle\/Reshape_1' \[1, -1, 16, 16\] → \[1, 8, H, W\]/);
    assert.match(r.stdout, /at 48×48: ok — vs the original, its Reshape targets set for that size: logits \[1, 5\] max abs \S+, the freed Reshapes' outputs max abs 0/);
    assert.match(r.stdout, /at 40×56: ok/);
    assert.match(r.stdout, /wrote /);
    // H and W move to other positions: gathered from Shape, not a single -1.
    assert.equal(targetOf(out, '/shuffle/Reshape').op, 'Concat');
    assert.equal(opCounts(out).Shape, 2);
    for (const at of [TRAINED, { b: 1, h: 24, w: 24 }, { b: 1, h: 20, w: 28 }, { b: 1, h: 5, w: 33 }]) await matchesTraced(out, shuffle, at);
  });

  test('channel shuffle with --dynamic-batch: the 1 becomes the batch; checked at batch 3 too', async () => {
    const input = save(build(shuffle, TRAINED));
    const out = join(tmp.dir, 'shuffle.batch.onnx');
    const r = cli(input, '-o', out, '--dynamic-size', '--dynamic-batch');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /dynamic size and batch: input 'input' \[batch, 3, height, width\]/);
    assert.match(r.stdout, /\[1, 2, 4, 16, 16\] → \[N, 2, 4, H, W\]/);
    assert.match(r.stdout, /at 40×56 batch 3: ok — vs the original/);
    const g = readModel(out).model.graph!;
    assert.deepEqual(g.output[0]!.type!.tensor_type!.shape!.dim.map((d) => d.dim_param ?? Number(d.dim_value)), ['batch', 5]);
    for (const at of [{ b: 3, h: 20, w: 28 }, { b: 2, h: 16, w: 16 }]) await matchesTraced(out, shuffle, at);
  });

  test('--dynamic-batch alone: batch free, size fixed', async () => {
    const input = save(build(shuffle, TRAINED));
    const out = join(tmp.dir, 'shuffle.batchonly.onnx');
    const r = cli(input, '-o', out, '--dynamic-batch');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /dynamic batch: input 'input' \[batch, 3, 32, 32\]/);
    assert.match(r.stdout, /\[1, 2, 4, 16, 16\] → \[N, 2, 4, 16, 16\]/);
    assert.match(r.stdout, /at 32×32 batch 3: ok/);
    // Only the batch moves, and it stays in place: a constant target with a 0.
    assert.deepEqual(targetOf(out, '/shuffle/Reshape'), { op: 'Constant', values: [0, 2, 4, 16, 16] });
    await matchesTraced(out, shuffle, { b: 3, h: 16, w: 16 });
  });

  test('view(b, c, h*w) is freed as a single -1; the view back to (h, w) splits h*w and stays a pin', async () => {
    //   x ─ Reshape [1, 8, 256] ─ Softmax(2) ─ ReduceSum … (no split): freed
    const pooled: Body = (net, x, { b, h, w }) => {
      const r = net.op('Reshape', '/attn/Reshape', [x, net.constInt64('/attn/Constant', [3], [b, 8, h * w])]);
      const s = net.op('Softmax', '/attn/Softmax', [r], { axis: 2 });
      const m = net.op('Mul', '/attn/Mul', [r, s]);
      const u = net.op('Unsqueeze', '/attn/Unsqueeze', [m, net.constInt64('/attn/axes', [1], [3])]);
      return net.op('Mul', '/attn/Mul_1', [x, net.op('ReduceSum', '/attn/ReduceSum', [u, net.constInt64('/attn/raxes', [1], [2])], { keepdims: 1 })]);
    };
    const out = join(tmp.dir, 'attn.dyn.onnx');
    const r = cli(save(build(pooled, TRAINED)), '-o', out, '--dynamic-size');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Reshape '\/attn\/Reshape' \[1, 8, 256\] → \[1, 8, H·W\]/);
    assert.deepEqual(targetOf(out, '/attn/Reshape'), { op: 'Constant', values: [1, 8, -1] });
    assert.equal(opCounts(out).Shape ?? 0, 0);
    for (const at of [{ b: 1, h: 24, w: 24 }, { b: 1, h: 20, w: 28 }]) await matchesTraced(out, pooled, at);

    const split = join(tmp.dir, 'split.dyn.onnx');
    const s = cli(save(build(spatialSoftmax, TRAINED)), '-o', split, '--dynamic-size');
    assert.equal(s.code, 1, s.stderr);
    assert.match(s.stderr, /^gapify: --dynamic-size: the input size is pinned: Reshape '\/attn\/Reshape_1' \(fixed target \[1, 8, 16, 16\]\) splits H·W \(256 here\) into 16 × 16: which part follows the size can't be told — nothing written/);
    assert.equal(s.stderr.trim().split('\n').length, 1);
    assert.ok(!existsSync(split));
  });

  test('view(1, -1) with --dynamic-batch: the 1 is the batch, copied in place (0)', async () => {
    const out = join(tmp.dir, 'all.batch.onnx');
    const r = cli(save(build(globalSoftmax, TRAINED)), '-o', out, '--dynamic-batch');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Reshape '\/all\/Reshape' \[1, -1\] → \[N, 2048\]/);
    assert.match(r.stdout, /Reshape '\/all\/Reshape_1' \[1, 8, 16, 16\] → \[N, 8, 16, 16\]/);
    assert.deepEqual(targetOf(out, '/all/Reshape'), { op: 'Constant', values: [0, 2048] });
    assert.deepEqual(targetOf(out, '/all/Reshape_1'), { op: 'Constant', values: [0, 8, 16, 16] });
    await matchesTraced(out, globalSoftmax, { b: 3, h: 16, w: 16 });
  });

  test('a spatial tail the original only runs at 32×32: the reference at other sizes is the rewritten model', async () => {
    const input = save(build(shuffle, TRAINED, { head: 'flatten' }));
    const r = cli(input, '-o', join(tmp.dir, 'spatial.dyn.onnx'), '--dynamic-size');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /tail 1: spatial tail/);
    assert.match(r.stdout, /at 48×48: ok — vs the rewritten model, its Reshape targets set for that size \(the original does not run there\): logits \[1, 5\] max abs \S+, the freed Reshapes' outputs max abs 0/);
  });

  test('a symbolic batch in the model is kept free: a size-only Reshape target is freed without fixing it', async () => {
    const input = save(build(shuffle, TRAINED, { batch: 'N' }));
    const out = join(tmp.dir, 'shuffle.n.onnx');
    const report = await gapifyLib(input, { output: out, dynamicSize: true });
    assert.equal(report.written, true);
    assert.equal(report.size?.batchWasSymbolic, true);
    assert.deepEqual(report.size?.freed.map((f) => f.words.join(',')), ['N,2,4,H,W', 'N,8,H,W']);
    assert.ok(report.size?.check.status === 'passed' && report.size.check.checks.some((c) => c.batch === 3));
    assert.deepEqual(readModel(out).model.graph!.input[0]!.type!.tensor_type!.shape!.dim.map((d) => d.dim_param ?? Number(d.dim_value)), ['N', 3, 'height', 'width']);
    await matchesTraced(out, shuffle, { b: 3, h: 20, w: 28 });
  });

  test('lint marks the freed Reshapes fixedByRewrite, the split one not', () => {
    const freed = lintModel(save(build(shuffle, TRAINED))).findings.find((f) => f.ruleId === 'fixed-input-size');
    assert.ok(freed?.ruleId === 'fixed-input-size');
    assert.deepEqual(freed.properties.pins.map((p) => [p.kind, p.node, p.fixedByRewrite]), [['input', null, true], ['reshape', '/shuffle/Reshape', true], ['reshape', '/shuffle/Reshape_1', true]]);
    assert.equal(freed.properties.fixedByRewrite, true);
    assert.match(freed.message, /gapify --dynamic-size removes every pin/);
    const split = lintModel(save(build(spatialSoftmax, TRAINED))).findings.find((f) => f.ruleId === 'fixed-input-size');
    assert.ok(split?.ruleId === 'fixed-input-size');
    assert.deepEqual(split.properties.pins.map((p) => [p.node, p.fixedByRewrite]), [[null, true], ['/attn/Reshape', true], ['/attn/Reshape_1', false]]);
    assert.equal(split.properties.fixedByRewrite, false);
  });
});

// --- what can't be freed ---------------------------------------------------------------------------------

/** A [1, 8, 1, 1] bias to expand or tile. */
const bias = (net: Net): string => net.weight('bias', [1, 8, 1, 1], net.uniforms(8, 0.5));

const CANNOT: { name: string; body: Body; node: string; kind: string; why: RegExp }[] = [
  {
    // CBAM's channel attention with a max pool as big as the map (an average one becomes a
    // GlobalAveragePool: the pool-only rule).
    name: 'a MaxPool inside the backbone with a kernel as big as the map',
    body: (net, x, { h, w }) => {
      const p = net.op('MaxPool', '/attn/MaxPool', [x], { kernel_shape: [h, w] });
      const s = net.op('Sigmoid', '/attn/Sigmoid', [net.conv('attn', p, 8, 8, 1, 1, 0)]);
      return net.op('Mul', '/attn/Mul', [x, s]);
    },
    node: '/attn/MaxPool', kind: 'fixed-pool', why: /has a fixed 16×16 kernel that covers its whole 16×16 map: global at this size only/,
  },
  {
    name: 'a Resize to constant sizes',
    body: (net, x, { h, w }) => net.op('Resize', '/up/Resize', [x, '', '', net.constInt64('/up/sizes', [4], [1, 8, 2 * h, 2 * w])], { mode: 'nearest' }),
    node: '/up/Resize', kind: 'size-constant', why: /resizes to the constant sizes \[1, 8, 32, 32\]: its output stays 32×32 on H, W whatever the input size/,
  },
  {
    name: 'a Slice with a constant range of the map',
    body: (net, x, { h, w }) => net.op('Slice', '/crop/Slice', [x, net.constInt64('/crop/starts', [2], [1, 1]), net.constInt64('/crop/ends', [2], [h - 1, w - 1]), net.constInt64('/crop/axes', [2], [2, 3])]),
    node: '/crop/Slice', kind: 'size-constant', why: /keeps a constant range of H, W \(14×14 of 16×16 here\): at other sizes it still cuts out 14×14/,
  },
  {
    name: 'a Pad to the size of a constant',
    body: (net, x, { h, w }) => {
      const p = net.op('Pad', '/pad/Pad', [x, net.constInt64('/pad/pads', [8], [0, 0, 0, 0, 0, 0, 4, 4])]);
      return net.op('Add', '/pos/Add', [p, net.weight('pos', [1, 8, h + 4, w + 4], net.normals(8 * (h + 4) * (w + 4), 0.1))]);
    },
    node: '/pad/Pad', kind: 'size-constant', why: /has the constant \[0, 0, 0, 0, 0, 0, 4, 4\], fitting this size only: Add '\/pos\/Add' fails at other sizes/,
  },
  {
    name: 'an Expand to the map size',
    body: (net, x, { h, w }) => net.op('Add', '/add/Add', [x, net.op('Expand', '/bias/Expand', [bias(net), net.constInt64('/bias/shape', [4], [1, 8, h, w])])]),
    node: '/bias/Expand', kind: 'size-constant', why: /has the constant \[1, 8, 16, 16\], fitting this size only: Add '\/add\/Add' fails at other sizes/,
  },
  {
    name: 'a ConstantOfShape the size of the map',
    body: (net, x, { h, w }) => {
      const ones = net.op('ConstantOfShape', '/mask/ConstantOfShape', [net.constInt64('/mask/shape', [4], [1, 1, h, w])], { value: makeTensor('', DataType.FLOAT, [1], [0.5]) });
      return net.op('Mul', '/mask/Mul', [x, ones]);
    },
    node: '/mask/ConstantOfShape', kind: 'size-constant', why: /has the constant \[1, 1, 16, 16\], fitting this size only: Mul '\/mask\/Mul' fails at other sizes/,
  },
  {
    name: 'a Tile to the map size',
    body: (net, x, { h, w }) => net.op('Add', '/add/Add', [x, net.op('Tile', '/bias/Tile', [bias(net), net.constInt64('/bias/repeats', [4], [1, 1, h, w])])]),
    node: '/bias/Tile', kind: 'size-constant', why: /has the constant \[1, 1, 16, 16\], fitting this size only: Add '\/add\/Add' fails at other sizes/,
  },
];

describe('what changes meaning with the size is named: exit 1, nothing written', () => {
  for (const c of CANNOT) {
    test(c.name, () => {
      const input = save(build(c.body, TRAINED));
      const out = join(tmp.dir, `cannot${count++}.onnx`);
      const r = cli(input, '-o', out, '--dynamic-size');
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      assert.ok(!r.stderr.includes('…'), 'the whole reason fits the error line (cut at 300 characters)');
      assert.match(r.stderr, new RegExp(`^gapify: --dynamic-size: the input size is pinned: [A-Za-z]+ '${c.node.replace(/\//g, '\\/')}'`));
      assert.match(r.stderr, c.why);
      assert.match(r.stderr, / — nothing written \(--allow-fixed-size writes it at its fixed size\)$/m);
      assert.match(r.stdout, new RegExp(`pin \\(shape inference\\): [A-Za-z]+ '${c.node.replace(/\//g, '\\/')}'`));
      assert.match(r.stdout, /nothing written: the input size is pinned/);
      assert.ok(!existsSync(out));
      const lint = lintModel(input).findings.find((f) => f.ruleId === 'fixed-input-size');
      assert.ok(lint?.ruleId === 'fixed-input-size');
      assert.deepEqual(lint.properties.pins.filter((p) => !p.fixedByRewrite).map((p) => [p.kind, p.node]), [[c.kind, c.node]]);
    });
  }

  test('an output whose dims follow the size (a feature map, without --cam) is named: exit 1', () => {
    const model = build(shuffle, TRAINED);
    const g = model.graph!;
    const exposed: ModelProto = { ...model, graph: { ...g, output: [...g.output, makeValueInfo('/shuffle/Reshape_1_output_0', DataType.FLOAT, [1, 8, 16, 16])] } };
    const out = join(tmp.dir, 'features.onnx');
    const r = cli(save(exposed), '-o', out, '--dynamic-size');
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /at 48×48: FAILED/);
    assert.match(r.stdout, /output '\/shuffle\/Reshape_1_output_0' is \[1, 8, 24, 24\] here but \[1, 8, 16, 16\] at 32×32/);
    assert.ok(!existsSync(out));
  });

  test('--allow-fixed-size writes the rewritten model with its trained size', () => {
    const out = join(tmp.dir, 'fixed.onnx');
    const r = cli(save(build(CANNOT[1]!.body, TRAINED)), '-o', out, '--dynamic-size', '--allow-fixed-size');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /dynamic size: NO — the input size stays fixed at 32×32/);
    assert.match(r.stdout, /pin \(shape inference\): Resize '\/up\/Resize'/);
    assert.deepEqual(readModel(out).model.graph!.input[0]!.type!.tensor_type!.shape!.dim.map((d) => Number(d.dim_value)), [1, 3, 32, 32]);
  });
});

describe('sizes a hostile user picks', () => {
  test('--also-size repeated: 1×1, 10000×3 and an odd size, each against its reference', () => {
    const r = cli(save(build(shuffle, TRAINED)), '-o', join(tmp.dir, 'odd.onnx'), '--dynamic-size', '--also-size', '1x1', '--also-size', '10000x3', '--also-size', '37x21');
    assert.equal(r.code, 0, r.stderr);
    for (const s of ['1×1', '10000×3', '37×21']) assert.match(r.stdout, new RegExp(`at ${s}: ok — vs the original`));
  });

  test('a size the network can\'t take is a usage error that says why', () => {
    const pooled: Body = (net, x) => net.op('MaxPool', '/pool/MaxPool', [x], { kernel_shape: [4, 4], strides: [4, 4] });
    const r = cli(save(build(pooled, TRAINED)), '-o', join(tmp.dir, 'small.onnx'), '--dynamic-size', '--also-size', '2x2');
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^gapify: --also-size 2×2: the model does not run at that size: MaxPool '\/pool\/MaxPool' fails there \(window 4 is larger than the padded input 1\)/);
  });

  test('an NHWC input (tf2onnx): height and width are axes 1 and 2', () => {
    //   input_nhwc [1,32,32,3] ─ Transpose to NCHW ─ the shuffle model
    const model = build(shuffle, TRAINED);
    const g = model.graph!;
    const nhwc: ModelProto = {
      ...model,
      graph: {
        ...g,
        input: [makeValueInfo('input_nhwc', DataType.FLOAT, [1, 32, 32, 3])],
        node: [makeNode('Transpose', ['input_nhwc'], ['input'], { perm: [0, 3, 1, 2] }, '/to_nchw'), ...g.node],
      },
    };
    const r = cli(save(nhwc), '-o', join(tmp.dir, 'nhwc.onnx'), '--dynamic-size');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /input 'input_nhwc' \[1, height, width, 3\]/);
    assert.match(r.stdout, /at 40×56: ok — vs the original/);
  });
});
