// Writes the small synthetic test models in fixtures/ (run: `npm run fixtures`).
//
// Every fixture is the same tiny CNN backbone followed by one classifier tail:
//
//   input [N,3,32,32]
//     │
//   Conv 3×3, 3→8, pad 1            /conv1/Conv     (conv1.weight [8,3,3,3], conv1.bias [8])
//   Relu                            /relu/Relu
//   Conv 3×3, 8→16, stride 2, pad 1 /conv2/Conv     (conv2.weight [16,8,3,3], conv2.bias [16])
//   Relu                            /relu_1/Relu    → [N,16,16,16]
//     │
//   <tail>                          → logits [N,10]
//
// Weights come from a seeded PRNG and every fixture draws them in the same order from the same
// seed, so all fixtures share the backbone weights and the classifier weights (fc.weight [10,16],
// fc.bias [10]). The tails that compute the same function (resnet, reshape_const, reshape_shape,
// squeeze, reducemean, matmul_add, fanout, transA; fp16 up to rounding) therefore give the same
// logits, softmax_tail gives their softmax, and `check()` at the end verifies that through
// onnxruntime: the fixtures are checked against each other, not only loaded. Output is
// byte-for-byte deterministic (`--no-check` skips the onnxruntime run).
//
// After writing, every fixture in fixtures/ (including the exporter models copied from
// ../shared/models, if present) is loaded and run once in onnxruntime-node.

import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { encode } from '../src/onnx/codec.js';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, type AttrValue } from '../src/onnx/builder.js';
import { Net, Rng } from '../test/support/net.js';
import { DataType, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from '../src/onnx/schema.js';
import { floatToHalf, halfToFloat } from '../src/onnx/tensor.js';

// dist/scripts/make-fixtures.js → <root>/fixtures
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURES = join(ROOT, 'fixtures');

const SEED = 0x5eed_9a9f;

interface Fixture {
  file: string;
  model: ModelProto;
}

interface FixtureSpec {
  opset?: number;
  irVersion?: number;
  dtype?: number;
  batch?: number | string;
  /** Graph outputs besides `logits` ([name, dims]). */
  outputs?: [string, (number | string)[]][];
  /** Builds the tail from the backbone output; returns nothing (outputs are named by the spec). */
  tail(net: Net, x: string): void;
}

function fixture(file: string, doc: string, spec: FixtureSpec): Fixture {
  const dtype = spec.dtype ?? DataType.FLOAT;
  const batch = spec.batch ?? 'N';
  const net = new Net(dtype, new Rng(SEED));
  const x = net.backbone('input');
  spec.tail(net, x);
  const outputs = spec.outputs ?? [['logits', [batch, 10]]];
  const graph: GraphProto = makeGraph(
    net.nodes,
    'main_graph',
    [makeValueInfo('input', dtype, [batch, 3, 32, 32])],
    outputs.map(([name, dims]) => makeValueInfo(name, dtype, dims)),
    net.initializers,
  );
  const model = makeModel(graph, {
    opset: spec.opset ?? 13,
    irVersion: spec.irVersion ?? 8,
    producer: 'gapify make-fixtures',
    docString: doc,
  });
  return { file, model };
}

const gemmAttrs = { alpha: { f: 1 }, beta: { f: 1 }, transB: 1 } as const;

/** Gemm(x, fc.weight, fc.bias) with PyTorch's nn.Linear layout (transB=1). */
function linear(net: Net, x: string, output = 'logits'): string {
  const { w, b } = net.classifier();
  const fw = net.weight('fc.weight', [10, 16], w);
  const fb = net.weight('fc.bias', [10], b);
  return net.op('Gemm', '/fc/Gemm', [x, fw, fb], gemmAttrs, output);
}

const fixtures: Fixture[] = [
  // resnet_tail: torchvision ResNet's head (avgpool = AdaptiveAvgPool2d(1), torch.flatten(x, 1), fc).
  //
  //   /relu_1 [N,16,16,16] ─ GlobalAveragePool ─ [N,16,1,1] ─ Flatten(axis 1) ─ [N,16]
  //     ─ Gemm(fc.weight [10,16], fc.bias [10], transB 1) ─ logits [N,10]
  fixture('resnet_tail.onnx', 'ResNet-style tail: GlobalAveragePool → Flatten → Gemm (the README example)', {
    tail(net, x) {
      x = net.op('GlobalAveragePool', '/avgpool/GlobalAveragePool', [x]);
      x = net.op('Flatten', '/Flatten', [x], { axis: 1 });
      linear(net, x);
    },
  }),

  // reshape_const_tail: `x.reshape(-1, 16)` instead of flatten.
  //
  //   /relu_1 ─ GlobalAveragePool ─ [N,16,1,1] ─┐
  //                     Constant [-1, 16] (int64) ─ Reshape ─ [N,16] ─ Gemm ─ logits [N,10]
  fixture('reshape_const_tail.onnx', 'GlobalAveragePool → Reshape to the constant [-1, 16] → Gemm', {
    tail(net, x) {
      x = net.op('GlobalAveragePool', '/avgpool/GlobalAveragePool', [x]);
      const shape = net.constInt64('/Constant', [2], [-1, 16]);
      x = net.op('Reshape', '/Reshape', [x, shape]);
      linear(net, x);
    },
  }),

  // reshape_shape_tail: PyTorch's `x.view(x.size(0), -1)` as exported at opset 13.
  //
  //   /relu_1 ─ GlobalAveragePool ─ p [N,16,1,1] ──────────────────────────────────┐
  //                                 │                                               │
  //                               Shape ─ [4] ─ Gather(Constant 0, axis 0) ─ []       │
  //                                 ─ Unsqueeze(axes Constant [0]) ─ [1] ─┐           │
  //                                           Constant [-1] ──────── Concat(axis 0) ─ [2]
  //                                                                                 Reshape ─ [N,16]
  //                                                                                   ─ Gemm ─ logits
  fixture('reshape_shape_tail.onnx', "x.view(x.size(0), -1): GlobalAveragePool → Shape → Gather → Unsqueeze → Concat → Reshape → Gemm", {
    tail(net, x) {
      const p = net.op('GlobalAveragePool', '/avgpool/GlobalAveragePool', [x]);
      const shape = net.op('Shape', '/Shape', [p]);
      const zero = net.constInt64('/Constant', [], [0]);
      const n = net.op('Gather', '/Gather', [shape, zero], { axis: 0 });
      const axes = net.constInt64('/Constant_1', [1], [0]);
      const n1 = net.op('Unsqueeze', '/Unsqueeze', [n, axes]);
      const minus1 = net.constInt64('/Constant_2', [1], [-1]);
      const target = net.op('Concat', '/Concat', [n1, minus1], { axis: 0 });
      const flat = net.op('Reshape', '/Reshape', [p, target]);
      linear(net, flat);
    },
  }),

  // squeeze_tail: `x.mean((2, 3), keepdim=True).squeeze(3).squeeze(2)` style, opset 13 (Squeeze
  // takes its axes as an input).
  //
  //   /relu_1 ─ ReduceMean(axes [2,3], keepdims 1) ─ [N,16,1,1] ─┐
  //                                       Constant [2, 3] (int64) ─ Squeeze ─ [N,16] ─ Gemm ─ logits
  fixture('squeeze_tail.onnx', 'ReduceMean(axes [2,3], keepdims 1) → Squeeze(axes input [2,3]) → Gemm, opset 13', {
    tail(net, x) {
      x = net.op('ReduceMean', '/ReduceMean', [x], { axes: [2, 3], keepdims: 1 });
      const axes = net.constInt64('/Constant', [2], [2, 3]);
      x = net.op('Squeeze', '/Squeeze', [x, axes]);
      linear(net, x);
    },
  }),

  // reducemean_tail: ShuffleNetV2's `x.mean([2, 3])` at opset 11: no Flatten at all.
  //
  //   /relu_1 ─ ReduceMean(axes [2,3], keepdims 0) ─ [N,16] ─ Gemm ─ logits [N,10]
  fixture('reducemean_tail.onnx', 'ShuffleNet-style tail: ReduceMean(axes [2,3], keepdims 0) → Gemm, opset 11', {
    opset: 11,
    irVersion: 6,
    tail(net, x) {
      x = net.op('ReduceMean', '/ReduceMean', [x], { axes: [2, 3], keepdims: 0 });
      linear(net, x);
    },
  }),

  // matmul_add_tail: a Dense layer as tf2onnx/Keras export it: MatMul by W [in, out], then Add.
  // W is fc.weight transposed, so the logits equal resnet_tail's.
  //
  //   /relu_1 ─ GlobalAveragePool ─ Flatten ─ [N,16] ─ MatMul(dense/kernel [16,10]) ─ [N,10]
  //     ─ Add(dense/bias [10]) ─ logits [N,10]
  fixture('matmul_add_tail.onnx', 'Keras/tf2onnx-style dense layer: GlobalAveragePool → Flatten → MatMul → Add', {
    tail(net, x) {
      x = net.op('GlobalAveragePool', 'global_average_pooling2d/Mean', [x]);
      x = net.op('Flatten', 'flatten/Reshape', [x], { axis: 1 });
      const { w, b } = net.classifier();
      const wt = new Array<number>(16 * 10);
      for (let o = 0; o < 10; o++) for (let i = 0; i < 16; i++) wt[i * 10 + o] = w[o * 16 + i]!;
      const kernel = net.weight('dense/kernel', [16, 10], wt);
      const bias = net.weight('dense/bias', [10], b);
      x = net.op('MatMul', 'dense/MatMul', [x, kernel]);
      net.op('Add', 'dense/BiasAdd', [x, bias], {}, 'logits');
    },
  }),

  // gemm_alpha_beta_tail: a Gemm using every scalar: Y = 0.5 · A·B + 2.0 · C, B not transposed
  // ([in, out]), C of shape [1,10] (broadcast over the batch).
  //
  //   /relu_1 ─ GlobalAveragePool ─ Flatten ─ [N,16]
  //     ─ Gemm(B [16,10], C [1,10], alpha 0.5, beta 2.0, transB 0) ─ logits [N,10]
  fixture('gemm_alpha_beta_tail.onnx', 'Gemm with alpha 0.5, beta 2.0, transB 0, B [16,10] and C [1,10]', {
    tail(net, x) {
      x = net.op('GlobalAveragePool', '/avgpool/GlobalAveragePool', [x]);
      x = net.op('Flatten', '/Flatten', [x], { axis: 1 });
      const { w, b } = net.classifier();
      const bt = new Array<number>(16 * 10);
      for (let o = 0; o < 10; o++) for (let i = 0; i < 16; i++) bt[i * 10 + o] = w[o * 16 + i]!;
      const B = net.weight('fc.B', [16, 10], bt);
      const C = net.weight('fc.C', [1, 10], b);
      net.op('Gemm', '/fc/Gemm', [x, B, C], { alpha: { f: 0.5 }, beta: { f: 2 }, transB: 0 }, 'logits');
    },
  }),

  // fanout_tail: the pooled features are a graph output too (an embedding read elsewhere), so the
  // Flatten output must survive any rewrite.
  //
  //   /relu_1 ─ GlobalAveragePool ─ Flatten ─ features [N,16] ─┬─ Gemm ─ logits [N,10]
  //                                                           └─ (graph output)
  fixture('fanout_tail.onnx', 'GlobalAveragePool → Flatten → Gemm, the Flatten output `features` is also a graph output', {
    outputs: [['logits', ['N', 10]], ['features', ['N', 16]]],
    tail(net, x) {
      x = net.op('GlobalAveragePool', '/avgpool/GlobalAveragePool', [x]);
      x = net.op('Flatten', '/Flatten', [x], { axis: 1 }, 'features');
      linear(net, x);
    },
  }),

  // already_gap: a SqueezeNet/NIN head, already convolutional: nothing to rewrite. The 1×1 conv
  // uses fc.weight reshaped to [10,16,1,1].
  //
  //   /relu_1 ─ Conv 1×1 (16→10) ─ Relu ─ GlobalAveragePool ─ [N,10,1,1] ─ Flatten ─ logits [N,10]
  fixture('already_gap.onnx', 'SqueezeNet/NIN head: Conv 1x1 → Relu → GlobalAveragePool → Flatten (no linear layer)', {
    tail(net, x) {
      const { w, b } = net.classifier();
      const cw = net.weight('classifier.1.weight', [10, 16, 1, 1], w);
      const cb = net.weight('classifier.1.bias', [10], b);
      x = net.op('Conv', '/classifier/classifier.1/Conv', [x, cw, cb], {
        dilations: [1, 1],
        group: 1,
        kernel_shape: [1, 1],
        pads: [0, 0, 0, 0],
        strides: [1, 1],
      });
      x = net.op('Relu', '/classifier/classifier.2/Relu', [x]);
      x = net.op('GlobalAveragePool', '/classifier/classifier.3/GlobalAveragePool', [x]);
      net.op('Flatten', '/Flatten', [x], { axis: 1 }, 'logits');
    },
  }),

  // softmax_tail: resnet_tail whose logits feed a Softmax; only the probabilities are an output.
  //
  //   /relu_1 ─ GlobalAveragePool ─ Flatten ─ Gemm ─ logits [N,10] ─ Softmax(axis 1) ─ probs [N,10]
  fixture('softmax_tail.onnx', 'ResNet tail whose logits feed a Softmax: the graph output is `probs`', {
    outputs: [['probs', ['N', 10]]],
    tail(net, x) {
      x = net.op('GlobalAveragePool', '/avgpool/GlobalAveragePool', [x]);
      x = net.op('Flatten', '/Flatten', [x], { axis: 1 });
      x = linear(net, x);
      net.op('Softmax', '/Softmax', [x], { axis: 1 }, 'probs');
    },
  }),

  // maxpool_tail (negative case): the max over positions does not commute with a linear map.
  //
  //   /relu_1 ─ GlobalMaxPool ─ Flatten ─ Gemm ─ logits [N,10]
  fixture('maxpool_tail.onnx', 'Negative case: GlobalMaxPool → Flatten → Gemm (max is not linear)', {
    tail(net, x) {
      x = net.op('GlobalMaxPool', '/pool/GlobalMaxPool', [x]);
      x = net.op('Flatten', '/Flatten', [x], { axis: 1 });
      linear(net, x);
    },
  }),

  // transA_tail (negative case): the features reach the Gemm transposed (transA 1), so the pooled
  // channels are not the Gemm's rows.
  //
  //   /relu_1 ─ GlobalAveragePool ─ Flatten ─ [N,16] ─ Transpose(perm [1,0]) ─ [16,N]
  //     ─ Gemm(transA 1, transB 1) ─ logits [N,10]
  fixture('transA_tail.onnx', 'Negative case: Flatten → Transpose(perm [1,0]) → Gemm(transA 1)', {
    tail(net, x) {
      x = net.op('GlobalAveragePool', '/avgpool/GlobalAveragePool', [x]);
      x = net.op('Flatten', '/Flatten', [x], { axis: 1 });
      x = net.op('Transpose', '/Transpose', [x], { perm: [1, 0] });
      const { w, b } = net.classifier();
      const fw = net.weight('fc.weight', [10, 16], w);
      const fb = net.weight('fc.bias', [10], b);
      net.op('Gemm', '/fc/Gemm', [x, fw, fb], { alpha: { f: 1 }, beta: { f: 1 }, transA: 1, transB: 1 }, 'logits');
    },
  }),

  // squeeze2_tail: PyTorch's `x.squeeze(-1).squeeze(-1)`: two Squeezes of one axis each, one Flatten in effect.
  //
  //   /relu_1 ─ GlobalAveragePool ─ [N,16,1,1] ─ Squeeze(axes [-1]) ─ [N,16,1] ─ Squeeze(axes [-1]) ─ [N,16] ─ Gemm ─ logits
  fixture('squeeze2_tail.onnx', 'x.squeeze(-1).squeeze(-1): GlobalAveragePool → Squeeze → Squeeze → Gemm, opset 13', {
    tail(net, x) {
      x = net.op('GlobalAveragePool', '/avgpool/GlobalAveragePool', [x]);
      x = net.op('Squeeze', '/Squeeze', [x, net.constInt64('/Constant', [1], [-1])]);
      x = net.op('Squeeze', '/Squeeze_1', [x, net.constInt64('/Constant_1', [1], [-1])]);
      linear(net, x);
    },
  }),

  // channels_last_tail: a Linear after `x.permute(0, 2, 3, 1)` (code ported from TF/JAX): the
  // MatMul works on the last axis of [N,1,1,16], a Flatten follows. The weight is fc.weight
  // transposed, so the logits are resnet_tail's.
  //
  //   /relu_1 ─ GlobalAveragePool ─ [N,16,1,1] ─ Transpose(perm [0,2,3,1]) ─ [N,1,1,16]
  //     ─ MatMul(fc.weight_t [16,10]) ─ Add(fc.bias) ─ [N,1,1,10] ─ Flatten ─ logits [N,10]
  fixture('channels_last_tail.onnx', 'permute(0, 2, 3, 1) → Linear: GlobalAveragePool → Transpose → MatMul → Add → Flatten', {
    tail(net, x) {
      x = net.op('GlobalAveragePool', '/avgpool/GlobalAveragePool', [x]);
      x = net.op('Transpose', '/Transpose', [x], { perm: [0, 2, 3, 1] });
      const { w, b } = net.classifier();
      const wt = new Array<number>(16 * 10);
      for (let o = 0; o < 10; o++) for (let i = 0; i < 16; i++) wt[i * 10 + o] = w[o * 16 + i]!;
      x = net.op('MatMul', '/fc/MatMul', [x, net.weight('fc.weight_t', [16, 10], wt)]);
      x = net.op('Add', '/fc/Add', [x, net.weight('fc.bias', [10], b)]);
      net.op('Flatten', '/Flatten', [x], { axis: 1 }, 'logits');
    },
  }),

  // mlp_tail: MobileNetV3's classifier: Linear → Hardswish → Dropout → Linear after the pool.
  //
  //   /relu_1 ─ GlobalAveragePool ─ Flatten ─ Gemm(16→12) ─ HardSwish ─ Dropout ─ Gemm(12→10) ─ logits
  fixture('mlp_tail.onnx', 'MLP head: GlobalAveragePool → Flatten → Gemm → HardSwish → Dropout → Gemm, opset 14', {
    opset: 14,
    tail(net, x) {
      x = net.op('GlobalAveragePool', '/avgpool/GlobalAveragePool', [x]);
      x = net.op('Flatten', '/Flatten', [x], { axis: 1 });
      x = net.op('Gemm', '/classifier/0/Gemm', [x, net.weight('classifier.0.weight', [12, 16], net.normals(12 * 16, 0.25)), net.weight('classifier.0.bias', [12], net.uniforms(12, 0.25))], gemmAttrs);
      x = net.op('HardSwish', '/classifier/1/HardSwish', [x]);
      x = net.op('Dropout', '/classifier/2/Dropout', [x]);
      net.op('Gemm', '/classifier/3/Gemm', [x, net.weight('classifier.3.weight', [10, 12], net.normals(10 * 12, 0.3)), net.weight('classifier.3.bias', [10], net.uniforms(10, 0.25))], gemmAttrs, 'logits');
    },
  }),

  // qdq_tail: resnet_tail as onnxruntime's quantize_static (QDQ format) writes it: the pooled
  // activations quantized to uint8 and back, the weight int8 per output channel, the bias int32
  // with scale activation·weight scale, the logits quantized to uint8 and back.
  //
  //   /relu_1 ─ GlobalAveragePool ─ Q ─ DQ ─ Flatten ─ Gemm ─ Q ─ DQ ─ logits
  //                       fc.weight: DQ(int8 [10,16], scale [10], axis 0) ─┘   │
  //                       fc.bias:   DQ(int32 [10], scale [10], axis 0) ───────┘
  fixture('qdq_tail.onnx', 'QDQ (quantize_static) resnet tail: GlobalAveragePool → Q/DQ → Flatten → Gemm(DQ int8 weight, DQ int32 bias) → Q/DQ', {
    tail(net, x) {
      const inScale = 4 / 255;
      x = net.qdq('/avgpool/GlobalAveragePool_output_0', net.op('GlobalAveragePool', '/avgpool/GlobalAveragePool', [x]), inScale, 0);
      x = net.op('Flatten', '/Flatten', [x], { axis: 1 });
      const { w, b } = net.classifier();
      const fw = net.dequantized('fc.weight', [10, 16], w, 0);
      const fb = net.dequantizedBias('fc.bias', b, inScale, 'fc.weight_scale');
      const y = net.op('Gemm', '/fc/Gemm', [x, fw, fb], gemmAttrs);
      net.op('Identity', '/logits/Identity', [net.qdq('/fc/Gemm_output_0', y, 8 / 255, 128)], {}, 'logits');
    },
  }),

  // fp16_tail: resnet_tail entirely in float16 (input, weights in raw_data, output).
  //
  //   input f16 [N,3,32,32] ─ backbone (f16) ─ GlobalAveragePool ─ Flatten ─ Gemm ─ logits f16 [N,10]
  fixture('fp16_tail.onnx', 'ResNet tail entirely in float16 (weights as float16 raw_data)', {
    dtype: DataType.FLOAT16,
    tail(net, x) {
      x = net.op('GlobalAveragePool', '/avgpool/GlobalAveragePool', [x]);
      x = net.op('Flatten', '/Flatten', [x], { axis: 1 });
      linear(net, x);
    },
  }),
];

// ---------------------------------------------------------------------------------------------
// Models that are not image classifiers, as a CI step that lints every .onnx of a repository meets
// them: gapify has nothing to say about them (no image input, no classifier tail).

const values = (n: number, seed: number): number[] => {
  const r = new Rng(seed);
  return Array.from({ length: n }, () => r.uniform(-0.5, 0.5));
};

// wakeword_mlp: a wake-word detector, an MLP over a 16×96 window of audio features.
//
//   features [1,16,96] ─ Flatten ─ Gemm(1536→32) ─ Relu ─ Gemm(32→1) ─ Sigmoid ─ score [1,1]
const wakeword: Fixture = {
  file: 'wakeword_mlp.onnx',
  model: makeModel(makeGraph(
    [
      makeNode('Flatten', ['features'], ['/Flatten_output_0'], { axis: 1 }, '/Flatten'),
      makeNode('Gemm', ['/Flatten_output_0', 'fc1.weight', 'fc1.bias'], ['/fc1/Gemm_output_0'], { transB: 1 }, '/fc1/Gemm'),
      makeNode('Relu', ['/fc1/Gemm_output_0'], ['/relu/Relu_output_0'], {}, '/relu/Relu'),
      makeNode('Gemm', ['/relu/Relu_output_0', 'fc2.weight', 'fc2.bias'], ['/fc2/Gemm_output_0'], { transB: 1 }, '/fc2/Gemm'),
      makeNode('Sigmoid', ['/fc2/Gemm_output_0'], ['score'], {}, '/Sigmoid'),
    ],
    'wakeword', [makeValueInfo('features', DataType.FLOAT, [1, 16, 96])], [makeValueInfo('score', DataType.FLOAT, [1, 1])],
    [
      makeTensor('fc1.weight', DataType.FLOAT, [32, 1536], values(32 * 1536, 1)), makeTensor('fc1.bias', DataType.FLOAT, [32], values(32, 2)),
      makeTensor('fc2.weight', DataType.FLOAT, [1, 32], values(32, 3)), makeTensor('fc2.bias', DataType.FLOAT, [1], [0.1]),
    ],
  ), { opset: 13, irVersion: 8, producer: 'gapify make-fixtures', docString: 'Not an image model: an MLP wake-word detector over a 1×16×96 feature window' }),
};

// vad_gru: a voice-activity detector, a bidirectional GRU with its state as an input and an output.
//
//   x [10,batch,40], h0 [2,batch,64] ─ GRU(64, bidirectional) ─ y [10,2,batch,64] ─ ReduceMean(axes 0, 1) ─ Gemm ─ logits [batch,2]
//                                                               └ hn [2,batch,64]
const H = 64;
const vad: Fixture = {
  file: 'vad_gru.onnx',
  model: makeModel(makeGraph(
    [
      makeNode('GRU', ['x', 'gru.W', 'gru.R', 'gru.B', '', 'h0'], ['/gru/GRU_output_0', 'hn'], { hidden_size: H, direction: 'bidirectional' }, '/gru/GRU'),
      makeNode('ReduceMean', ['/gru/GRU_output_0'], ['/ReduceMean_output_0'], { axes: [0, 1], keepdims: 0 }, '/ReduceMean'),
      makeNode('Gemm', ['/ReduceMean_output_0', 'out.weight', 'out.bias'], ['logits'], { transB: 1 }, '/out/Gemm'),
    ],
    'vad',
    [makeValueInfo('x', DataType.FLOAT, [10, 'batch', 40]), makeValueInfo('h0', DataType.FLOAT, [2, 'batch', H])],
    [makeValueInfo('logits', DataType.FLOAT, ['batch', 2]), makeValueInfo('hn', DataType.FLOAT, [2, 'batch', H])],
    [
      makeTensor('gru.W', DataType.FLOAT, [2, 3 * H, 40], values(2 * 3 * H * 40, 4)), makeTensor('gru.R', DataType.FLOAT, [2, 3 * H, H], values(2 * 3 * H * H, 5)),
      makeTensor('gru.B', DataType.FLOAT, [2, 6 * H], values(2 * 6 * H, 6)), makeTensor('out.weight', DataType.FLOAT, [2, H], values(2 * H, 7)), makeTensor('out.bias', DataType.FLOAT, [2], [0, 0]),
    ],
  ), { opset: 13, irVersion: 8, producer: 'gapify make-fixtures', docString: 'Not an image model: a GRU voice-activity detector whose state [2, batch, 64] is an input' }),
};

fixtures.push(wakeword, vad);

// ---------------------------------------------------------------------------------------------
// Checks through onnxruntime (graph optimizations off, so what runs is what the file says).

function toFloat32(t: ort.Tensor): Float32Array {
  if (t.type === 'float32') return t.data as Float32Array;
  if (t.type === 'float16') {
    const bits = t.data as Uint16Array;
    return Float32Array.from(bits, halfToFloat);
  }
  throw new Error(`unexpected output type ${t.type}`);
}

async function run(path: string, batch: number): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(path, { graphOptimizationLevel: 'disabled' });
  const feeds: Record<string, ort.Tensor> = {};
  const rng = new Rng(1234);
  for (const name of session.inputNames) {
    const meta = session.inputMetadata.find((m) => m.name === name);
    if (!meta || !meta.isTensor) throw new Error(`${path}: input ${name} is not a tensor`);
    const dims = meta.shape.map((d) => (typeof d === 'number' ? d : batch));
    const count = dims.reduce((a, b) => a * b, 1);
    const values = Float32Array.from({ length: count }, () => rng.uniform(-1, 1));
    if (meta.type === 'float16') {
      feeds[name] = new ort.Tensor('float16', Uint16Array.from(values, floatToHalf), dims);
    } else {
      feeds[name] = new ort.Tensor('float32', values, dims);
    }
  }
  const results = await session.run(feeds);
  const out: Record<string, Float32Array> = {};
  for (const name of session.outputNames) out[name] = toFloat32(results[name]!);
  await session.release();
  return out;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

async function check(): Promise<void> {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.onnx')).sort();
  const outputs = new Map<string, Record<string, Float32Array>>();
  for (const f of files) {
    const path = join(FIXTURES, f);
    // The exporter models have a fixed batch of 1 (mobilenet's is symbolic but 1 is fine).
    const out = await run(path, f.endsWith('_tail.onnx') || f === 'already_gap.onnx' || f === 'vad_gru.onnx' ? 2 : 1);
    outputs.set(f, out);
    const summary = Object.entries(out).map(([k, v]) => `${k}[${v.length}]`).join(' ');
    console.log(`  ok  ${f.padEnd(28)} ${(statSync(path).size / 1024).toFixed(1).padStart(8)} KB  ${summary}`);
  }
  // Same function, same weights: same logits.
  const ref = outputs.get('resnet_tail.onnx')?.logits;
  if (!ref) throw new Error('resnet_tail.onnx did not run');
  for (const f of ['reshape_const_tail.onnx', 'reshape_shape_tail.onnx', 'squeeze_tail.onnx', 'squeeze2_tail.onnx', 'channels_last_tail.onnx', 'reducemean_tail.onnx', 'matmul_add_tail.onnx', 'fanout_tail.onnx', 'transA_tail.onnx']) {
    const got = outputs.get(f)?.logits;
    if (!got) throw new Error(`${f}: no logits`);
    const d = maxDiff(ref, got);
    if (!(d < 1e-5)) throw new Error(`${f}: logits differ from resnet_tail's by ${d}`);
  }
  const probs = outputs.get('softmax_tail.onnx')?.probs;
  const softmax = new Float32Array(ref.length);
  for (let r = 0; r < ref.length; r += 10) {
    const row = ref.subarray(r, r + 10);
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const sum = e.reduce((a, b) => a + b, 0);
    for (let i = 0; i < 10; i++) softmax[r + i] = e[i]! / sum;
  }
  if (!probs || !(maxDiff(softmax, probs) < 1e-6)) throw new Error('softmax_tail.onnx: probs are not softmax(resnet_tail logits)');
  const fp16 = outputs.get('fp16_tail.onnx')?.logits;
  if (!fp16 || !(maxDiff(ref, fp16) < 0.05)) throw new Error(`fp16_tail.onnx: logits differ from resnet_tail's by ${fp16 ? maxDiff(ref, fp16) : 'all'}`);
  // Quantized: within a few steps of the logits' scale (8/255) of the float model.
  const qdq = outputs.get('qdq_tail.onnx')?.logits;
  if (!qdq || !(maxDiff(ref, qdq) < 0.15)) throw new Error(`qdq_tail.onnx: logits differ from resnet_tail's by ${qdq ? maxDiff(ref, qdq) : 'all'}`);
  const maxLogit = Math.max(...ref.map(Math.abs));
  console.log(`  equivalent tails agree with resnet_tail (max |logit| ${maxLogit.toFixed(3)}; fp16 within ${maxDiff(ref, fp16).toFixed(4)}; qdq within ${maxDiff(ref, qdq).toFixed(4)})`);
}

async function main(): Promise<void> {
  mkdirSync(FIXTURES, { recursive: true });
  for (const { file, model } of fixtures) {
    const bytes = encode('onnx.ModelProto', model);
    writeFileSync(join(FIXTURES, file), bytes);
  }
  console.log(`wrote ${fixtures.length} fixtures to ${FIXTURES}`);
  if (!process.argv.includes('--no-check')) await check();
}

await main();
