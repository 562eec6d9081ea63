// Reading QDQ models (onnxruntime's quantize_static, NNCF, AIMET, TensorRT's QAT export): weights
// are integer constants behind a DequantizeLinear; activations pass a QuantizeLinear → Dequantize-
// Linear pair. Read-only, like every matcher.

import { attrInt, isDefaultDomain, type GraphView } from '../graph/graph.js';
import type { NodeProto, TensorProto } from '../onnx/schema.js';
import { DataType } from '../onnx/schema.js';
import { isFloatDType } from '../onnx/tensor.js';
import { nodeLabel } from '../text.js';
import type { FeatureLayout } from './between.js';
import { constantCount } from './read.js';
import { noMatch, type NoMatch } from './reasons.js';

const INTEGER_TYPES = new Set<number>([DataType.INT8, DataType.UINT8, DataType.INT16, DataType.UINT16, DataType.INT32]);

/**
 * A constant dequantized by DequantizeLinear(x, scale[, zero_point]): an integer tensor
 * (quantize_static), or a float one quantized just before by a QuantizeLinear (a QAT export's
 * fake quantization: NNCF, TensorRT's pytorch-quantization).
 */
export interface Dequantized {
  /** The DequantizeLinear node. */
  readonly node: NodeProto;
  /** The constant behind it — integers, or the float weight `quantize` quantizes — and its name. */
  readonly x: TensorProto;
  readonly xName: string;
  /** The QuantizeLinear of a float `x` (QAT), when there is one. */
  readonly quantize?: NodeProto;
  /** One scale for the tensor (undefined), or one per index along this axis of x (normalized). */
  readonly axis: number | undefined;
}

const isQuantOp = (n: NodeProto | undefined, op: string): n is NodeProto => !!n && n.op_type === op && isDefaultDomain(n);

/**
 * `value` as a dequantized integer constant — a QDQ model's weight or bias — or a refusal when it is
 * dequantized in a way gapify can't carry into a Conv (blocked scales, computed scales); undefined
 * when `value` is no DequantizeLinear output.
 */
export function dequantizedConstant(graph: GraphView, value: string): Dequantized | NoMatch | undefined {
  const node = graph.producer(value);
  if (!isQuantOp(node, 'DequantizeLinear')) return undefined;
  const label = nodeLabel(node);
  const scales = quantizationScales(graph, node);
  if ('code' in scales) return scales;
  const q = graph.producer(node.input[0] ?? '');
  // QAT: float weight → QuantizeLinear → DequantizeLinear, both with the same scales.
  if (isQuantOp(q, 'QuantizeLinear') && q.input[0] && graph.consumers(q.output[0] ?? '').length === 1) {
    const x = graph.constant(q.input[0]);
    if (!x || !isFloatDType(x.data_type)) return noMatch('weight-not-constant', `QuantizeLinear '${nodeLabel(q)}' does not read a constant float weight`, q);
    const qScales = quantizationScales(graph, q);
    if ('code' in qScales) return qScales;
    return { node, x, xName: q.input[0], quantize: q, axis: scales.axis(x.dims.length) };
  }
  const xName = node.input[0];
  const x = xName ? graph.constant(xName) : undefined;
  if (!x || !xName || !INTEGER_TYPES.has(x.data_type ?? 0)) return noMatch('weight-not-constant', `DequantizeLinear '${label}' does not read an integer constant`, node);
  return { node, x, xName, axis: scales.axis(x.dims.length) };
}

/** A Q or DQ node's scales: constant, not in blocks; `axis(rank)`: the per-axis axis, undefined per tensor. */
function quantizationScales(graph: GraphView, node: NodeProto): { axis(rank: number): number | undefined } | NoMatch {
  const label = nodeLabel(node);
  const scales = constantCount(graph, node.input[1]);
  if (scales === undefined || (node.input[2] && constantCount(graph, node.input[2]) === undefined)) {
    return noMatch('weight-not-constant', `the scale or zero point of ${node.op_type} '${label}' is computed at run time`, node);
  }
  if (attrInt(node, 'block_size', 0) !== 0) return noMatch('quantized-weight', `${node.op_type} '${label}' quantizes in blocks`, node);
  const raw = attrInt(node, 'axis', 1);
  return { axis: (rank) => (scales === 1 ? undefined : raw < 0 ? raw + rank : raw) };
}

/**
 * Is `node` a QuantizeLinear or DequantizeLinear on the pooled features that works the same on
 * [N, C] and on [N, C, 1, 1]: per tensor, or per channel on axis 1 while the channels are there?
 * undefined: neither op.
 */
export function activationQuant(graph: GraphView, node: NodeProto, layout: FeatureLayout): true | NoMatch | undefined {
  if (!isQuantOp(node, 'QuantizeLinear') && !isQuantOp(node, 'DequantizeLinear')) return undefined;
  const scales = constantCount(graph, node.input[1]);
  if (scales === undefined) return noMatch('not-linear-between', `the scale of ${node.op_type} '${nodeLabel(node)}' is computed at run time`, node);
  if (scales === 1) return true;
  const axis = attrInt(node, 'axis', 1);
  if ((axis === 1 || axis === 1 - layout.rank) && layout.channel === 1) return true;
  return noMatch('not-linear-between', `${node.op_type} '${nodeLabel(node)}' quantizes per index of axis ${axis}, not of the channels`, node);
}

/** A QuantizeLinear or DequantizeLinear (any form): what makes a head a quantized one. */
export const isQuantizeOp = (n: NodeProto): boolean => isQuantOp(n, 'QuantizeLinear') || isQuantOp(n, 'DequantizeLinear');
