// A QDQ head: global pool → (QuantizeLinear → DequantizeLinear) → (ops on unit dims) → linear
// layer(s) whose weights are integer constants behind a DequantizeLinear — what onnxruntime's
// quantize_static, NNCF, AIMET and TensorRT's QAT export write.
//
//   Gemm(DQ(Q(Flatten(GAP(X)))), DQ(W_q), DQ(b_q)) = Flatten(Conv1x1(DQ(Q(GAP(X))), DQ(W_q as [K, C, 1, 1]), DQ(b_q)))
//
// Pool-first, every Q/DQ stays where it was: an activation's (de)quantization is per tensor (or
// per channel on axis 1) and so works the same on [N, C] and [N, C, 1, 1]; the integer weight only
// changes layout — the same bytes for a Gemm's [K, C], transposed as integers for a MatMul's
// [C, K] — and a per-channel scale follows its axis. A dequantized bias stays a dequantized input.
//
// Conditions, besides the global-pool rule's: the head holds a quantization (else that rule takes
// it); each kept Q/DQ is read by the next op only; a dequantized weight has alpha = beta = 1 and
// no BatchNormalization to fold, and is dequantized per tensor or per axis (not in blocks).
// Conv-first would move the Conv to the other side of the activations' quantization: refused
// (quantized-between) — unless only the weights are quantized.
// Operator-format models (QLinearMatMul, QGemm) compute on integers: refused (quantized-operator).

import type { GraphView } from '../../graph/graph.js';
import { makeAttribute, makeNode } from '../../onnx/builder.js';
import type { NodeProto, TensorProto } from '../../onnx/schema.js';
import { elementCount, makeTensor, readFloats, readInts, type TensorBytes } from '../../onnx/tensor.js';
import { isScalarConstant } from '../ops.js';
import { nodeLabel } from '../../text.js';
import { classifyBetween } from '../between.js';
import { addConvParams, type ConvParamNames } from '../emit.js';
import { applyHead, describeHead, headCost, matchHead, type HeadMatch } from '../head.js';
import { matchLinear, type LinearLayer } from '../linear.js';
import { disguisedPoolPins, matchGlobalPool, walkFromPool, type WalkDialect } from '../pool.js';
import { activationQuant, isQuantizeOp } from '../qdq.js';
import { noMatch, type NoMatch } from '../reasons.js';
import { classMapOf, type TailRule } from '../rule.js';
import { sameData, transposeValues } from '../weights.js';

export interface QuantizedMatch extends HeadMatch {
  /** The activation Q/DQ between pool and first layer, in order: the rewrite keeps them. */
  readonly kept: readonly NodeProto[];
}

/** What a QDQ head may hold: activation Q/DQ between pool and layer, dequantized weights. */
const QDQ_WALK: WalkDialect = {
  between(graph, node, layout, shapes) {
    const q = activationQuant(graph, node, layout);
    if (q === true) return { op: { node, role: 'kept' }, layout };
    return q ?? classifyBetween(graph, node, layout, shapes);
  },
  linear: (graph, node, value, rank) => matchLinear(graph, node, value, true, rank),
};

/** A quantized head's last checks: what the rewrite can't carry over is refused. */
function finish(graph: GraphView, m: HeadMatch): QuantizedMatch | NoMatch {
  const kept = m.between.filter((b) => b.role === 'kept').map((b) => b.node);
  for (const k of kept) {
    const out = k.output[0] ?? '';
    if (graph.consumers(out).length !== 1 || graph.isGraphOutput(out)) {
      return noMatch('not-linear-between', `${k.op_type} '${nodeLabel(k)}' on the pooled features is read elsewhere too`, k);
    }
  }
  for (const l of m.layers) {
    if (!l.dequantized) continue;
    const label = nodeLabel(l.nodes[0]!);
    if (l.alpha !== 1 || l.beta !== 1) return noMatch('quantized-weight', `'${label}' scales its dequantized weight or bias (alpha ${l.alpha}, beta ${l.beta})`, l.nodes[0]);
    if (l === m.layers[0] && m.between.some((b) => b.role === 'batchnorm')) {
      return noMatch('quantized-weight', `a BatchNormalization before '${label}' would have to fold into its integer weight`, l.nodes[0]);
    }
  }
  // The kept ops' outputs become [N, C, 1, 1]: their declared shapes would be stale.
  return { ...m, kept, reshapedValues: [...m.reshapedValues, ...kept.map((k) => k.output[0] ?? '')] };
}

/**
 * Conv parameters of a layer with dequantized weights: the integer weight as [K, C, 1, 1] (its
 * bytes, or transposed as integers) behind a new DequantizeLinear whose per-channel axis follows
 * the output channels; a dequantized [K] bias as it is, a [1, K] one re-dimensioned.
 */
function dequantizedConvParams(graph: GraphView, layer: LinearLayer, kernel: number[], bytes: TensorBytes): ConvParamNames {
  const dq = layer.dequantized?.weight;
  const bias = layer.biasName && layer.dequantized?.bias ? dequantizedBias(graph, layer, bytes) : undefined;
  if (!dq) {
    // A float weight (only the bias, or only the activations, quantized): folded as usual.
    const float = addConvParams(graph, bias ? { ...layer, bias: undefined, biasName: undefined } : layer, kernel, bytes);
    return bias ? { ...float, bias: bias.value, nodes: bias.node ? [bias.node] : [] } : float;
  }
  const K = layer.outFeatures;
  const C = layer.inFeatures;
  const dims = [K, C, ...kernel];
  const name = graph.uniqueName(`${dq.xName}_conv`);
  let x: TensorProto;
  if (layer.transB) {
    x = sameData(dq.x, name, dims);
  } else {
    // [C, K] → [K, C]: integers moved as integers, a QAT float weight as floats (no rounding either way).
    const v = dq.quantize ? readFloats(dq.x, bytes) : readInts(dq.x, bytes);
    x = makeTensor(name, dq.x.data_type!, dims, transposeValues(v, C, K));
  }
  graph.addInitializer(x);
  // Per-axis scales: along the outputs (axis 0 of [K, C]; 1 of [C, K]) → the Conv's axis 0, else its axis 1.
  const outAxis = layer.transB ? 0 : 1;
  const axis = dq.axis === undefined ? undefined : dq.axis === outAxis ? 0 : 1;
  const quantize = dq.quantize && quantizationLike(graph, dq.quantize, name, axis);
  const weight = quantizationLike(graph, dq.node, quantize?.output[0] ?? name, axis);
  const b = bias ?? (layer.biasName ? dequantizedBias(graph, layer, bytes) : undefined);
  return { weight: weight.output[0]!, ...(b ? { bias: b.value } : {}), nodes: [...(quantize ? [quantize] : []), weight, ...(b?.node ? [b.node] : [])] };
}

/** A node like `like` (a QuantizeLinear or DequantizeLinear: same scale, zero point, attributes) of `x`, per-axis along `axis`. */
function quantizationLike(graph: GraphView, like: NodeProto, x: string, axis: number | undefined): NodeProto {
  const output = graph.uniqueName(`${like.output[0]}_conv`);
  const node = makeNode(like.op_type!, [x, ...like.input.slice(1)], [output], {}, graph.uniqueName(`${like.name || output}/gapify/${like.op_type}`), like.domain);
  return { ...node, attribute: [...like.attribute.filter((a) => a.name !== 'axis'), ...(axis !== undefined ? [makeAttribute('axis', axis)] : [])] };
}

/**
 * The Conv's [K] bias: a dequantized one as it is (re-dimensioned, with a DequantizeLinear of its
 * own, if [1, K]), a float one renamed as [K].
 */
function dequantizedBias(graph: GraphView, layer: LinearLayer, bytes: TensorBytes): { value: string; node?: NodeProto } {
  const dq = layer.dequantized?.bias;
  const b = layer.bias!;
  const K = layer.outFeatures;
  if (dq && b.dims.length === 1 && Number(b.dims[0]) === K) return { value: dq.node.output[0]! };
  const name = graph.uniqueName(`${dq?.xName ?? layer.biasName}_conv`);
  // [1, K] and [K] are the same bytes; a scalar is spread over the K outputs.
  const one = elementCount(b.dims) === 1 && K !== 1;
  graph.addInitializer(one ? makeTensor(name, b.data_type!, [K], new Array<number>(K).fill((dq ? readInts(b, bytes) : readFloats(b, bytes))[0]!)) : sameData(b, name, [K]));
  if (!dq) return { value: name };
  const node = quantizationLike(graph, dq.node, name, dq.axis === undefined ? undefined : 0);
  return { value: node.output[0]!, node };
}

export const quantizedRule: TailRule<QuantizedMatch> = {
  id: 'quantized',

  match(node, ctx) {
    const { graph, shapes } = ctx;
    const found = matchGlobalPool(graph, node, shapes);
    if (!found || 'code' in found) return undefined;
    const walked = walkFromPool(graph, found.pool, shapes, QDQ_WALK);
    // A head with no quantization at all is the global-pool rule's.
    const quantized = walked.visited.some(isQuantizeOp) || walked.tails.some((t) => t.linear.dequantized);
    if (!quantized) return undefined;
    return matchHead(this, node, ctx, found, walked, (n, v) => matchLinear(graph, n, v, true), (m) => finish(graph, m));
  },

  orders: (m) => (m.kept.length ? ['pool-first'] : ['conv-first', 'pool-first']),

  orderRefusal(m, order) {
    const q = m.kept[0]!;
    return noMatch('quantized-between', `${q.op_type} '${nodeLabel(q)}' quantizes the pooled features before the linear layer: ${order} would move the Conv to its other side`, q);
  },

  cost: headCost,

  apply(graph, m, order, bytes) {
    return applyHead(graph, m, order, {
      params: (layer, kernel) => dequantizedConvParams(graph, layer, kernel, bytes),
      // The kept Q/DQ now read the pooled [N, C, 1, 1] map, one after the other, the Conv the last.
      poolFirstInput: (pooled) => m.kept.reduce((input, k) => {
        // A per-channel axis given from the end (-1 of [N, C]) would name a unit dim of [N, C, 1, 1]: name the channels.
        const perChannel = k.attribute.some((a) => a.name === 'axis') && !isScalarConstant(graph, k.input[1] ?? '');
        if (k.input[0] !== input || perChannel) {
          const attribute = perChannel ? [...k.attribute.filter((a) => a.name !== 'axis'), makeAttribute('axis', 1)] : k.attribute;
          graph.replace(k, { ...k, input: [input, ...k.input.slice(1)], attribute });
        }
        return k.output[0]!;
      }, pooled),
      notes: [`quantized head: ${m.kept.length ? `the activations' ${m.kept.map((k) => k.op_type).join(' → ')} stay${m.kept.length === 1 ? 's' : ''} where ${m.kept.length === 1 ? 'it was' : 'they were'}; ` : ''}integer weights keep their values and scales`],
    });
  },

  describe(m, words) {
    return describeHead(m, words, this.orders(m), (n) => `${n === 1 ? '1×1 Conv' : `${n} 1×1 Convs`} with the same quantized weights`);
  },

  pins: (m) => disguisedPoolPins(m.pool, m.featureShape),

  classMap(m, change) {
    if (m.kept.length) return { none: 'the pooled features are quantized before the linear layer, so its Conv can\'t run on the map (quantized-between)' };
    return classMapOf(m, change);
  },
};
