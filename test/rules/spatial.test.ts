// The spatial rule (src/rewrite/rules/spatial.ts): a Flatten of a C×H×W map into linear layers
// becomes an H×W Conv, 1×1 Convs and a global average — exact at the trained size.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readModel } from '../../src/onnx/model-io.js';
import { classifier, opCounts, saveModel, tempDir } from '../support/models.js';
import { assertVerifiedWithin, C, FIXTURES, K, rewriter } from '../support/rewrite.js';

const tmp = tempDir();
after(() => tmp.cleanup());
const { run, rewriteBuilt } = rewriter(tmp.dir);

describe('spatial tails', () => {
  test('vgg_mini: three Gemms become Conv 7×7, 1×1, 1×1 + GAP, exact at 224', async () => {
    const { report, out } = await run(join(FIXTURES, 'vgg_mini.onnx'));
    assert.equal(report.written, true);
    const change = report.rewritten[0]!;
    assert.equal(change.tail.kind, 'spatial');
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
});

describe('not spatial tails, and spatial tails that are refused', () => {
  type Net = Parameters<Parameters<typeof classifier>[0]['tail']>[0];
  /** backbone [N,16,16,16] → MaxPool 4×4 → [N,16,4,4] → `head` → Gemm(16·4·4 → 10) → logits. */
  const spatial = (head: (net: Net, map: string) => string, inFeatures = C * 16): ReturnType<typeof classifier> => classifier({
    tail(net, x) {
      const map = net.op('MaxPool', '/features/MaxPool', [x], { kernel_shape: [4, 4], strides: [4, 4] });
      net.op('Gemm', '/fc/Gemm', [head(net, map), net.weight('fc.weight', [K, inFeatures], net.normals(K * inFeatures, 0.1)), net.weight('fc.bias', [K], net.uniforms(K, 0.1))], { transB: 1 }, 'logits');
      return [['logits', ['N', K]]];
    },
  });

  // ConvNeXt: GAP → LayerNorm → Flatten → Linear. The map is 1×1 because of the pool: a global tail, refused for the norm.
  test('a Flatten of a map made 1×1 by a global pool (ConvNeXt) is no spatial tail: normalization-between, nothing written', async () => {
    const model = classifier({
      opset: 17,
      tail(net, x) {
        const pooled = net.op('GlobalAveragePool', '/pool/GlobalAveragePool', [x]);
        const ln = net.op('LayerNormalization', '/norm/LayerNormalization', [pooled, net.weight('ln.w', [1], [1]), net.weight('ln.b', [1], [0])], { axis: 1 });
        const f = net.op('Flatten', '/Flatten', [ln], { axis: 1 });
        net.op('Gemm', '/fc/Gemm', [f, net.weight('fc.weight', [K, C], net.normals(K * C, 0.3)), net.weight('fc.bias', [K], net.uniforms(K, 0.1))], { transB: 1 }, 'logits');
        return [['logits', ['N', K]]];
      },
    });
    const { report } = await rewriteBuilt('convnext-like', model);
    assert.deepEqual(report.rewritten, []);
    assert.deepEqual(report.refused.map((r) => [r.rule, r.code]), [['global', 'normalization-between']]);
    assert.equal(report.written, false);
  });

  // timm's 'avgmax' pool: 0.5 · (GAP + GlobalMaxPool) → Flatten → Linear.
  test("timm's 0.5·(avg + max) pool is no spatial tail: max-pool, once, nothing written", async () => {
    const model = classifier({
      tail(net, x) {
        const avg = net.op('GlobalAveragePool', '/pool/GlobalAveragePool', [x]);
        const max = net.op('GlobalMaxPool', '/pool/GlobalMaxPool', [x]);
        const mixed = net.op('Mul', '/pool/Mul', [net.op('Add', '/pool/Add', [avg, max]), net.weight('half', [], [0.5])]);
        const f = net.op('Flatten', '/Flatten', [mixed], { axis: 1 });
        net.op('Gemm', '/fc/Gemm', [f, net.weight('fc.weight', [K, C], net.normals(K * C, 0.3)), net.weight('fc.bias', [K], net.uniforms(K, 0.1))], { transB: 1 }, 'logits');
        return [['logits', ['N', K]]];
      },
    });
    const { report } = await rewriteBuilt('timm-avgmax', model);
    assert.deepEqual(report.rewritten, []);
    assert.deepEqual(report.refused.map((r) => r.code), ['max-pool']);
    assert.equal(report.written, false);
  });

  test('a Flatten with axis 2 is refused: not-a-flatten', async () => {
    const { report } = await rewriteBuilt('flatten-axis2', spatial((net, map) => net.op('Flatten', '/Flatten', [map], { axis: 2 }), 16));
    assert.deepEqual(report.refused.map((r) => [r.rule, r.code]), [['spatial', 'not-a-flatten']]);
  });

  test('flattened features also read elsewhere are refused: not-a-flatten', async () => {
    const model = classifier({
      tail(net, x) {
        const map = net.op('MaxPool', '/features/MaxPool', [x], { kernel_shape: [4, 4], strides: [4, 4] });
        const f = net.op('Flatten', '/Flatten', [map], { axis: 1 }, 'features');
        net.op('Gemm', '/fc/Gemm', [f, net.weight('fc.weight', [K, C * 16], net.normals(K * C * 16, 0.1)), net.weight('fc.bias', [K], net.uniforms(K, 0.1))], { transB: 1 }, 'logits');
        return [['logits', ['N', K]], ['features', ['N', C * 16]]];
      },
    });
    const { report } = await rewriteBuilt('spatial-fanout', model);
    assert.deepEqual(report.refused.map((r) => [r.rule, r.code]), [['spatial', 'not-a-flatten']]);
  });

  test('a Reshape that is not a flatten of C·H·W is refused: not-a-flatten', async () => {
    // [N, 16, 4, 4] (256 features) to [-1, 128]: two rows per sample, the batch folded.
    const model = spatial((net, map) => net.op('Reshape', '/Reshape', [map, net.constInt64('/shape', [2], [-1, 128])]), 128);
    const { report } = await rewriteBuilt('spatial-reshape', model);
    assert.deepEqual(report.rewritten, []);
    assert.deepEqual(report.refused.map((r) => [r.rule, r.code]), [['spatial', 'not-a-flatten']]);
  });

  test('a weight that does not fit the map is refused: shape-mismatch', async () => {
    const { report } = await rewriteBuilt('spatial-mismatch', spatial((net, map) => net.op('Flatten', '/Flatten', [map], { axis: 1 }), 128));
    assert.deepEqual(report.refused.map((r) => [r.rule, r.code]), [['spatial', 'shape-mismatch']]);
    assert.equal(report.written, false);
  });

  test('unknown map dims are refused: unknown-dims, and the refused tail still pins the size (lint)', async () => {
    // The map's shape goes through an op static inference does not know; --no-probe keeps it unknown.
    const model = spatial((net, map) => net.op('Flatten', '/Flatten', [net.op('Einsum', '/Einsum', [map], { equation: 'nchw->nchw' })], { axis: 1 }));
    const path = saveModel(tmp.dir, 'spatial-unknown.onnx', model);
    const { report } = await run(path, { probe: false });
    assert.deepEqual(report.refused.map((r) => [r.rule, r.code]), [['spatial', 'unknown-dims']]);
    assert.equal(readModel(path).model.graph!.node.some((n) => n.op_type === 'Einsum'), true);
  });

  test('an AveragePool as big as the map but padded: refused (pool-changes-mean), and no spatial tail behind it', async () => {
    const model = classifier({
      tail(net, x) {
        const pooled = net.op('AveragePool', '/pool/AveragePool', [x], { kernel_shape: [16, 16], pads: [1, 1, 1, 1], strides: [18, 18] });
        const f = net.op('Flatten', '/Flatten', [pooled], { axis: 1 });
        net.op('Gemm', '/fc/Gemm', [f, net.weight('fc.weight', [K, C], net.normals(K * C, 0.3)), net.weight('fc.bias', [K], net.uniforms(K, 0.1))], { transB: 1 }, 'logits');
        return [['logits', ['N', K]]];
      },
    });
    const { report } = await rewriteBuilt('padded-whole-map', model);
    assert.deepEqual(report.rewritten, []);
    assert.deepEqual(report.refused.map((r) => r.code), ['pool-changes-mean']);
  });
});

