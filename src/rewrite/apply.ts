// Applying a matched tail to the graph view. The last new node takes over the old tail's output
// name, so graph outputs, their dtypes and shapes, and downstream consumers (Softmax, ArgMax, …)
// are unchanged. Old nodes are removed only when nothing else reads their outputs.

import type { GraphView } from '../graph/graph.js';
import { attrFloat, nodeLabel } from '../graph/graph.js';
import { makeNode } from '../onnx/builder.js';
import type { NodeProto } from '../onnx/schema.js';
import type { TensorBytes } from '../onnx/tensor.js';
import type { GlobalTail, PoolOnlyTail, SpatialTail, Tail } from './match.js';
import { tailCost } from './cost.js';
import { batchNormAffine, composeAffine, linearToConv, type ChannelAffine } from './weights.js';

export type Order = 'conv-first' | 'pool-first';
export const ORDERS = ['auto', 'conv-first', 'pool-first'] as const;
export type OrderOption = (typeof ORDERS)[number];

/** What one rewrite did, for the report. */
export interface TailChange {
  kind: Tail['kind'];
  /** The pool (global) or Flatten (spatial) node the tail starts at. */
  at: string;
  order?: Order;
  /** The value the new nodes now produce (the old tail's output). */
  output: string;
  layers: { node: string; op: string; weight: number[]; became: string }[];
  removed: string[];
  added: string[];
  /** The Conv output holding one map per class (conv-first / spatial): what --cam exposes. */
  classMap?: string;
  /** Parameters of the rewritten layers (unchanged by the rewrite). */
  params: number;
  /** Multiply-accumulates per sample at the analysed input size; undefined when the size is unknown. */
  macsBefore: number | undefined;
  macsAfter: number | undefined;
  notes: string[];
}

const label = nodeLabel;

function baseName(n: NodeProto): string {
  return n.name || n.output[0] || n.op_type || 'gapify';
}

/** Per-channel affine maps (BatchNormalization) between pool and linear layer, composed. */
function foldBetween(graph: GraphView, tail: GlobalTail, bytes: TensorBytes): ChannelAffine | undefined {
  let affine: ChannelAffine | undefined;
  for (const b of tail.between) {
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

function convNode(graph: GraphView, base: string, input: string, params: { weight: string; bias?: string }, kernel: number[], output: string): NodeProto {
  const inputs = params.bias ? [input, params.weight, params.bias] : [input, params.weight];
  return makeNode('Conv', inputs, [output], { kernel_shape: kernel }, graph.uniqueName(`${base}/gapify/Conv`));
}

/**
 * Gemm(Flatten(GAP(X)), W, b) = Flatten(GAP(Conv1x1(X, W, b)))          (conv-first)
 *                             = Flatten(Conv1x1(GAP(X), W, b))          (pool-first)
 * because the spatial mean commutes with a map that is linear per position.
 */
export function applyGlobalTail(graph: GraphView, tail: GlobalTail, order: Order, bytes: TensorBytes): TailChange {
  const { pool, linear, featureShape } = tail;
  const gemm = linear.nodes[0]!;
  const base = baseName(gemm);
  const kernel = featureShape.slice(2).map(() => 1);
  const affine = foldBetween(graph, tail, bytes);
  const params = linearToConv(linear, kernel, {
    weight: graph.uniqueName(`${linear.weightName}_conv`),
    bias: graph.uniqueName(`${linear.biasName ?? `${linear.weightName}_bias`}_conv`),
  }, bytes, affine);
  graph.addInitializer(params.weight);
  if (params.bias) graph.addInitializer(params.bias);
  const names = { weight: params.weight.name!, ...(params.bias ? { bias: params.bias.name! } : {}) };

  const added: NodeProto[] = [];
  let classMap: string | undefined;
  if (order === 'conv-first') {
    classMap = graph.uniqueName(`${linear.output}_class_map`);
    const pooled = graph.uniqueName(`${linear.output}_pooled`);
    added.push(
      convNode(graph, base, pool.input, names, kernel, classMap),
      makeNode('GlobalAveragePool', [classMap], [pooled], {}, graph.uniqueName(`${base}/gapify/GlobalAveragePool`)),
      makeNode('Flatten', [pooled], [linear.output], { axis: 1 }, graph.uniqueName(`${base}/gapify/Flatten`)),
    );
  } else {
    // Reuse the model's own pooled map when it is already [N, C, 1, …].
    let pooled = pool.output;
    const keepsDims = pool.node.op_type === 'GlobalAveragePool' || (pool.node.op_type === 'ReduceMean' && pool.node.attribute.every((a) => a.name !== 'keepdims' || Number(a.i) !== 0));
    if (!keepsDims || pool.disguised || pool.channelsLast) {
      pooled = graph.uniqueName(`${pool.input}_pooled`);
      added.push(makeNode('GlobalAveragePool', [pool.input], [pooled], {}, graph.uniqueName(`${base}/gapify/GlobalAveragePool`)));
    }
    const scores = graph.uniqueName(`${linear.output}_scores`);
    added.push(
      convNode(graph, base, pooled, names, kernel, scores),
      makeNode('Flatten', [scores], [linear.output], { axis: 1 }, graph.uniqueName(`${base}/gapify/Flatten`)),
    );
  }
  const before = new Set(graph.nodes);
  graph.insertAfter(gemm, added);
  graph.detach(linear.nodes);
  graph.removeDead([...tail.between.map((b) => b.node), pool.node, ...(pool.pad ? [pool.pad] : []), ...(pool.channelsLast ? [pool.channelsLast] : [])]);
  const kept = new Set(graph.nodes);
  const removed = [...before].filter((n) => !kept.has(n));

  const cost = tailCost(tail);
  const notes: string[] = [];
  if (affine) notes.push('BatchNormalization folded into the Conv weights and bias');
  if (tail.laterLayers.length) notes.push(`MLP head: only the first linear layer moves before the pool; ${tail.laterLayers.map((l) => `'${l}'`).join(', ')} ${tail.laterLayers.length === 1 ? 'stays' : 'stay'} after it, behind a nonlinearity`);
  if (pool.disguised) notes.push(`${pool.node.op_type} '${label(pool.node)}' covered exactly the trained map; at other input sizes it averaged only a corner — now it is a global average`);
  return {
    kind: 'global', at: label(pool.node), order, output: linear.output,
    layers: [{ node: label(gemm), op: linear.nodes.map((n) => n.op_type).join('+'), weight: [linear.outFeatures, linear.inFeatures], became: `Conv ${kernel.join('×')}` }],
    removed: removed.map(label), added: added.map(label),
    ...(classMap ? { classMap } : {}),
    params: cost.params,
    macsBefore: cost.macs.before ?? undefined,
    macsAfter: (order === 'conv-first' ? cost.macs.convFirst : cost.macs.poolFirst) ?? undefined,
    notes,
  };
}

/**
 * Gemm_k(…Gemm_1(Flatten(X))) = Flatten(GAP(Conv1x1_k(…Conv_HxW(X))))   at the trained size, where
 * the H×W conv's output is 1×1; at larger sizes it is dense evaluation (VGG, §3.2).
 */
export function applySpatialTail(graph: GraphView, tail: SpatialTail, bytes: TensorBytes): TailChange {
  const [, channels, h, w] = tail.featureShape as [unknown, number, number, number];
  const added: NodeProto[] = [];
  const before = new Set(graph.nodes);
  const last = tail.layers.length - 1;
  let input = tail.input;
  let classMap = '';
  const layers: TailChange['layers'] = [];
  tail.layers.forEach((layer, i) => {
    const kernel = i === 0 ? [h, w] : [1, 1];
    const params = linearToConv(layer, kernel, {
      weight: graph.uniqueName(`${layer.weightName}_conv`),
      bias: graph.uniqueName(`${layer.biasName ?? `${layer.weightName}_bias`}_conv`),
    }, bytes);
    graph.addInitializer(params.weight);
    if (params.bias) graph.addInitializer(params.bias);
    // Inner layers keep their output names: the activations between them read those.
    const out = i === last ? graph.uniqueName(`${layer.output}_class_map`) : layer.output;
    const conv = convNode(graph, baseName(layer.nodes[0]!), i === 0 ? input : layer.input, { weight: params.weight.name!, ...(params.bias ? { bias: params.bias.name! } : {}) }, kernel, out);
    // Add before detaching, so the map the conv reads is never seen as dead.
    graph.nodes.push(conv);
    graph.invalidate();
    graph.detach(layer.nodes);
    added.push(conv);
    layers.push({ node: label(layer.nodes[0]!), op: layer.nodes.map((n) => n.op_type).join('+'), weight: [layer.outFeatures, layer.inFeatures], became: `Conv ${kernel.join('×')}` });
    input = out;
    classMap = out;
  });
  const lastLayer = tail.layers[last]!;
  const base = baseName(lastLayer.nodes[0]!);
  const pooled = graph.uniqueName(`${lastLayer.output}_pooled`);
  added.push(
    makeNode('GlobalAveragePool', [classMap], [pooled], {}, graph.uniqueName(`${base}/gapify/GlobalAveragePool`)),
    makeNode('Flatten', [pooled], [lastLayer.output], { axis: 1 }, graph.uniqueName(`${base}/gapify/Flatten`)),
  );
  graph.nodes.push(...added.slice(-2));
  graph.invalidate();
  graph.removeDead([tail.flatten]);
  // Values between the layers are maps now: their declared [N, K] shapes would be stale.
  const reshaped = new Set(tail.reshapedValues);
  graph.valueInfo = graph.valueInfo.filter((v) => !reshaped.has(v.name ?? ''));
  graph.sort();
  const kept = new Set(graph.nodes);
  const removed = [...before].filter((n) => !kept.has(n));
  const cost = tailCost(tail);
  return {
    kind: 'spatial', at: label(tail.flatten), output: lastLayer.output, layers,
    removed: removed.map(label), added: added.map(label), classMap,
    params: cost.params,
    macsBefore: cost.macs.before ?? undefined, macsAfter: cost.macs.convFirst ?? undefined,
    notes: [`exact at the trained size (${channels}×${h}×${w} map before the first Conv); at larger inputs the head is evaluated densely and averaged`],
  };
}

/** AveragePool with a kernel equal to the map = GlobalAveragePool at the trained size, and right at any other. */
export function applyPoolOnly(graph: GraphView, tail: PoolOnlyTail): TailChange {
  const { pool } = tail;
  const before = new Set(graph.nodes);
  const gap = makeNode('GlobalAveragePool', [pool.input], [pool.output], {}, graph.uniqueName(`${baseName(pool.node)}/gapify/GlobalAveragePool`));
  graph.insertAfter(pool.node, [gap]);
  graph.detach([pool.node]);
  if (pool.pad) graph.removeDead([pool.pad]);
  const kept = new Set(graph.nodes);
  const removed = [...before].filter((n) => !kept.has(n));
  return {
    kind: 'pool-only', at: label(pool.node), output: pool.output, layers: [], removed: removed.map(label), added: [label(gap)],
    params: 0, macsBefore: undefined, macsAfter: undefined,
    notes: [`${pool.node.op_type} '${label(pool.node)}' covered exactly the trained map; at other input sizes it averaged only a corner — now it is a global average`],
  };
}
