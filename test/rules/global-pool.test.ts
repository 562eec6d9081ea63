// The global-pool rule (src/rewrite/rules/global-pool.ts) end to end: each form of pool → (flatten)
// → linear layer is rewritten, verified through onnxruntime (graph optimizations off) and checked
// for op counts and names; each near-miss is refused with its code.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { gapify } from '../../src/gapify.js';
import { makeConstantNode, makeTensor } from '../../src/onnx/builder.js';
import { readModel } from '../../src/onnx/model-io.js';
import { DataType } from '../../src/onnx/schema.js';
import { readFloats } from '../../src/onnx/tensor.js';
import { lintModel } from '../../src/lint/index.js';
import { classifier, opCounts, producerOf, saveModel, tempDir } from '../support/models.js';
import { assertConvFirstTail, assertPoolFirstTail, assertVerifiedWithin, C, FIXTURES, gapFlatten, gemm, K, rewriter } from '../support/rewrite.js';

const tmp = tempDir();
after(() => tmp.cleanup());
const { run, rewriteBuilt } = rewriter(tmp.dir);

describe('generated fixtures: every core form is rewritten exactly', () => {
  for (const name of ['resnet_tail', 'reshape_const_tail', 'reshape_shape_tail', 'squeeze_tail', 'reducemean_tail', 'matmul_add_tail', 'gemm_alpha_beta_tail', 'softmax_tail', 'fp16_tail']) {
    test(name, async () => {
      const input = join(FIXTURES, `${name}.onnx`);
      const { report, out } = await run(input);
      assert.equal(report.written, true);
      assert.equal(report.rewritten.length, 1);
      assert.deepEqual(report.refused, []);
      assert.equal(report.rewritten[0]!.order, 'pool-first', 'never slower than the original by default');
      const counts = opCounts(out);
      assert.equal(counts.Gemm ?? 0, 0);
      assert.equal(counts.MatMul ?? 0, 0);
      assert.equal(counts.Add ?? 0, 0);
      // Shape plumbing of the old tail is gone, backbone untouched.
      assert.equal(counts.Shape ?? 0, 0);
      assert.equal(counts.Conv, 3);
      assertPoolFirstTail(out, 'logits');
      assertVerifiedWithin(report, name === 'fp16_tail' ? 1e-2 : 1e-5);
      // With class maps asked for: conv-first, the map before the pool.
      const cam = await run(input, { cam: true });
      assert.equal(cam.report.rewritten[0]!.order, 'conv-first');
      assertConvFirstTail(cam.out, 'logits');
      assertVerifiedWithin(cam.report, name === 'fp16_tail' ? 1e-2 : 1e-5);
      // Output names, dtypes and declared shapes are the original's.
      const before = readModel(input).model.graph!;
      const after = readModel(out).model.graph!;
      assert.deepEqual(after.output, before.output);
      assert.deepEqual(after.input, before.input);
    });
  }

  test('fan-out: the pooled features stay a graph output', async () => {
    for (const [order, pools] of [['pool-first', 1], ['conv-first', 2]] as const) {
      const { report, out } = await run(join(FIXTURES, 'fanout_tail.onnx'), { order });
      assert.equal(report.written, true);
      const counts = opCounts(out);
      assert.equal(counts.Gemm ?? 0, 0);
      // Pool-first: the Conv reads the model's own pooled map. Conv-first: a new pool averages the class maps.
      assert.equal(counts.GlobalAveragePool, pools);
      assert.equal(producerOf(out, 'features')?.op_type, 'Flatten');
      assertVerifiedWithin(report, 1e-5);
    }
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
  test('shufflenet_v2_x0_5: ReduceMean(keepdims 0) → Gemm becomes GlobalAveragePool → Conv → Flatten (Conv first with --order conv-first)', async () => {
    const { report, out } = await run(join(FIXTURES, 'shufflenet_v2_x0_5.onnx'));
    assert.equal(report.written, true);
    assert.equal(opCounts(out).Gemm ?? 0, 0);
    assertPoolFirstTail(out, 'logits');
    assertVerifiedWithin(report, 1e-5);
    const cf = await run(join(FIXTURES, 'shufflenet_v2_x0_5.onnx'), { order: 'conv-first' });
    assertConvFirstTail(cf.out, 'logits');
    assertVerifiedWithin(cf.report, 1e-5);
  });

  test('mobilenet_v3_small: both Linear layers become 1×1 Convs on the pooled map, no Gemm left', async () => {
    const { report, out } = await run(join(FIXTURES, 'mobilenet_v3_small.onnx'));
    assert.equal(report.written, true);
    assert.equal(report.rewritten.length, 1);
    const change = report.rewritten[0]!;
    assert.equal(change.order, 'pool-first');
    assert.deepEqual(change.layers.map((l) => [l.op, l.weight, l.became]), [['Gemm', [1024, 576], 'Conv 1×1'], ['Gemm', [1000, 1024], 'Conv 1×1']]);
    assert.match(change.notes.join(' '), /all 2 linear layers become 1×1 Convs/);
    const counts = opCounts(out);
    assert.equal(counts.Gemm ?? 0, 0);
    assert.equal(counts.MatMul ?? 0, 0);
    assert.equal(producerOf(out, 'logits')?.op_type, 'Flatten');
    // The Hardswish between the layers (HardSigmoid · x at opset 13) works on the first Conv's [N, 1024, 1, 1] map.
    const second = producerOf(out, producerOf(out, 'logits')!.input[0]!)!;
    assert.equal(producerOf(out, second.input[0]!)?.op_type, 'Mul');
    assert.deepEqual(report.refused, [], 'squeeze-and-excitation pools are not classifier tails');
    assertVerifiedWithin(report, 1e-5);
    // Conv-first moves only the first layer before the pool; the second is a 1×1 Conv after it.
    const cf = await run(join(FIXTURES, 'mobilenet_v3_small.onnx'), { order: 'conv-first' });
    assert.equal(opCounts(cf.out).Gemm ?? 0, 0);
    assert.match(cf.report.rewritten[0]!.notes.join(' '), /first layer moves before the pool/);
    assert.equal(cf.report.rewritten[0]!.classMap, undefined, 'hidden units, not classes');
    assertVerifiedWithin(cf.report, 1e-5);
  });
});

describe('forms built in code', () => {
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

  test('two heads on one pooled vector, features also an output: both rewritten, features kept', async () => {
    const model = classifier({
      tail(net, x) {
        const f = gapFlatten(net, x);
        gemm(net, f, 'logits');
        gemm(net, f, 'aux');
        return [['logits', ['N', K]], ['aux', ['N', K]], ['/Flatten_output_0', ['N', C]]];
      },
    });
    for (const order of ['pool-first', 'conv-first'] as const) {
      const { report, out } = await rewriteBuilt(`two-heads-${order}`, model, { order });
      assert.equal(report.rewritten.length, 2);
      assert.equal(opCounts(out).Gemm ?? 0, 0);
      assert.equal(producerOf(out, '/Flatten_output_0')?.op_type, 'Flatten');
      const assertTail = order === 'pool-first' ? assertPoolFirstTail : assertConvFirstTail;
      assertTail(out, 'logits');
      assertTail(out, 'aux');
      assertVerifiedWithin(report, 1e-5);
    }
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
    const { report, out: unverified } = await run(path, { verify: false });
    assert.equal(report.verification.status, 'skipped');
    const g = readModel(path).model.graph!;
    const written = readModel(unverified).model.graph!;
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

  test("chains judged by shape: x.squeeze(-1).squeeze(-1), x.view(N, 1, C), unsqueeze after flatten are one Flatten", async () => {
    const forms: [string, (net: Parameters<Parameters<typeof classifier>[0]['tail']>[0], p: string) => string][] = [
      ['squeeze twice', (net, p) => net.op('Squeeze', '/Squeeze_1', [net.op('Squeeze', '/Squeeze', [p, net.constInt64('/a', [1], [-1])]), net.constInt64('/b', [1], [-1])])],
      ['reshape [N, 1, C] then squeeze', (net, p) => net.op('Squeeze', '/Squeeze', [net.op('Reshape', '/Reshape', [p, net.constInt64('/s', [3], [0, 1, C])]), net.constInt64('/a', [1], [1])])],
      ['flatten, unsqueeze, flatten', (net, p) => net.op('Flatten', '/Flatten_1', [net.op('Unsqueeze', '/Unsqueeze', [net.op('Flatten', '/Flatten', [p], { axis: 1 }), net.constInt64('/a', [1], [2])])], { axis: 1 })],
    ];
    for (const [what, chain] of forms) {
      const model = classifier({
        tail(net, x) {
          gemm(net, chain(net, net.op('GlobalAveragePool', '/pool/GlobalAveragePool', [x])));
          return [['logits', ['N', K]]];
        },
      });
      const { report, out } = await rewriteBuilt(`chain-${what.replace(/\W+/g, '-')}`, model);
      assert.equal(report.rewritten.length, 1, what);
      assertPoolFirstTail(out, 'logits');
      assertVerifiedWithin(report, 1e-5);
    }
  });

  test('chains that touch the batch or the channels are refused: not-a-flatten', async () => {
    const forms: [string, (net: Parameters<Parameters<typeof classifier>[0]['tail']>[0], p: string) => string][] = [
      // [N, C, 1, 1] → Squeeze(axis 1) is an error at C > 1; Unsqueeze(0) puts a dim before the batch.
      ['unsqueeze before the batch', (net, p) => net.op('Reshape', '/Reshape', [net.op('Unsqueeze', '/Unsqueeze', [p, net.constInt64('/a', [1], [0])]), net.constInt64('/s', [2], [-1, C])])],
      ['flatten axis 2 of [N, C, 1] (the channels into the batch)', (net, p) => net.op('Flatten', '/Flatten', [net.op('Reshape', '/Reshape', [p, net.constInt64('/s', [3], [0, C, 1])])], { axis: 2 })],
    ];
    for (const [what, chain] of forms) {
      const model = classifier({
        tail(net, x) {
          gemm(net, chain(net, net.op('GlobalAveragePool', '/pool/GlobalAveragePool', [x])));
          return [['logits', ['N', K]]];
        },
      });
      const { report } = await rewriteBuilt(`bad-chain-${what.replace(/\W+/g, '-')}`, model);
      assert.deepEqual(report.refused.map((r) => r.code), ['not-a-flatten'], what);
      assert.equal(report.written, false, what);
    }
  });

  test('channels_last_tail: a Linear after permute(0, 2, 3, 1) and its Flatten become one 1×1 Conv', async () => {
    const { report, out } = await run(join(FIXTURES, 'channels_last_tail.onnx'));
    assert.equal(report.rewritten.length, 1);
    const counts = opCounts(out);
    assert.deepEqual([counts.Transpose ?? 0, counts.MatMul ?? 0, counts.Add ?? 0], [0, 0, 0]);
    assertPoolFirstTail(out, 'logits');
    assertVerifiedWithin(report, 1e-5);
  });

  test("a channels-last Linear whose [N, 1, 1, K] output is the model's output is refused: not-a-flatten", async () => {
    const model = classifier({
      tail(net, x) {
        const t = net.op('Transpose', '/Transpose', [net.op('GlobalAveragePool', '/pool/GlobalAveragePool', [x])], { perm: [0, 2, 3, 1] });
        const { w } = net.classifier();
        const wt = new Array<number>(C * K);
        for (let k = 0; k < K; k++) for (let c = 0; c < C; c++) wt[c * K + k] = w[k * C + c]!;
        net.op('MatMul', '/fc/MatMul', [t, net.weight('fc.weight_t', [C, K], wt)], {}, 'logits');
        return [['logits', ['N', 1, 1, K]]];
      },
    });
    const { report } = await rewriteBuilt('channels-last-4d', model);
    assert.deepEqual(report.refused.map((r) => r.code), ['not-a-flatten']);
  });

  test("an MLP head whose hidden layer is also read elsewhere: the layers after it stay, and the report says so", async () => {
    //   GAP ─ Flatten ─ Gemm(16→12) ─ Relu ─┬─ Gemm(12→10) ─ logits
    //                                        └─ embedding (graph output)
    const model = classifier({
      tail(net, x) {
        const h = net.op('Gemm', '/fc1/Gemm', [gapFlatten(net, x), net.weight('fc1.weight', [12, C], net.normals(12 * C, 0.3)), net.weight('fc1.bias', [12], net.uniforms(12, 0.1))], { transB: 1 });
        const r = net.op('Relu', '/head/Relu', [h], {}, 'embedding');
        net.op('Gemm', '/fc2/Gemm', [r, net.weight('fc2.weight', [K, 12], net.normals(K * 12, 0.3)), net.weight('fc2.bias', [K], net.uniforms(K, 0.1))], { transB: 1 }, 'logits');
        return [['logits', ['N', K]], ['embedding', ['N', 12]]];
      },
    });
    const { report, out } = await rewriteBuilt('mlp-shared', model);
    assert.deepEqual(report.rewritten[0]?.layers.map((l) => l.became), ['Conv 1×1']);
    assert.match(report.rewritten[0]!.notes.join(' '), /'\/fc2\/Gemm' after the head stays as it is/);
    assert.equal(opCounts(out).Gemm, 1);
    assertVerifiedWithin(report, 1e-5);
  });

  //   x ─┬─ GAP ─ Flatten ─ Gemm(16→4) ─ Relu ─ Gemm(4→16) ─ Sigmoid ─ Reshape [N,16,1,1] ─┐
  //      └────────────────────────────────────────────────────────────────────────── Mul ─ GAP ─ Flatten ─ Gemm ─ logits
  test('a squeeze-and-excitation block made of Linear layers is no classifier tail: only the real head is rewritten', async () => {
    const model = classifier({
      tail(net, x) {
        const s1 = net.op('Gemm', '/se/fc1/Gemm', [net.op('Flatten', '/se/Flatten', [net.op('GlobalAveragePool', '/se/GlobalAveragePool', [x])], { axis: 1 }), net.weight('se.fc1.weight', [4, C], net.normals(4 * C, 0.3)), net.weight('se.fc1.bias', [4], net.uniforms(4, 0.1))], { transB: 1 });
        const s2 = net.op('Gemm', '/se/fc2/Gemm', [net.op('Relu', '/se/Relu', [s1]), net.weight('se.fc2.weight', [C, 4], net.normals(4 * C, 0.3)), net.weight('se.fc2.bias', [C], net.uniforms(C, 0.1))], { transB: 1 });
        const scale = net.op('Reshape', '/se/Reshape', [net.op('Sigmoid', '/se/Sigmoid', [s2]), net.constInt64('/se/shape', [4], [-1, C, 1, 1])]);
        gemm(net, gapFlatten(net, net.op('Mul', '/se/Mul', [x, scale])));
        return [['logits', ['N', K]]];
      },
    });
    const { report } = await rewriteBuilt('se-block', model);
    assert.deepEqual(report.rewritten.map((c) => c.layers.map((l) => l.node.name)), [['/logits/Gemm']]);
    assert.deepEqual(report.refused, []);
    assertVerifiedWithin(report, 1e-5);
  });

  test('pools gapify reads in their other spellings: Keras keepdims mean in NHWC, a mean in two steps', async () => {
    const heads: [string, (net: Parameters<Parameters<typeof classifier>[0]['tail']>[0], x: string) => string][] = [
      //   Transpose(0,2,3,1) ─ ReduceMean(axes [1,2], keepdims 1) ─ [N,1,1,16] ─ Reshape [-1,16]
      ['keras-nhwc-keepdims', (net, x) => net.op('Reshape', '/Reshape', [net.op('ReduceMean', '/Mean', [net.op('Transpose', '/T', [x], { perm: [0, 2, 3, 1] })], { axes: [1, 2], keepdims: 1 }), net.constInt64('/s', [2], [-1, C])])],
      //   x.mean(3, keepdim=True).mean(2, keepdim=True) ─ Flatten
      ['mean-of-means', (net, x) => net.op('Flatten', '/Flatten', [net.op('ReduceMean', '/Mean_1', [net.op('ReduceMean', '/Mean', [x], { axes: [3], keepdims: 1 })], { axes: [2], keepdims: 1 })], { axis: 1 })],
      //   x.mean(3).mean(2) (dims dropped): the second mean is a global pool of the [N, C, H] the first leaves
      ['mean-of-means-dropped', (net, x) => net.op('ReduceMean', '/Mean_1', [net.op('ReduceMean', '/Mean', [x], { axes: [3], keepdims: 0 })], { axes: [2], keepdims: 0 })],
    ];
    for (const [what, head] of heads) {
      const model = classifier({ tail(net, x) { gemm(net, head(net, x)); return [['logits', ['N', K]]]; } });
      const { report, out } = await rewriteBuilt(what, model);
      assert.deepEqual(report.rewritten.map((c) => c.tail.kind), ['global'], what);
      assert.equal(opCounts(out).ReduceMean ?? 0, what === 'mean-of-means-dropped' ? 1 : 0, what);
      assertVerifiedWithin(report, 1e-5);
    }
  });

  test('a MatMul whose Add broadcasts to a higher rank keeps its Add: the bias is not folded', async () => {
    //   GAP ─ Flatten ─ MatMul([16,10]) ─ Add([1,1,10]) ─ logits [1,N,10]
    const model = classifier({
      tail(net, x) {
        const { w, b } = net.classifier();
        const wt = new Array<number>(C * K);
        for (let k = 0; k < K; k++) for (let c = 0; c < C; c++) wt[c * K + k] = w[k * C + c]!;
        const mm = net.op('MatMul', '/fc/MatMul', [gapFlatten(net, x), net.weight('fc.w', [C, K], wt)]);
        net.op('Add', '/fc/Add', [mm, net.weight('fc.b', [1, 1, K], b)], {}, 'logits');
        return [['logits', [1, 'N', K]]];
      },
    });
    const { report, out } = await rewriteBuilt('bias-rank3', model);
    assert.equal(report.written, true);
    assert.equal(opCounts(out).Add, 1);
    assertVerifiedWithin(report, 1e-5);
  });

  test('a channels-last Linear flattened by x.view(x.size(0), -1) (a Shape reads its output too)', async () => {
    const model = classifier({
      tail(net, x) {
        const t = net.op('Transpose', '/T', [net.op('GlobalAveragePool', '/pool/GlobalAveragePool', [x])], { perm: [0, 2, 3, 1] });
        const { w, b } = net.classifier();
        const wt = new Array<number>(C * K);
        for (let k = 0; k < K; k++) for (let c = 0; c < C; c++) wt[c * K + k] = w[k * C + c]!;
        const y = net.op('Add', '/fc/Add', [net.op('MatMul', '/fc/MatMul', [t, net.weight('fc.w', [C, K], wt)]), net.weight('fc.b', [K], b)]);
        const n = net.op('Unsqueeze', '/U', [net.op('Gather', '/G', [net.op('Shape', '/Shape', [y]), net.constInt64('/zero', [], [0])], { axis: 0 }), net.constInt64('/ax', [1], [0])]);
        net.op('Reshape', '/Reshape', [y, net.op('Concat', '/Cat', [n, net.constInt64('/m1', [1], [-1])], { axis: 0 })], {}, 'logits');
        return [['logits', ['N', K]]];
      },
    });
    const { report, out } = await rewriteBuilt('channels-last-view', model);
    assert.equal(report.rewritten.length, 1);
    assert.equal(opCounts(out).Shape ?? 0, 0, 'the target computation went with the Reshape');
    assertVerifiedWithin(report, 1e-5);
  });

  test("an MLP whose second layer can't be followed: the first is rewritten, and lint finds nothing left in the output", async () => {
    //   GAP ─ Flatten ─ Gemm(16→12) ─ Mul(a [12] vector) ─ Gemm(12→10)     (the Mul is not elementwise on [N, 12, 1, 1])
    const model = classifier({
      tail(net, x) {
        const h = net.op('Gemm', '/fc1/Gemm', [gapFlatten(net, x), net.weight('fc1.w', [12, C], net.normals(12 * C, 0.3)), net.weight('fc1.b', [12], net.uniforms(12, 0.1))], { transB: 1 });
        const scaled = net.op('Mul', '/scale/Mul', [h, net.weight('scale', [12], net.uniforms(12, 1))]);
        net.op('Gemm', '/fc2/Gemm', [scaled, net.weight('fc2.w', [K, 12], net.normals(K * 12, 0.3)), net.weight('fc2.b', [K], net.uniforms(K, 0.1))], { transB: 1 }, 'logits');
        return [['logits', ['N', K]]];
      },
    });
    const { report, out } = await rewriteBuilt('mlp-vector-mul', model);
    assert.deepEqual(report.rewritten[0]?.layers.map((l) => l.node.name), ['/fc1/Gemm']);
    assertVerifiedWithin(report, 1e-5);
    const findings = lintModel(out).findings.filter((f) => f.ruleId === 'rewritable-tail' || f.ruleId === 'not-rewritable');
    assert.deepEqual(findings.map((f) => f.message), []);
  });
});

