// The classifier-tail rule end to end: each form is rewritten, verified through onnxruntime (graph
// optimizations off) and checked for op counts and names; each near-miss is refused with its code.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gapify, type GapifyReport } from '../src/gapify.js';
import { formatReport } from '../src/report.js';
import { attrInts } from '../src/graph/graph.js';
import { makeConstantNode, makeGraph, makeNode, makeTensor, makeValueInfo } from '../src/onnx/builder.js';
import { readModel } from '../src/onnx/model-io.js';
import { DataType, type GraphProto } from '../src/onnx/schema.js';
import { readFloats } from '../src/onnx/tensor.js';
import { compareModels } from '../src/verify/compare.js';
import { classifier, opCounts, producerOf, saveModel, tempDir } from './support/models.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));
const tmp = tempDir();
after(() => tmp.cleanup());

let counter = 0;
async function run(input: string, options: Parameters<typeof gapify>[1] = {}): Promise<{ report: GapifyReport; out: string }> {
  const out = join(tmp.dir, `out-${counter++}.onnx`);
  const report = await gapify(input, { output: out, ...options });
  return { report, out };
}

function assertVerifiedWithin(report: GapifyReport, rel: number): void {
  const v = report.verification;
  assert.equal(v.status, 'passed');
  if (v.status !== 'passed') return;
  for (const o of v.comparison.outputs) assert.ok((o.maxRelError ?? 1) <= rel, `${o.name}: rel ${o.maxRelError}`);
}

/** The rewritten global tail: Conv 1×1 → GlobalAveragePool → Flatten producing `output`. */
function assertConvFirstTail(out: string, output: string): void {
  const flatten = producerOf(out, output);
  assert.equal(flatten?.op_type, 'Flatten');
  const gap = producerOf(out, flatten!.input[0]!);
  assert.equal(gap?.op_type, 'GlobalAveragePool');
  const conv = producerOf(out, gap!.input[0]!);
  assert.equal(conv?.op_type, 'Conv');
  assert.deepEqual(attrInts(conv!, 'kernel_shape'), [1, 1]);
}

describe('generated fixtures: every core form is rewritten exactly', () => {
  for (const name of ['resnet_tail', 'reshape_const_tail', 'reshape_shape_tail', 'squeeze_tail', 'reducemean_tail', 'matmul_add_tail', 'gemm_alpha_beta_tail', 'softmax_tail', 'fp16_tail']) {
    test(name, async () => {
      const input = join(FIXTURES, `${name}.onnx`);
      const { report, out } = await run(input);
      assert.equal(report.written, true);
      assert.equal(report.rewritten.length, 1);
      assert.deepEqual(report.refused, []);
      assert.equal(report.rewritten[0]!.order, 'conv-first');
      const counts = opCounts(out);
      assert.equal(counts.Gemm ?? 0, 0);
      assert.equal(counts.MatMul ?? 0, 0);
      assert.equal(counts.Add ?? 0, 0);
      // Shape plumbing of the old tail is gone, backbone untouched.
      assert.equal(counts.Shape ?? 0, 0);
      assert.equal(counts.Conv, 3);
      assertConvFirstTail(out, 'logits');
      assertVerifiedWithin(report, name === 'fp16_tail' ? 1e-2 : 1e-5);
      // Output names, dtypes and declared shapes are the original's.
      const before = readModel(input).model.graph!;
      const after = readModel(out).model.graph!;
      assert.deepEqual(after.output, before.output);
      assert.deepEqual(after.input, before.input);
    });
  }

  test('fan-out: the pooled features stay a graph output', async () => {
    const { report, out } = await run(join(FIXTURES, 'fanout_tail.onnx'));
    assert.equal(report.written, true);
    const counts = opCounts(out);
    assert.equal(counts.Gemm ?? 0, 0);
    assert.equal(counts.GlobalAveragePool, 2, 'the original pool feeds `features`; the new one pools class maps');
    assert.equal(producerOf(out, 'features')?.op_type, 'Flatten');
    assertVerifiedWithin(report, 1e-5);
  });

  test('already a GAP head: reported, nothing written', async () => {
    const { report, out } = await run(join(FIXTURES, 'already_gap.onnx'));
    assert.equal(report.written, false);
    assert.equal(report.alreadyGap.length, 1);
    assert.match(report.nothingWritten ?? '', /already/);
    assert.equal(existsSync(out), false);
  });

  test('global max pool is refused: max-pool', async () => {
    const { report, out } = await run(join(FIXTURES, 'maxpool_tail.onnx'));
    assert.equal(report.written, false);
    assert.deepEqual(report.refused.map((r) => r.code), ['max-pool']);
    assert.equal(existsSync(out), false);
  });

  test('Gemm with transA=1 is refused: trans-a', async () => {
    const { report } = await run(join(FIXTURES, 'transA_tail.onnx'));
    assert.deepEqual(report.refused.map((r) => r.code), ['trans-a']);
  });

  test('order: pool-first and conv-first are both exact; MACs reflect the choice', async () => {
    const input = join(FIXTURES, 'resnet_tail.onnx');
    const pool = await run(input, { order: 'pool-first' });
    const conv = await run(input, { order: 'conv-first' });
    assertVerifiedWithin(pool.report, 1e-5);
    assertVerifiedWithin(conv.report, 1e-5);
    const p = pool.report.rewritten[0]!;
    const c = conv.report.rewritten[0]!;
    assert.equal(p.macsAfter, p.macsBefore);
    assert.equal(c.macsAfter, c.macsBefore! * 16 * 16, 'conv-first runs the head at every position of the 16×16 map');
    assert.equal(c.classMap !== undefined, true);
    assert.equal(p.classMap, undefined);
  });
});

describe('real PyTorch exports', () => {
  test('shufflenet_v2_x0_5: ReduceMean(keepdims 0) → Gemm becomes Conv → GAP → Flatten', async () => {
    const { report, out } = await run(join(FIXTURES, 'shufflenet_v2_x0_5.onnx'));
    assert.equal(report.written, true);
    assert.equal(opCounts(out).Gemm ?? 0, 0);
    assertConvFirstTail(out, 'logits');
    assertVerifiedWithin(report, 1e-5);
  });

  test('mobilenet_v3_small: the first Gemm moves before the pool, the second stays', async () => {
    const { report, out } = await run(join(FIXTURES, 'mobilenet_v3_small.onnx'));
    assert.equal(report.written, true);
    assert.equal(report.rewritten.length, 1);
    const change = report.rewritten[0]!;
    assert.equal(change.order, 'pool-first');
    assert.match(change.notes.join(' '), /classifier\.3\/Gemm' stays/);
    assert.equal(opCounts(out).Gemm, 1);
    assert.equal(producerOf(out, 'logits')?.op_type, 'Gemm');
    assert.equal(producerOf(out, '/classifier/classifier.0/Gemm_output_0')?.op_type, 'Flatten');
    assert.deepEqual(report.refused, [], 'squeeze-and-excitation pools are not classifier tails');
    assertVerifiedWithin(report, 1e-5);
  });

  test('squeezenet1_0: already a GAP head, nothing written', async () => {
    const { report, out } = await run(join(FIXTURES, 'squeezenet1_0.onnx'));
    assert.equal(report.written, false);
    assert.equal(report.alreadyGap[0]?.classes, 1000);
    assert.equal(existsSync(out), false);
  });

  test('vgg_mini: three Gemms become Conv 7×7, 1×1, 1×1 + GAP, exact at 224', async () => {
    const { report, out } = await run(join(FIXTURES, 'vgg_mini.onnx'));
    assert.equal(report.written, true);
    const change = report.rewritten[0]!;
    assert.equal(change.kind, 'spatial');
    assert.deepEqual(change.layers.map((l) => l.became), ['Conv 7×7', 'Conv 1×1', 'Conv 1×1']);
    assert.equal(opCounts(out).Gemm ?? 0, 0);
    assertVerifiedWithin(report, 1e-5);
    // With its input dims made symbolic the rewritten model runs at 320×320 (the original can't).
    const m = readModel(out).model;
    const input = m.graph!.input[0]!;
    const symbolic = { ...input, type: { tensor_type: { elem_type: 1, shape: { dim: [{ dim_value: 1 }, { dim_value: 3 }, { dim_param: 'h' }, { dim_param: 'w' }] } } } };
    const resized = saveModel(tmp.dir, 'vgg320.onnx', { ...m, graph: { ...m.graph!, input: [symbolic] } });
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(resized, { graphOptimizationLevel: 'disabled' });
    const result = await session.run({ input: new ort.Tensor('float32', new Float32Array(3 * 320 * 320).fill(0.5), [1, 3, 320, 320]) });
    assert.deepEqual(result.logits!.dims, [1, 10]);
    await session.release();
  });

  test('an untouched model keeps its bytes: the rewrite copies unchanged tensors verbatim', async () => {
    const input = join(FIXTURES, 'vgg_mini.onnx');
    const { out } = await run(input);
    const original = readModel(input).model.graph!;
    const rewritten = readModel(out).model.graph!;
    const conv = original.initializer.find((t) => t.name === 'features.0.weight')!;
    const copy = rewritten.initializer.find((t) => t.name === 'features.0.weight')!;
    assert.deepEqual(Buffer.from(copy.raw_data!), Buffer.from(conv.raw_data!));
    // The 7×7 conv weight is the Gemm weight's bytes under new dims.
    const gemmW = original.initializer.find((t) => t.name === 'classifier.0.weight')!;
    const convW = rewritten.initializer.find((t) => t.name === 'classifier.0.weight_conv')!;
    assert.deepEqual(convW.dims, [128, 64, 7, 7]);
    assert.ok(Buffer.from(convW.raw_data!).equals(Buffer.from(gemmW.raw_data!)));
  });
});

describe('forms built in code', () => {
  const K = 10;
  const C = 16;
  const gemm = (net: Parameters<Parameters<typeof classifier>[0]['tail']>[0], x: string, out = 'logits', attrs: Record<string, number | { f: number }> = { transB: 1 }): string => {
    const { w, b } = net.classifier();
    const fw = net.weight(`${out}.weight`, [K, C], w);
    const fb = net.weight(`${out}.bias`, [K], b);
    return net.op('Gemm', `/${out}/Gemm`, [x, fw, fb], attrs, out);
  };
  const gapFlatten = (net: Parameters<Parameters<typeof classifier>[0]['tail']>[0], x: string): string =>
    net.op('Flatten', '/Flatten', [net.op('GlobalAveragePool', '/pool/GlobalAveragePool', [x])], { axis: 1 });

  async function rewriteBuilt(name: string, model: ReturnType<typeof classifier>, options: Parameters<typeof gapify>[1] = {}) {
    return run(saveModel(tmp.dir, `${name}.onnx`, model), options);
  }

  test('BatchNormalization on the pooled vector is folded into the Conv', async () => {
    const model = classifier({
      tail(net, x) {
        const f = gapFlatten(net, x);
        const scale = net.weight('bn.weight', [C], net.uniforms(C, 2));
        const bias = net.weight('bn.bias', [C], net.uniforms(C, 1));
        const mean = net.weight('bn.mean', [C], net.uniforms(C, 1));
        const variance = net.weight('bn.var', [C], net.uniforms(C, 1).map((v) => Math.abs(v) + 0.5));
        const y = net.op('BatchNormalization', '/bn/BatchNormalization', [f, scale, bias, mean, variance], { epsilon: { f: 1e-3 } });
        gemm(net, y);
        return [['logits', ['N', K]]];
      },
    });
    const { report, out } = await rewriteBuilt('bn', model);
    assert.equal(report.written, true);
    assert.match(report.rewritten[0]!.notes.join(' '), /BatchNormalization folded/);
    assert.equal(opCounts(out).BatchNormalization ?? 0, 0);
    assertVerifiedWithin(report, 1e-5);
  });

  test('Dropout and Identity between pool and Gemm are absorbed', async () => {
    const model = classifier({
      tail(net, x) {
        const f = net.op('Identity', '/id/Identity', [net.op('Dropout', '/drop/Dropout', [gapFlatten(net, x)])]);
        gemm(net, f);
        return [['logits', ['N', K]]];
      },
    });
    const { report, out } = await rewriteBuilt('dropout', model);
    assertVerifiedWithin(report, 1e-5);
    assert.equal(opCounts(out).Dropout ?? 0, 0);
  });

  for (const [op, code] of [['Relu', 'not-linear-between'], ['Softmax', 'not-linear-between'], ['LayerNormalization', 'normalization-between']] as const) {
    test(`${op} between pool and Gemm is refused: ${code}, naming the op`, async () => {
      const model = classifier({
        opset: 17,
        tail(net, x) {
          const f = gapFlatten(net, x);
          const inputs = op === 'LayerNormalization' ? [f, net.weight('ln.weight', [C], net.uniforms(C, 1)), net.weight('ln.bias', [C], net.uniforms(C, 1))] : [f];
          gemm(net, net.op(op, `/mid/${op}`, inputs));
          return [['logits', ['N', K]]];
        },
      });
      const { report } = await rewriteBuilt(`refuse-${op}`, model);
      assert.equal(report.written, false);
      assert.equal(report.refused.length, 1);
      assert.equal(report.refused[0]!.code, code);
      assert.match(report.refused[0]!.reason, new RegExp(op));
    });
  }

  test("ConvNeXt's decomposed LayerNorm (ReduceMean/Sub/Pow/Sqrt/Div) is refused: normalization-between", async () => {
    const model = classifier({
      tail(net, x) {
        const f = gapFlatten(net, x);
        const mean = net.op('ReduceMean', '/ln/ReduceMean', [f], { axes: [-1], keepdims: 1 });
        const d = net.op('Sub', '/ln/Sub', [f, mean]);
        const two = net.weight('two', [], [2]);
        const v = net.op('ReduceMean', '/ln/ReduceMean_1', [net.op('Pow', '/ln/Pow', [d, two])], { axes: [-1], keepdims: 1 });
        const eps = net.weight('eps', [], [1e-6]);
        const y = net.op('Div', '/ln/Div', [d, net.op('Sqrt', '/ln/Sqrt', [net.op('Add', '/ln/Add', [v, eps])])]);
        gemm(net, y);
        return [['logits', ['N', K]]];
      },
    });
    const { report } = await rewriteBuilt('decomposed-ln', model);
    assert.deepEqual(report.refused.map((r) => r.code), ['normalization-between']);
    assert.match(report.refused[0]!.reason, /ReduceMean/);
  });

  test("ConvNeXt's head (Transpose → LayerNormalization → Transpose) is refused for the normalization", async () => {
    const model = classifier({
      opset: 17,
      tail(net, x) {
        const pooled = net.op('GlobalAveragePool', '/pool/GlobalAveragePool', [x]);
        const t = net.op('Transpose', '/norm/Transpose', [pooled], { perm: [0, 2, 3, 1] });
        const ln = net.op('LayerNormalization', '/norm/LayerNormalization', [t, net.weight('ln.weight', [C], net.uniforms(C, 1)), net.weight('ln.bias', [C], net.uniforms(C, 1))], { axis: -1 });
        const back = net.op('Transpose', '/norm/Transpose_1', [ln], { perm: [0, 3, 1, 2] });
        gemm(net, net.op('Flatten', '/Flatten', [back], { axis: 1 }));
        return [['logits', ['N', K]]];
      },
    });
    const { report } = await rewriteBuilt('convnext-head', model);
    assert.deepEqual(report.refused.map((r) => r.code), ['normalization-between']);
    assert.match(report.refused[0]!.reason, /LayerNormalization '\/norm\/LayerNormalization'/);
  });

  test("tf2onnx's Keras head: Transpose to NHWC → ReduceMean(axes 1, 2) → MatMul → Add", async () => {
    const model = classifier({
      tail(net, x) {
        const nhwc = net.op('Transpose', 'StatefulPartitionedCall/transpose', [x], { perm: [0, 2, 3, 1] });
        const mean = net.op('ReduceMean', 'global_average_pooling2d/Mean', [nhwc], { axes: [1, 2], keepdims: 0 });
        const { w, b } = net.classifier();
        const wt = new Array<number>(K * C);
        for (let k = 0; k < K; k++) for (let c = 0; c < C; c++) wt[c * K + k] = w[k * C + c]!;
        const mm = net.op('MatMul', 'dense/MatMul', [mean, net.weight('dense/kernel', [C, K], wt)]);
        net.op('Add', 'dense/BiasAdd', [mm, net.weight('dense/bias', [K], b)], {}, 'logits');
        return [['logits', ['N', K]]];
      },
    });
    for (const order of ['conv-first', 'pool-first'] as const) {
      const { report, out } = await rewriteBuilt(`keras-nhwc-${order}`, model, { order });
      assert.equal(report.rewritten.length, 1);
      assertVerifiedWithin(report, 1e-5);
      const counts = opCounts(out);
      assert.equal(counts.Transpose ?? 0, 0, 'the layout Transpose only fed the pool');
      assert.equal(counts.MatMul ?? 0, 0);
    }
  });

  test("AlexNet's spatial tail: Flatten → Dropout → Gemm → ReLU → Dropout → Gemm", async () => {
    const model = classifier({
      tail(net, x) {
        const pooled = net.op('MaxPool', '/features/MaxPool', [x], { kernel_shape: [4, 4], strides: [4, 4] });
        const d0 = net.op('Dropout', '/classifier/0/Dropout', [net.op('Flatten', '/Flatten', [pooled], { axis: 1 })]);
        const fc1 = net.op('Gemm', '/classifier/1/Gemm', [d0, net.weight('fc1.weight', [8, C * 16], net.normals(8 * C * 16, 0.1)), net.weight('fc1.bias', [8], net.uniforms(8, 0.1))], { transB: 1 });
        const d1 = net.op('Dropout', '/classifier/3/Dropout', [net.op('Relu', '/classifier/2/Relu', [fc1])]);
        net.op('Gemm', '/classifier/4/Gemm', [d1, net.weight('fc2.weight', [K, 8], net.normals(K * 8, 0.3)), net.weight('fc2.bias', [K], net.uniforms(K, 0.1))], { transB: 1 }, 'logits');
        return [['logits', ['N', K]]];
      },
    });
    const { report, out } = await rewriteBuilt('alexnet', model);
    assert.deepEqual(report.rewritten[0]?.layers.map((l) => l.became), ['Conv 4×4', 'Conv 1×1']);
    assertVerifiedWithin(report, 1e-5);
    const counts = opCounts(out);
    assert.equal(counts.Gemm ?? 0, 0);
    assert.equal(counts.Flatten, 1, 'only the final Flatten after the GlobalAveragePool');
  });

  test('two heads on one pooled vector, features also an output: both rewritten, features kept', async () => {
    const model = classifier({
      tail(net, x) {
        const f = gapFlatten(net, x);
        gemm(net, f, 'logits');
        gemm(net, f, 'aux');
        return [['logits', ['N', K]], ['aux', ['N', K]], ['/Flatten_output_0', ['N', C]]];
      },
    });
    const { report, out } = await rewriteBuilt('two-heads', model);
    assert.equal(report.rewritten.length, 2);
    assert.equal(opCounts(out).Gemm ?? 0, 0);
    assert.equal(producerOf(out, '/Flatten_output_0')?.op_type, 'Flatten');
    assertConvFirstTail(out, 'logits');
    assertConvFirstTail(out, 'aux');
    assertVerifiedWithin(report, 1e-5);
  });

  test('weight from a Constant node and through Identity; a weight shared with another node is copied, not changed', async () => {
    const model = classifier({
      tail(net, x) {
        const f = gapFlatten(net, x);
        const { w, b } = net.classifier();
        net.nodes.push(makeConstantNode('w_const', makeTensor('', DataType.FLOAT, [K, C], w), '/fc/Constant'));
        const wid = net.op('Identity', '/fc/Identity', ['w_const']);
        const fb = net.weight('fc.bias', [K], b);
        net.op('Gemm', '/fc/Gemm', [f, wid, fb], { transB: 1 }, 'logits');
        // The same bias is read by an unrelated Add elsewhere in the graph.
        net.op('Add', '/other/Add', [fb, fb], {}, 'bias_twice');
        return [['logits', ['N', K]], ['bias_twice', [K]]];
      },
    });
    const { report, out } = await rewriteBuilt('constant-weight', model);
    assertVerifiedWithin(report, 1e-5);
    const g = readModel(out).model.graph!;
    assert.ok(g.initializer.some((t) => t.name === 'fc.bias'), 'still read by /other/Add');
    assert.equal(g.node.some((n) => n.name === '/fc/Constant'), false, 'the Constant only fed the Gemm');
  });

  test('fp16 weights stored in int32_data, transB=0 and alpha/beta: folded in the weight dtype', async () => {
    const model = classifier({
      dtype: DataType.FLOAT16,
      tail(net, x) {
        const f = gapFlatten(net, x);
        const { w, b } = net.classifier();
        const wt = new Array<number>(K * C);
        for (let k = 0; k < K; k++) for (let c = 0; c < C; c++) wt[c * K + k] = w[k * C + c]!;
        const packed = makeTensor('fc.weight', DataType.FLOAT16, [C, K], wt);
        const view = new DataView(packed.raw_data!.buffer, packed.raw_data!.byteOffset);
        const bits = Array.from({ length: K * C }, (_, i) => view.getUint16(i * 2, true));
        net.initializers.push({ ...packed, raw_data: undefined, int32_data: bits });
        const fb = net.weight('fc.bias', [K], b);
        net.op('Gemm', '/fc/Gemm', [f, 'fc.weight', fb], { alpha: { f: 0.5 }, beta: { f: 2 } }, 'logits');
        return [['logits', ['N', K]]];
      },
    });
    const { report, out } = await rewriteBuilt('fp16-int32data', model);
    assertVerifiedWithin(report, 1e-2);
    const w = readModel(out).model.graph!.initializer.find((t) => t.name === 'fc.weight_conv')!;
    assert.equal(w.data_type, DataType.FLOAT16);
    assert.deepEqual(w.dims, [K, C, 1, 1]);
  });

  test('double weights keep their dtype; a model onnxruntime cannot run is not written', async () => {
    const model = classifier({
      dtype: DataType.DOUBLE,
      tail(net, x) {
        gemm(net, gapFlatten(net, x));
        return [['logits', ['N', K]]];
      },
    });
    // onnxruntime's CPU provider has no double Conv, so verification can't run: exit 2, nothing written.
    const path = saveModel(tmp.dir, 'double.onnx', model);
    const out = join(tmp.dir, 'double.gap.onnx');
    await assert.rejects(gapify(path, { output: out }), (e: Error & { exitCode?: number }) => e.exitCode === 2 && /onnxruntime/.test(e.message));
    assert.equal(existsSync(out), false);
    const { report } = await run(path, { verify: false });
    assert.equal(report.verification.status, 'skipped');
    const g = readModel(path).model.graph!;
    const written = readModel(join(tmp.dir, `out-${counter - 1}.onnx`)).model.graph!;
    const w = written.initializer.find((t) => t.name === 'logits.weight_conv')!;
    assert.equal(w.data_type, DataType.DOUBLE);
    assert.deepEqual(readFloats(w), readFloats(g.initializer.find((t) => t.name === 'logits.weight')!));
  });

  test('NIN: an AveragePool whose kernel is the whole map (after a zero Pad) becomes a global pool', async () => {
    const model = classifier({
      opset: 13,
      tail(net, x) {
        const pads = net.constInt64('/pad/pads', [8], [0, 0, 0, 0, 0, 0, 0, 0]);
        const p = net.op('Pad', '/pad/Pad', [x, pads]);
        const pooled = net.op('AveragePool', '/pool/AveragePool', [p], { kernel_shape: [16, 16], strides: [16, 16] });
        gemm(net, net.op('Flatten', '/Flatten', [pooled], { axis: 1 }));
        return [['logits', ['N', K]]];
      },
    });
    const { report, out } = await rewriteBuilt('nin-avgpool', model);
    assertVerifiedWithin(report, 1e-5);
    assert.match(report.rewritten[0]!.notes.join(' '), /corner/);
    const counts = opCounts(out);
    assert.equal(counts.AveragePool ?? 0, 0);
    assert.equal(counts.Pad ?? 0, 0);
  });

  test('AveragePool with padding over the whole map is refused: pool-changes-mean', async () => {
    const model = classifier({
      tail(net, x) {
        const pooled = net.op('AveragePool', '/pool/AveragePool', [x], { kernel_shape: [16, 16], pads: [1, 1, 1, 1], strides: [18, 18] });
        gemm(net, net.op('Flatten', '/Flatten', [pooled], { axis: 1 }));
        return [['logits', ['N', K]]];
      },
    });
    const { report } = await rewriteBuilt('padded-avgpool', model);
    assert.deepEqual(report.refused.map((r) => r.code), ['pool-changes-mean']);
  });

  test('a non-constant weight is refused: weight-not-constant', async () => {
    const model = classifier({
      tail(net, x) {
        const f = gapFlatten(net, x);
        // The weight is computed from the input at run time.
        const w = net.op('Transpose', '/w/Transpose', [net.op('Flatten', '/w/Flatten', [net.op('GlobalAveragePool', '/w/Pool', [x])], { axis: 1 })]);
        net.op('MatMul', '/fc/MatMul', [f, w], {}, 'logits');
        net.op('Gemm', '/fc2/Gemm', [f, w], {}, 'logits2');
        return [['logits', ['N', 'N']], ['logits2', ['N', 'N']]];
      },
    });
    const { report } = await rewriteBuilt('dynamic-weight', model);
    assert.equal(report.written, false);
    assert.ok(report.refused.some((r) => r.code === 'weight-not-constant'));
  });

  test('a bias with a batch dimension is refused: bias-depends-on-batch', async () => {
    const model = classifier({
      batch: 2,
      tail(net, x) {
        const f = gapFlatten(net, x);
        const { w } = net.classifier();
        const fw = net.weight('fc.weight', [K, C], w);
        const fb = net.weight('fc.bias', [2, K], net.uniforms(2 * K, 1));
        net.op('Gemm', '/fc/Gemm', [f, fw, fb], { transB: 1 }, 'logits');
        return [['logits', [2, K]]];
      },
    });
    const { report } = await rewriteBuilt('batch-bias', model);
    assert.deepEqual(report.refused.map((r) => r.code), ['bias-depends-on-batch']);
  });

  test('a Reshape that does not just drop the unit dims is refused: not-a-flatten', async () => {
    const model = classifier({
      tail(net, x) {
        const pooled = net.op('GlobalAveragePool', '/pool/GlobalAveragePool', [x]);
        const shape = net.constInt64('/shape', [2], [-1, 8]);
        const r = net.op('Reshape', '/Reshape', [pooled, shape]);
        const { w, b } = net.classifier();
        const fw = net.weight('fc.weight', [K, 8], w.slice(0, K * 8));
        const fb = net.weight('fc.bias', [K], b);
        net.op('Gemm', '/fc/Gemm', [r, fw, fb], { transB: 1 }, 'logits');
        return [['logits', ['M', K]]];
      },
    });
    const { report } = await rewriteBuilt('bad-reshape', model);
    assert.equal(report.written, false);
    assert.deepEqual(report.refused.map((r) => r.code), ['not-a-flatten']);
  });

  test('shapes static inference cannot see are probed with onnxruntime (spatial tail behind an Einsum)', async () => {
    const model = classifier({
      tail(net, x) {
        const y = net.op('Einsum', '/einsum/Einsum', [x], { equation: 'nchw->nchw' });
        const f = net.op('Flatten', '/Flatten', [net.op('MaxPool', '/pool/MaxPool', [y], { kernel_shape: [4, 4], strides: [4, 4] })], { axis: 1 });
        const { b } = net.classifier();
        const fw = net.weight('fc.weight', [K, C * 4 * 4], net.normals(K * C * 16, 0.1));
        net.op('Gemm', '/fc/Gemm', [f, fw, net.weight('fc.bias', [K], b)], { transB: 1 }, 'logits');
        return [['logits', ['N', K]]];
      },
    });
    const path = saveModel(tmp.dir, 'einsum.onnx', model);
    const { report } = await run(path);
    assert.equal(report.written, true);
    assert.deepEqual(report.rewritten[0]!.layers.map((l) => l.became), ['Conv 4×4']);
    assertVerifiedWithin(report, 1e-5);
    // Without onnxruntime's help the shape is unknown, and the tail is refused with a reason.
    const { report: blind } = await run(path, { probe: false });
    assert.deepEqual(blind.refused.map((r) => r.code), ['unknown-dims']);
  });

  test('a sparse initializer elsewhere in the graph is a value like any other', async () => {
    const model = classifier({
      tail(net, x) {
        gemm(net, gapFlatten(net, x));
        net.op('Add', '/sp/Add', ['logits', 'sp_const'], {}, 'shifted');
        return [['logits', ['N', K]], ['shifted', ['N', K]]];
      },
    });
    const sparse = { values: makeTensor('sp_const', DataType.FLOAT, [1], [0.5]), indices: makeTensor('sp_idx', DataType.INT64, [1], [3]), dims: [K] };
    const { report } = await rewriteBuilt('sparse', { ...model, graph: { ...model.graph!, sparse_initializer: [sparse] } });
    assertVerifiedWithin(report, 1e-5);
  });

  test('new names avoid the names used inside subgraphs (If branches share the namespace)', async () => {
    const branch = (name: string): GraphProto => makeGraph([makeNode('Identity', ['logits'], ['logits_class_map'], {}, `${name}/Identity`)], name, [], [makeValueInfo('logits_class_map', DataType.FLOAT, undefined)]);
    const model = classifier({
      tail(net, x) {
        gemm(net, gapFlatten(net, x));
        const cond = net.weight('cond', [], [1]);
        net.nodes.push(makeNode('Cast', [cond], ['cond_bool'], { to: DataType.BOOL }, '/cond/Cast'));
        net.nodes.push(makeNode('If', ['cond_bool'], ['picked'], { then_branch: branch('then'), else_branch: branch('else') }, '/If'));
        return [['logits', ['N', K]], ['picked', ['N', K]]];
      },
    });
    const { report, out } = await rewriteBuilt('subgraph-names', model, { order: 'conv-first' });
    assertVerifiedWithin(report, 1e-5);
    assert.notEqual(report.rewritten[0]!.classMap, 'logits_class_map');
    assert.equal(readModel(out).model.graph!.node.filter((n) => n.output.includes('logits_class_map')).length, 0);
  });

  test('a node name with a line break cannot break the one-line report entries', async () => {
    const model = classifier({
      tail(net, x) {
        const { w, b } = net.classifier();
        net.op('Gemm', 'fc\nwrote /etc/passwd', [gapFlatten(net, x), net.weight('fc.weight', [K, C], w), net.weight('fc.bias', [K], b)], { transB: 1 }, 'logits');
        return [['logits', ['N', K]]];
      },
    });
    const { report } = await rewriteBuilt('newline-name', model);
    const text = formatReport(report);
    assert.match(text, /Gemm 'fc\\nwrote \/etc\/passwd'/);
    assert.equal(text.split('\n').filter((l) => l.startsWith('wrote ')).length, 0);
  });

  test('new names never collide with existing ones', async () => {
    const model = classifier({
      tail(net, x) {
        gemm(net, gapFlatten(net, x));
        // Occupy the names the rewrite would pick first.
        net.op('Identity', '/logits/Gemm/gapify/Conv', [x], {}, 'logits_class_map');
        net.weight('logits.weight_conv', [1], [0]);
        return [['logits', ['N', K]], ['logits_class_map', ['N', C, 16, 16]]];
      },
    });
    const { report, out } = await rewriteBuilt('collisions', model);
    assertVerifiedWithin(report, 1e-5);
    const names = readModel(out).model.graph!.node.map((n) => n.name);
    assert.equal(new Set(names).size, names.length);
    assert.notEqual(report.rewritten[0]!.classMap, 'logits_class_map');
  });

  test('opset 7 (Caffe2-era) and opset 18 (ReduceMean axes as input): emitted nodes are valid there', async () => {
    const v7 = classifier({ opset: 7, model: { irVersion: 3 }, tail(net, x) { gemm(net, gapFlatten(net, x)); return [['logits', ['N', K]]]; } });
    const r7 = await rewriteBuilt('opset7', v7);
    assertVerifiedWithin(r7.report, 1e-5);
    const v18 = classifier({
      opset: 18,
      tail(net, x) {
        const axes = net.constInt64('/axes', [2], [2, 3]);
        gemm(net, net.op('ReduceMean', '/pool/ReduceMean', [x, axes], { keepdims: 0 }));
        return [['logits', ['N', K]]];
      },
    });
    const r18 = await rewriteBuilt('opset18', v18);
    assertVerifiedWithin(r18.report, 1e-5);
  });

  test('model metadata, IR version, opset imports and doc strings are preserved', async () => {
    const model = classifier({ model: { docString: 'keep me', producer: 'some-exporter', producerVersion: '9.9' }, tail(net, x) { gemm(net, gapFlatten(net, x)); return [['logits', ['N', K]]]; } });
    const withMeta = { ...model, metadata_props: [{ key: 'author', value: 'someone' }] };
    const { out } = await rewriteBuilt('metadata', withMeta);
    const m = readModel(out).model;
    assert.equal(m.doc_string, 'keep me');
    assert.equal(m.producer_name, 'some-exporter');
    assert.equal(m.producer_version, '9.9');
    assert.equal(m.ir_version, model.ir_version);
    assert.deepEqual(m.opset_import, model.opset_import);
    assert.deepEqual(m.metadata_props, [{ key: 'author', value: 'someone' }]);
  });

  test('Gemm folding arithmetic: alpha into W, beta into b, transB=0 transposed', async () => {
    const input = join(FIXTURES, 'gemm_alpha_beta_tail.onnx');
    const { out } = await run(input);
    const before = readModel(input).model.graph!;
    const after = readModel(out).model.graph!;
    const W = readFloats(before.initializer.find((t) => t.name === 'fc.B')!);
    const Wc = readFloats(after.initializer.find((t) => t.name === 'fc.B_conv')!);
    // B is [16, 10] (transB=0): Wc[k][c] = 0.5 · B[c][k].
    for (let k = 0; k < 10; k++) for (let c = 0; c < 16; c++) assert.ok(Math.abs(Wc[k * 16 + c]! - Math.fround(0.5 * W[c * 10 + k]!)) < 1e-7);
  });
});

describe('the input file is never touched', () => {
  test('input bytes are identical after a rewrite', async () => {
    const input = join(FIXTURES, 'resnet_tail.onnx');
    const before = readFileSync(input);
    await run(input);
    assert.ok(readFileSync(input).equals(before));
  });

  test('-o equal to the input is refused without --in-place', async () => {
    const input = join(FIXTURES, 'resnet_tail.onnx');
    await assert.rejects(gapify(input, { output: input }), /--in-place/);
  });

  test('a rewritten model compares equal to the original through `compareModels`', async () => {
    const input = join(FIXTURES, 'resnet_tail.onnx');
    const { out } = await run(input, { verify: false });
    const c = await compareModels({ path: input }, { path: out }, { inputShapes: { byName: new Map([['input', [3, 3, 32, 32]]]) } });
    assert.equal(c.ok, true);
    assert.deepEqual(c.inputs[0]!.shape, [3, 3, 32, 32]);
  });
});
