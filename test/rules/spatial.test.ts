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
