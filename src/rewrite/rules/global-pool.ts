// Global pool → (ops on unit dims) → linear layer(s), float weights.
//
//   Gemm(Flatten(GAP(X)), W, b) = Flatten(GAP(Conv1x1(X, W, b)))     conv-first: the Conv's output is a class map
//                               = Flatten(Conv1x1(GAP(X), W, b))     pool-first: the Gemm's MACs, no Gemm left
//
// because the spatial mean commutes with a map that is linear per position. An MLP head's later
// layers (MobileNetV3: Linear → Hardswish → Dropout → Linear) become 1×1 Convs on the [N, K, 1, 1]
// map too, the elementwise ops between them unchanged, so the head keeps no Gemm or MatMul:
//
//   Gemm₂(act(Gemm₁(Flatten(GAP(X))))) = Flatten(Conv1x1₂(act(Conv1x1₁(GAP(X)))))
//
// Conditions:
//   - the pool averages the whole map: GlobalAveragePool, ReduceMean over the spatial axes (also
//     tf2onnx's NHWC Transpose → ReduceMean(1, 2)), or an AveragePool (after an optional zero Pad)
//     whose kernel equals the map with no padding — global at the trained size only (noted);
//   - between pool and first layer, ops that only move, drop or insert unit dims, judged by the
//     shape (Flatten, Squeeze, Unsqueeze, Reshape, a Transpose that keeps the batch first — so a
//     Linear after permute(0, 2, 3, 1), with its Flatten after it, is the same map), inference no-ops
//     (Identity, Dropout) and BatchNormalization with constant statistics on the channel axis
//     (folded into the weights);
//   - the layer is a Gemm (transA = 0, any alpha/beta/transB) on [N, C], or a MatMul (+ Add of a
//     constant bias) on the channels' axis, with a float constant weight of C inputs;
//   - later layers follow through elementwise ops only the head reads;
//   - a maximum (GlobalMaxPool, ReduceMax, timm's avg + max) does not commute with the layer: max-pool.
// Conv-first moves only the first layer before the pool: the others stay after it, on the pooled map.

import type { GraphView } from '../../graph/graph.js';
import { attrFloat } from '../../graph/graph.js';
import type { TensorBytes } from '../../onnx/tensor.js';
import { addConvParams } from '../emit.js';
import { applyHead, describeHead, headCost, matchHead, type HeadMatch } from '../head.js';
import { matchLinear } from '../linear.js';
import { disguisedPoolPins, linearAhead, matchGlobalPool, walkFromPool } from '../pool.js';
import { classMapOf, refusal, type TailRule } from '../rule.js';
import { batchNormAffine, composeAffine, type ChannelAffine } from '../weights.js';

export type GlobalTailMatch = HeadMatch;

/** Per-channel affine maps (BatchNormalization) between pool and linear layer, composed. */
function foldBetween(graph: GraphView, m: GlobalTailMatch, bytes: TensorBytes): ChannelAffine | undefined {
  let affine: ChannelAffine | undefined;
  for (const b of m.between) {
    if (b.role !== 'batchnorm') continue;
    const [, s, bias, mean, variance] = b.node.input;
    const next = batchNormAffine({
      scale: graph.constant(s!)!, bias: graph.constant(bias!)!, mean: graph.constant(mean!)!, variance: graph.constant(variance!)!,
      epsilon: attrFloat(b.node, 'epsilon', 1e-5),
    }, bytes);
    affine = affine ? composeAffine(affine, next) : next;
  }
  return affine;
}

export const globalPoolRule: TailRule<GlobalTailMatch> = {
  id: 'global',

  match(node, ctx) {
    const { graph, shapes } = ctx;
    const found = matchGlobalPool(graph, node, shapes);
    if (!found) return undefined;
    if ('code' in found) {
      // Refused with the Flatten on the way to its layer: no spatial tail starts there.
      const ahead = linearAhead(graph, node.output.filter(Boolean), shapes);
      return ahead ? { findings: [refusal(this, node, found)], claims: [node, ...ahead.path.filter((n) => n.op_type === 'Flatten' || n.op_type === 'Reshape')] } : undefined;
    }
    return matchHead(this, node, ctx, found, walkFromPool(graph, found.pool, shapes), (n, v) => matchLinear(graph, n, v), (m) => m);
  },

  orders: () => ['conv-first', 'pool-first'],

  cost: headCost,

  apply(graph, m, order, bytes) {
    const affine = foldBetween(graph, m, bytes);
    return applyHead(graph, m, order, {
      // A BatchNormalization before the first layer folds into its weights; the others have none.
      params: (layer, kernel, i) => addConvParams(graph, layer, kernel, bytes, i === 0 ? affine : undefined),
      notes: affine ? ['BatchNormalization folded into the Conv weights and bias'] : [],
    });
  },

  describe(m, words) {
    return describeHead(m, words, this.orders(m), (n) => (n === 1 ? '1×1 Conv' : `${n} 1×1 Convs`));
  },

  pins: (m) => disguisedPoolPins(m.pool, m.featureShape),

  classMap: (m, change) => classMapOf(m, change),
};
