// What may sit between a global pool and its linear layer: ops that only drop the unit spatial
// dims ([N, C, 1, 1] → [N, C]), inference no-ops, and BatchNormalization (folded into the weights).

import { attrInt, isDefaultDomain, type GraphView } from '../graph/graph.js';
import { nodeLabel } from '../text.js';
import type { Shapes } from '../graph/shapes.js';
import type { NodeProto } from '../onnx/schema.js';
import { isTrainingMode } from './ops.js';
import { axesOf, constInts, normAxes, sameAxes, spatialAxes } from './read.js';
import { noMatch, type NoMatch } from './reasons.js';

/** An op between pool and linear layer that the rewrite absorbs. */
export interface BetweenOp {
  readonly node: NodeProto;
  readonly role: 'drop-unit-dims' | 'no-op' | 'batchnorm';
}

/** Does `node` only drop the unit spatial dims of `shapeIn` ([N,C,1,1] → [N,C])? */
function dropsUnitDims(graph: GraphView, node: NodeProto, shapes: Shapes): boolean | NoMatch {
  const input = node.input[0]!;
  const inShape = shapes.get(input);
  const outShape = node.output[0] ? shapes.get(node.output[0]) : undefined;
  const label = nodeLabel(node);
  if (node.op_type === 'Flatten') {
    const axis = attrInt(node, 'axis', 1);
    if (axis === 1) return true;
    return noMatch('not-a-flatten', `Flatten '${label}' has axis ${axis}, not 1`, node);
  }
  if (node.op_type === 'Squeeze') {
    const rank = inShape?.length;
    const axes = axesOf(graph, node, 13);
    if (axes === 'dynamic') return noMatch('not-a-flatten', `Squeeze '${label}' takes its axes at run time`, node);
    if (rank === undefined) return noMatch('unknown-dims', `the rank of '${input}' is unknown`, node);
    if (axes === undefined) {
      // No axes: squeezes every 1, including a batch of 1 — only safe when the result is [N, C].
      return outShape?.length === 2 ? true : noMatch('not-a-flatten', `Squeeze '${label}' without axes may drop the batch dim`, node);
    }
    return sameAxes(normAxes(axes, rank), spatialAxes(rank)) ? true : noMatch('not-a-flatten', `Squeeze '${label}' removes axes other than the spatial ones`, node);
  }
  if (node.op_type === 'Reshape') {
    // Accept a target of [N, C]: a constant ([-1, C], [0, -1], [N, C]) or computed from the
    // tensor's own Shape (PyTorch's x.view(x.size(0), -1)), which shape inference resolves.
    if (outShape && inShape && outShape.length === 2) {
      const c = inShape[1];
      const okBatch = outShape[0] === inShape[0] || (outShape[0] === undefined && inShape[0] === undefined);
      if (outShape[1] === c && c !== undefined && okBatch) return true;
    }
    const target = constInts(graph, node.input[1]);
    if (target && target.length === 2 && inShape && inShape.length >= 3) {
      const [a, b] = target as [number, number];
      const c = inShape[1];
      const batchOk = a === 0 || a === -1 || (typeof inShape[0] === 'number' && a === inShape[0]);
      const chanOk = b === -1 ? a !== -1 : b === c;
      if (batchOk && chanOk) return true;
    }
    if (!outShape) return noMatch('unknown-dims', `the target shape of Reshape '${label}' can't be determined`, node);
    return noMatch('not-a-flatten', `Reshape '${label}' gives [${outShape.join(', ')}], not [N, C]`, node);
  }
  return false;
}

export const CROSS_CHANNEL_NORMS = new Set(['LayerNormalization', 'ReduceMean', 'ReduceSum', 'ReduceL2', 'LpNormalization', 'InstanceNormalization', 'GroupNormalization', 'MeanVarianceNormalization', 'RMSNormalization']);

export function classifyBetween(graph: GraphView, node: NodeProto, shapes: Shapes): BetweenOp | NoMatch {
  const label = nodeLabel(node);
  const op = node.op_type ?? '';
  if (!isDefaultDomain(node)) return noMatch('not-linear-between', `${node.domain}.${op} '${label}' sits between the pool and the linear layer`, node);
  if (op === 'Flatten' || op === 'Squeeze' || op === 'Reshape') {
    const r = dropsUnitDims(graph, node, shapes);
    if (r === true) return { node, role: 'drop-unit-dims' };
    if (r !== false) return r;
  }
  if (op === 'Identity') return { node, role: 'no-op' };
  if (op === 'Dropout') {
    if (isTrainingMode(graph, node) || (node.input[2] && constInts(graph, node.input[2])?.[0] !== 0)) {
      return noMatch('training-output-used', `Dropout '${label}' runs in training mode or its mask is read`, node);
    }
    return { node, role: 'no-op' };
  }
  if (op === 'BatchNormalization') {
    if (isTrainingMode(graph, node)) return noMatch('training-output-used', `BatchNormalization '${label}' runs in training mode`, node);
    if (!node.input.slice(1, 5).every((i) => i && graph.constant(i))) {
      return noMatch('not-linear-between', `BatchNormalization '${label}' has non-constant statistics`, node);
    }
    return { node, role: 'batchnorm' };
  }
  if (CROSS_CHANNEL_NORMS.has(op)) return noMatch('normalization-between', `${op} '${label}' normalizes across channels between the pool and the linear layer`, node);
  return noMatch('not-linear-between', `${op} '${label}' between the pool and the linear layer is not linear`, node);
}

