// What may sit between a global pool and its linear layer: ops that only move, drop or insert unit
// dims ([N, C, 1, 1] → [N, C], or → [N, 1, 1, C] for a channels-last Linear), inference no-ops, and
// BatchNormalization (folded into the weights).

import { attrInt, attrInts, isDefaultDomain, type GraphView } from '../graph/graph.js';
import { nodeLabel, shapeText } from '../text.js';
import type { Shapes } from '../graph/shapes.js';
import type { NodeProto } from '../onnx/schema.js';
import { isTrainingMode } from './ops.js';
import { axesOf, constInts, normAxes } from './read.js';
import { noMatch, type NoMatch } from './reasons.js';

/**
 * An op between pool and linear layer: one the rewrite absorbs (unit dims, no-ops, a BatchNorm it
 * folds), or one it keeps where it was (a QDQ model's activation quantization).
 */
export interface BetweenOp {
  readonly node: NodeProto;
  /** unit-dims: moves, drops or inserts unit dims, or does nothing at inference (unitDimStep). */
  readonly role: 'unit-dims' | 'batchnorm' | 'kept';
}

/**
 * Where the pooled features' two real axes are: the batch at axis 0 and the channels at `channel`,
 * every other dim being 1 ([N, C, 1, 1] after a GlobalAveragePool, [N, C] after a Flatten,
 * [N, 1, 1, C] after a channels-last Transpose). Ops that only move, drop or insert the unit dims
 * change this layout, never the data: the elements stay in the same order.
 */
export interface FeatureLayout {
  readonly rank: number;
  readonly channel: number;
}

/** The layout of [N, C] (and of a Gemm's output). */
export const FLAT: FeatureLayout = { rank: 2, channel: 1 };

const UNIT_DIM_OPS = new Set(['Flatten', 'Squeeze', 'Unsqueeze', 'Reshape', 'Transpose', 'Identity', 'Dropout']);

/**
 * The layout after `node` — one of Flatten, Squeeze, Unsqueeze, Reshape, Transpose, Identity,
 * Dropout — judged by what it does to the shape, not op by op: it may move, drop or insert unit
 * dims, but keep the batch at axis 0 and the channels whole. A refusal says what it does instead;
 * undefined: not such an op. (`x.squeeze(-1).squeeze(-1)` is two steps of one Flatten.)
 */
export function unitDimStep(graph: GraphView, node: NodeProto, layout: FeatureLayout, shapes: Shapes): FeatureLayout | NoMatch | undefined {
  const op = node.op_type ?? '';
  if (!UNIT_DIM_OPS.has(op) || !isDefaultDomain(node)) return undefined;
  const label = nodeLabel(node);
  const { rank, channel } = layout;
  const inShape = shapes.get(node.input[0] ?? '');
  const outShape = node.output[0] ? shapes.get(node.output[0]) : undefined;
  if (op === 'Identity' || op === 'Dropout') return layout;
  if (op === 'Flatten') {
    const raw = attrInt(node, 'axis', 1);
    const axis = raw < 0 ? raw + rank : raw;
    if (axis >= 1 && axis <= channel) return FLAT;
    return noMatch('not-a-flatten', `Flatten '${label}' has axis ${raw}, which folds ${axis < 1 ? 'the batch into the features' : 'the channels into the batch'}`, node);
  }
  if (op === 'Squeeze') {
    const axes = axesOf(graph, node, 13);
    if (axes === 'dynamic') return noMatch('not-a-flatten', `Squeeze '${label}' takes its axes at run time`, node);
    if (axes === undefined) {
      // No axes: squeezes every 1, including a batch of 1 — only safe when the result is [N, C].
      return outShape?.length === 2 ? FLAT : noMatch('not-a-flatten', `Squeeze '${label}' without axes may drop the batch dim`, node);
    }
    const drop = normAxes(axes, rank);
    if (drop.includes(0) || drop.includes(channel)) return noMatch('not-a-flatten', `Squeeze '${label}' removes ${drop.includes(0) ? 'the batch dim' : 'the channels'}`, node);
    return { rank: rank - drop.length, channel: channel - drop.filter((a) => a < channel).length };
  }
  if (op === 'Unsqueeze') {
    const axes = axesOf(graph, node, 13);
    if (axes === 'dynamic' || axes === undefined) return noMatch('not-a-flatten', `Unsqueeze '${label}' takes its axes at run time`, node);
    const added = normAxes(axes, rank + axes.length);
    if (added.includes(0)) return noMatch('not-a-flatten', `Unsqueeze '${label}' inserts a dim before the batch`, node);
    const kept = Array.from({ length: rank + added.length }, (_, i) => i).filter((i) => !added.includes(i));
    return { rank: kept.length + added.length, channel: kept[channel]! };
  }
  if (op === 'Transpose') {
    const perm = attrInts(node, 'perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
    if (perm.length !== rank || perm[0] !== 0) return noMatch('not-a-flatten', `Transpose '${label}' moves the batch dim`, node);
    return { rank, channel: perm.indexOf(channel) };
  }
  // Reshape: a target of [N, C] up to unit dims — a constant ([-1, C], [0, -1], [1, 1, C]) or
  // computed from the tensor's own Shape (PyTorch's x.view(x.size(0), -1)), which shape inference resolves.
  const c = inShape?.[channel];
  if (outShape && inShape) {
    const batchKept = outShape[0] === inShape[0];
    const channels = outShape.flatMap((d, i) => (i > 0 && d === c ? [i] : []));
    const units = outShape.every((d, i) => i === 0 || d === 1 || d === c);
    if (batchKept && typeof c === 'number' && units && (c === 1 || channels.length === 1)) {
      return { rank: outShape.length, channel: c === 1 ? outShape.length - 1 : channels[0]! };
    }
  }
  // The output's shape unknown (a target computed at run time inference can't follow): a constant [N|0|-1, C|-1] still says it.
  const target = constInts(graph, node.input[1]);
  if (!outShape && target?.length === 2 && inShape) {
    const [a, b] = target as [number, number];
    const batchOk = a === 0 || a === -1 || (typeof inShape[0] === 'number' && a === inShape[0]);
    if (batchOk && (b === -1 ? a !== -1 : b === c)) return FLAT;
  }
  if (!outShape) return noMatch('unknown-dims', `the target shape of Reshape '${label}' can't be determined`, node);
  return noMatch('not-a-flatten', `Reshape '${label}' gives ${shapeText(outShape)}, not [N, C] (up to dims of 1)`, node);
}

export const CROSS_CHANNEL_NORMS = new Set(['LayerNormalization', 'ReduceMean', 'ReduceSum', 'ReduceL2', 'LpNormalization', 'InstanceNormalization', 'GroupNormalization', 'MeanVarianceNormalization', 'RMSNormalization']);

/**
 * What `node`, reading the pooled features in `layout`, is to the rewrite: an op it absorbs (and the
 * layout after it), or a refusal that says why not.
 */
export function classifyBetween(graph: GraphView, node: NodeProto, layout: FeatureLayout, shapes: Shapes): { op: BetweenOp; layout: FeatureLayout } | NoMatch {
  const label = nodeLabel(node);
  const op = node.op_type ?? '';
  if (!isDefaultDomain(node)) return noMatch('not-linear-between', `${node.domain}.${op} '${label}' sits between the pool and the linear layer`, node);
  if (op === 'Dropout' && (isTrainingMode(graph, node) || (node.input[2] && constInts(graph, node.input[2])?.[0] !== 0))) {
    return noMatch('training-output-used', `Dropout '${label}' runs in training mode or its mask is read`, node);
  }
  const step = unitDimStep(graph, node, layout, shapes);
  if (step && 'code' in step) return step;
  if (step) return { op: { node, role: 'unit-dims' }, layout: step };
  if (op === 'BatchNormalization') {
    if (isTrainingMode(graph, node)) return noMatch('training-output-used', `BatchNormalization '${label}' runs in training mode`, node);
    // ONNX normalizes axis 1: the channels only in the [N, C, …] layout.
    if (layout.channel !== 1) return noMatch('not-linear-between', `BatchNormalization '${label}' normalizes axis 1, which is not the channels of ${shapeText(shapes.get(node.input[0] ?? ''))}`, node);
    if (!node.input.slice(1, 5).every((i) => i && graph.constant(i))) {
      return noMatch('not-linear-between', `BatchNormalization '${label}' has non-constant statistics`, node);
    }
    return { op: { node, role: 'batchnorm' }, layout };
  }
  if (CROSS_CHANNEL_NORMS.has(op)) return noMatch('normalization-between', `${op} '${label}' normalizes across channels between the pool and the linear layer`, node);
  return noMatch('not-linear-between', `${op} '${label}' between the pool and the linear layer is not linear`, node);
}

