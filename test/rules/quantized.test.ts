// The quantized rule (src/rewrite/rules/quantized.ts): QDQ heads become 1×1 Convs pool-first with
// every Q/DQ where it was and the integer weights' values and scales kept; conv-first is refused
// across an activation quantization; operator-format layers are refused.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { lintModel } from '../../src/lint/index.js';
import { readModel } from '../../src/onnx/model-io.js';
import { DataType, type NodeProto } from '../../src/onnx/schema.js';
import { makeTensor } from '../../src/onnx/tensor.js';
import { attrInt } from '../../src/graph/graph.js';
import { classifier, nodesOf, opCounts, producerOf, saveModel, tempDir } from '../support/models.js';
import { assertVerifiedWithin, C, FIXTURES, K, rewriter } from '../support/rewrite.js';

const tmp = tempDir();
after(() => tmp.cleanup());
const { run, rewriteBuilt } = rewriter(tmp.dir);

type Net = Parameters<Parameters<typeof classifier>[0]['tail']>[0];
const count = (out: string, op: string): number => opCounts(out)[op] ?? 0;

/** The Conv gapify wrote, and the DequantizeLinear that feeds it its weight. */
function convAndWeight(out: string): { conv: NodeProto; weight: NodeProto } {
  const conv = nodesOf(out).find((n) => n.op_type === 'Conv' && (n.name ?? '').includes('/gapify/'))!;
  return { conv, weight: producerOf(out, conv.input[1]!)! };
}

describe('QDQ heads', () => {
  test('qdq_tail (quantize_static layout): pool-first, every Q/DQ kept, the int8 weight re-dimensioned, exact', async () => {
    const input = join(FIXTURES, 'qdq_tail.onnx');
    const { report, out } = await run(input);
    assert.deepEqual(report.rewritten.map((c) => [c.tail.kind, c.order]), [['quantized', 'pool-first']]);
    assertVerifiedWithin(report, 0);
    assert.equal(count(out, 'Gemm'), 0);
    assert.equal(count(out, 'QuantizeLinear'), count(input, 'QuantizeLinear'));
    const { conv, weight } = convAndWeight(out);
    // GlobalAveragePool → Q → DQ → Conv: the activations' quantization still right before the layer.
    assert.equal(producerOf(out, conv.input[0]!)?.op_type, 'DequantizeLinear');
    assert.equal(weight.op_type, 'DequantizeLinear');
    assert.equal(attrInt(weight, 'axis', 1), 0, 'per output channel, as before');
    const q = readModel(out).model.graph!.initializer.find((t) => t.name === weight.input[0])!;
    assert.deepEqual([q.data_type, q.dims.map(Number)], [DataType.INT8, [K, C, 1, 1]]);
    // The bias is still the int32 tensor behind its DequantizeLinear.
    assert.equal(producerOf(out, conv.input[2]!)?.op_type, 'DequantizeLinear');
  });

  test('--order conv-first is refused (quantized-between), nothing written; --cam says why there is no map', async () => {
    const input = join(FIXTURES, 'qdq_tail.onnx');
    const cf = await run(input, { order: 'conv-first' });
    assert.deepEqual(cf.report.refused.map((r) => r.code), ['quantized-between']);
    assert.equal(cf.report.written, false);
    const cam = await run(input, { cam: true });
    assert.equal(cam.report.rewritten[0]?.order, 'pool-first');
    assert.match(cam.report.cam?.skipped[0]?.reason ?? '', /quantized-between/);
  });

  //   GAP ─ Q/DQ ─ Flatten ─ MatMul(DQ(uint8 [16,10] per column, axis 1)) ─ Add(float bias) ─ logits
  test('a MatMul with a per-column uint8 weight: transposed as integers, the axis follows the outputs', async () => {
    const model = classifier({
      tail(net: Net, x) {
        const f = net.op('Flatten', '/Flatten', [net.qdq('/pool', net.op('GlobalAveragePool', '/pool/GlobalAveragePool', [x]), 4 / 255, 0)], { axis: 1 });
        const { w, b } = net.classifier();
        const wt = new Array<number>(C * K);
        for (let k = 0; k < K; k++) for (let c = 0; c < C; c++) wt[c * K + k] = w[k * C + c]!;
        const mm = net.op('MatMul', '/fc/MatMul', [f, net.dequantized('fc.weight', [C, K], wt, 1)]);
        net.op('Add', '/fc/Add', [mm, net.weight('fc.bias', [K], b)], {}, 'logits');
        return [['logits', ['N', K]]];
      },
    });
    const { report, out } = await rewriteBuilt('qdq-matmul', model);
    assert.equal(report.rewritten[0]?.tail.kind, 'quantized');
    assertVerifiedWithin(report, 1e-6);
    const { weight } = convAndWeight(out);
    assert.equal(attrInt(weight, 'axis', 1), 0);
    const q = readModel(out).model.graph!.initializer.find((t) => t.name === weight.input[0])!;
    assert.deepEqual(q.dims.map(Number), [K, C, 1, 1]);
    assert.equal(count(out, 'MatMul'), 0);
  });

  //   GAP ─ Flatten ─ Gemm(DQ W1) ─ Q/DQ ─ Relu ─ Q/DQ ─ Gemm(DQ W2) ─ logits     (a quantized MLP head)
  test('a quantized MLP head: both layers 1×1 Convs on the pooled map, the Q/DQ between them unchanged', async () => {
    const model = classifier({
      tail(net: Net, x) {
        const f = net.op('Flatten', '/Flatten', [net.op('GlobalAveragePool', '/pool/GlobalAveragePool', [x])], { axis: 1 });
        const h = net.op('Gemm', '/fc1/Gemm', [f, net.dequantized('fc1.weight', [12, C], net.normals(12 * C, 0.3), 0), net.weight('fc1.bias', [12], net.uniforms(12, 0.1))], { transB: 1 });
        const r = net.qdq('/act1', net.op('Relu', '/head/Relu', [net.qdq('/fc1', h, 6 / 255, 128)]), 6 / 255, 0);
        net.op('Gemm', '/fc2/Gemm', [r, net.dequantized('fc2.weight', [K, 12], net.normals(K * 12, 0.3)), net.weight('fc2.bias', [K], net.uniforms(K, 0.1))], { transB: 1 }, 'logits');
        return [['logits', ['N', K]]];
      },
    });
    const { report, out } = await rewriteBuilt('qdq-mlp', model);
    assert.deepEqual(report.rewritten[0]?.layers.map((l) => l.became), ['Conv 1×1', 'Conv 1×1']);
    assertVerifiedWithin(report, 1e-6);
    assert.equal(count(out, 'Gemm'), 0);
    assert.equal(count(out, 'QuantizeLinear'), 2);
  });

  test('weights-only quantization may go conv-first', async () => {
    const model = classifier({
      tail(net: Net, x) {
        const f = net.op('Flatten', '/Flatten', [net.op('GlobalAveragePool', '/pool/GlobalAveragePool', [x])], { axis: 1 });
        const { w, b } = net.classifier();
        net.op('Gemm', '/fc/Gemm', [f, net.dequantized('fc.weight', [K, C], w), net.weight('fc.bias', [K], b)], { transB: 1 }, 'logits');
        return [['logits', ['N', K]]];
      },
    });
    const { report } = await rewriteBuilt('qdq-weights-only', model, { order: 'conv-first' });
    assert.deepEqual(report.rewritten.map((c) => [c.tail.kind, c.order]), [['quantized', 'conv-first']]);
    assert.ok(report.rewritten[0]?.classMap);
    assertVerifiedWithin(report, 1e-5);
  });

  test('a Gemm scaling its dequantized weight (alpha 0.5) is refused: quantized-weight', async () => {
    const model = classifier({
      tail(net: Net, x) {
        const f = net.op('Flatten', '/Flatten', [net.op('GlobalAveragePool', '/pool/GlobalAveragePool', [x])], { axis: 1 });
        const { w, b } = net.classifier();
        net.op('Gemm', '/fc/Gemm', [f, net.dequantized('fc.weight', [K, C], w, 0), net.weight('fc.bias', [K], b)], { transB: 1, alpha: { f: 0.5 } }, 'logits');
        return [['logits', ['N', K]]];
      },
    });
    const { report } = await rewriteBuilt('qdq-alpha', model);
    assert.deepEqual(report.refused.map((r) => r.code), ['quantized-weight']);
    assert.equal(report.written, false);
  });

  //   GAP ─ Flatten ─ QuantizeLinear ─ QLinearMatMul(int8 W) ─ DequantizeLinear ─ logits   (operator format)
  test('operator-format quantization (QLinearMatMul) is refused: quantized-operator, and lint says so', async () => {
    const model = classifier({
      tail(net: Net, x) {
        const f = net.op('Flatten', '/Flatten', [net.op('GlobalAveragePool', '/pool/GlobalAveragePool', [x])], { axis: 1 });
        net.initializers.push(
          makeTensor('a_scale', DataType.FLOAT, [], [4 / 255]), makeTensor('a_zp', DataType.UINT8, [], [0]),
          makeTensor('w_q', DataType.INT8, [C, K], Array.from({ length: C * K }, (_, i) => (i % 7) - 3)),
          makeTensor('w_scale', DataType.FLOAT, [], [0.05]), makeTensor('w_zp', DataType.INT8, [], [0]),
          makeTensor('y_scale', DataType.FLOAT, [], [8 / 255]), makeTensor('y_zp', DataType.UINT8, [], [128]),
        );
        const q = net.op('QuantizeLinear', '/q/QuantizeLinear', [f, 'a_scale', 'a_zp']);
        const y = net.op('QLinearMatMul', '/fc/QLinearMatMul', [q, 'a_scale', 'a_zp', 'w_q', 'w_scale', 'w_zp', 'y_scale', 'y_zp']);
        net.op('DequantizeLinear', '/dq/DequantizeLinear', [y, 'y_scale', 'y_zp'], {}, 'logits');
        return [['logits', ['N', K]]];
      },
    });
    const { report } = await rewriteBuilt('qlinear', model);
    assert.deepEqual(report.refused.map((r) => r.code), ['quantized-operator']);
    assert.equal(report.written, false);
    const lint = lintModel(saveModel(tmp.dir, 'qlinear-lint.onnx', model)).findings.filter((f) => f.ruleId === 'not-rewritable');
    assert.deepEqual(lint.map((f) => f.ruleId === 'not-rewritable' && f.properties.code), ['quantized-operator']);
  });

  //   GAP ─ Flatten ─ Gemm(Q→DQ of a float weight, per channel) ─ logits      (a QAT export's fake quantization)
  test('a QAT weight (float → QuantizeLinear → DequantizeLinear): kept as it was, on the Conv layout', async () => {
    const model = classifier({
      tail(net: Net, x) {
        const { w, b } = net.classifier();
        const scales = Array.from({ length: K }, (_, k) => Math.max(...w.slice(k * C, k * C + C).map(Math.abs)) / 127);
        net.initializers.push(makeTensor('fc.weight', DataType.FLOAT, [K, C], w), makeTensor('w_scale', DataType.FLOAT, [K], scales), makeTensor('w_zp', DataType.INT8, [K], new Array(K).fill(0)));
        const q = net.op('QuantizeLinear', '/fc/wq', ['fc.weight', 'w_scale', 'w_zp'], { axis: 0 });
        const dq = net.op('DequantizeLinear', '/fc/wdq', [q, 'w_scale', 'w_zp'], { axis: 0 });
        const f = net.op('Flatten', '/Flatten', [net.op('GlobalAveragePool', '/pool/GlobalAveragePool', [x])], { axis: 1 });
        net.op('Gemm', '/fc/Gemm', [f, dq, net.weight('fc.bias', [K], b)], { transB: 1 }, 'logits');
        return [['logits', ['N', K]]];
      },
    });
    const { report, out } = await rewriteBuilt('qat', model);
    assert.equal(report.rewritten[0]?.tail.kind, 'quantized');
    assertVerifiedWithin(report, 0);
    const { weight } = convAndWeight(out);
    assert.equal(producerOf(out, weight.input[0]!)?.op_type, 'QuantizeLinear');
  });

  test('per-channel activation quantization given as axis -1 of [N, C]: names the channels on [N, C, 1, 1]', async () => {
    const model = classifier({
      tail(net: Net, x) {
        const f = net.op('Flatten', '/Flatten', [net.op('GlobalAveragePool', '/pool/GlobalAveragePool', [x])], { axis: 1 });
        net.initializers.push(makeTensor('a_scale', DataType.FLOAT, [C], new Array(C).fill(4 / 255)), makeTensor('a_zp', DataType.UINT8, [C], new Array(C).fill(0)));
        const a = net.op('DequantizeLinear', '/a/dq', [net.op('QuantizeLinear', '/a/q', [f, 'a_scale', 'a_zp'], { axis: -1 }), 'a_scale', 'a_zp'], { axis: -1 });
        const { w, b } = net.classifier();
        net.op('Gemm', '/fc/Gemm', [a, net.dequantized('fc.weight', [K, C], w, 0), net.weight('fc.bias', [K], b)], { transB: 1 }, 'logits');
        return [['logits', ['N', K]]];
      },
    });
    const { report } = await rewriteBuilt('qdq-axis-minus1', model);
    assert.equal(report.written, true);
    assertVerifiedWithin(report, 0);
  });

  test('a float weight with a dequantized int32 bias: the bias stays dequantized', async () => {
    const model = classifier({
      tail(net: Net, x) {
        const f = net.op('Flatten', '/Flatten', [net.qdq('/pool', net.op('GlobalAveragePool', '/pool/GlobalAveragePool', [x]), 4 / 255, 0)], { axis: 1 });
        const { w, b } = net.classifier();
        net.initializers.push(makeTensor('ones', DataType.FLOAT, [K], new Array(K).fill(1)));
        net.op('Gemm', '/fc/Gemm', [f, net.weight('fc.weight', [K, C], w), net.dequantizedBias('fc.bias', b, 4 / 255, 'ones')], { transB: 1 }, 'logits');
        return [['logits', ['N', K]]];
      },
    });
    const { report, out } = await rewriteBuilt('qdq-int-bias', model);
    assert.equal(report.written, true);
    assertVerifiedWithin(report, 1e-6);
    const { conv } = convAndWeight(out);
    assert.equal(producerOf(out, conv.input[2]!)?.op_type, 'DequantizeLinear');
  });
});

