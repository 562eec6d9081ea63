// Folding a linear layer's constants into Conv weights, for dtypes onnxruntime's CPU provider can't
// run end to end (bfloat16): checked against the arithmetic directly.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeNode, makeTensor } from '../src/onnx/builder.js';
import { DataType, type TensorProto } from '../src/onnx/schema.js';
import { bfloat16ToFloat, floatToBfloat16, readFloats } from '../src/onnx/tensor.js';
import type { LinearLayer } from '../src/rewrite/linear.js';
import { batchNormAffine, linearToConv } from '../src/rewrite/weights.js';

const K = 3;
const C = 4;
const values = (n: number, f: (i: number) => number): number[] => Array.from({ length: n }, (_, i) => f(i));
const bytesOf = (t: TensorProto): Uint8Array => t.raw_data!;

function layer(weight: TensorProto, transB: boolean, alpha: number, beta: number, bias?: TensorProto, inFeatures = C): LinearLayer {
  return {
    nodes: [makeNode('Gemm', ['x', weight.name!], ['y'], {}, '/fc/Gemm')], input: 'x', output: 'y',
    weight, weightName: weight.name!, transB, alpha, beta, inFeatures, outFeatures: K,
    ...(bias ? { bias, biasName: bias.name! } : {}),
  };
}

describe('linearToConv', () => {
  test('bfloat16, transB=0, alpha and beta: W·alpha transposed, b·beta, rounded once to bfloat16', () => {
    const B = values(C * K, (i) => (i - 5) / 7); // [C, K]
    const w = makeTensor('W', DataType.BFLOAT16, [C, K], B);
    const b = makeTensor('b', DataType.BFLOAT16, [K], [0.5, -1.25, 3]);
    const { weight, bias } = linearToConv(layer(w, false, 0.75, 2, b), [1, 1], { weight: 'Wc', bias: () => 'bc' }, bytesOf);
    assert.equal(weight.data_type, DataType.BFLOAT16);
    assert.deepEqual(weight.dims, [K, C, 1, 1]);
    const stored = readFloats(w);
    const got = readFloats(weight);
    for (let k = 0; k < K; k++) {
      for (let c = 0; c < C; c++) assert.equal(got[k * C + c], bfloat16ToFloat(floatToBfloat16(0.75 * stored[c * K + k]!)));
    }
    assert.deepEqual([...readFloats(bias!)], [1, -2.5, 6]);
  });

  test('transB=1, alpha=1, beta=1: the weight shares the old bytes, only name and dims change', () => {
    const w = makeTensor('W', DataType.FLOAT, [K, C * 4], values(K * C * 4, (i) => i));
    const b = makeTensor('b', DataType.FLOAT, [1, K], [1, 2, 3]);
    const { weight, bias } = linearToConv(layer(w, true, 1, 1, b, C * 4), [2, 2], { weight: 'Wc', bias: () => 'bc' }, bytesOf);
    assert.equal(weight.raw_data, w.raw_data, 'same view, no copy');
    assert.deepEqual(weight.dims, [K, C, 2, 2]);
    assert.equal(bias!.raw_data, b.raw_data);
    assert.deepEqual(bias!.dims, [K]);
  });

  test('a scalar bias is broadcast to every class', () => {
    const w = makeTensor('W', DataType.FLOAT, [K, C], values(K * C, () => 1));
    const b = makeTensor('b', DataType.FLOAT, [], [0.25]);
    const { bias } = linearToConv(layer(w, true, 1, 1, b), [1, 1], { weight: 'Wc', bias: () => 'bc' }, bytesOf);
    assert.deepEqual([...readFloats(bias!)], [0.25, 0.25, 0.25]);
  });

  test('a BatchNorm on the input features folds into W and b: W·diag(s), b + W·t', () => {
    const w = makeTensor('W', DataType.DOUBLE, [K, C], values(K * C, (i) => i + 1));
    const bn = batchNormAffine({
      scale: makeTensor('g', DataType.DOUBLE, [C], [1, 2, 3, 4]), bias: makeTensor('be', DataType.DOUBLE, [C], [0, 1, 0, 1]),
      mean: makeTensor('m', DataType.DOUBLE, [C], [0, 0, 1, 1]), variance: makeTensor('v', DataType.DOUBLE, [C], [1, 1, 1, 1]), epsilon: 0,
    }, bytesOf);
    const { weight, bias } = linearToConv(layer(w, true, 1, 1), [1, 1], { weight: 'Wc', bias: () => 'bc' }, bytesOf, bn);
    const W = readFloats(w);
    const scale = [1, 2, 3, 4];
    const shift = [0, 1, -3, -3]; // beta - mean·scale
    const got = readFloats(weight);
    const gotBias = readFloats(bias!);
    for (let k = 0; k < K; k++) {
      let t = 0;
      for (let c = 0; c < C; c++) {
        assert.equal(got[k * C + c], W[k * C + c]! * scale[c]!);
        t += W[k * C + c]! * shift[c]!;
      }
      assert.equal(gotBias[k], t);
    }
  });
});
