// Reading QDQ models (onnxruntime's quantize_static, NNCF, AIMET, TensorRT's QAT export): weights
// are integer constants behind a DequantizeLinear; activations pass a QuantizeLinear → Dequantize-
// Linear pair. Read-only, like every matcher.

import { attrInt, isDefaultDomain, type GraphView } from '../graph/graph.js';
import type { NodeProto, TensorProto } from '../onnx/schema.js';
import { DataType } from '../onnx/schema.js';
import { elementCount } from '../onnx/tensor.js';
import { nodeLabel } from '../text.js';
import type { FeatureLayout } from './between.js';
import { noMatch, type NoMatch } from './reasons.js';

const INTEGER_TYPES = new Set<number>([DataType.INT8, DataType.UINT8, DataType.INT16, DataType.UINT16, DataType.INT32]);

/** A constant integer tensor dequantized by DequantizeLinear(x, scale[, zero_point]). */
export interface Dequantized {
  /** The DequantizeLinear node. */
  readonly node: NodeProto;
  /** Its integer input, and that input's name. */
  readonly x: TensorProto;
  readonly xName: string;
  /** One scale for the tensor (undefined), or one per index along this axis of x (normalized). */
  readonly axis: number | undefined;
}

const isQuantOp = (n: NodeProto | undefined, op: string): n is NodeProto => !!n && n.op_type === op && isDefaultDomain(n);

/** Elements of a constant input; undefined when not a constant. */
function constantCount(graph: GraphView, value: string | undefined): number | undefined {
  const t = value ? graph.constant(value) : undefined;
  if (!t) return undefined;
  try {
    return elementCount(t.dims);
  } catch {
    return undefined;
  }
}

/**
 * `value` as a dequantized integer constant — a QDQ model's weight or bias — or a refusal when it is
 * dequantized in a way gapify can't carry into a Conv (blocked scales, computed scales); undefined
 * when `value` is no DequantizeLinear output.
 */
export function dequantizedConstant(graph: GraphView, value: string): Dequantized | NoMatch | undefined {
  const node = graph.producer(value);
  if (!isQuantOp(node, 'DequantizeLinear')) return undefined;
  const label = nodeLabel(node);
  const xName = node.input[0];
  const x = xName ? graph.constant(xName) : undefined;
  if (!x || !xName || !INTEGER_TYPES.has(x.data_type ?? 0)) return noMatch('weight-not-constant', `DequantizeLinear '${label}' does not read an integer constant`, node);
  const scales = constantCount(graph, node.input[1]);
  if (scales === undefined || (node.input[2] && constantCount(graph, node.input[2]) === undefined)) {
    return noMatch('weight-not-constant', `the scale or zero point of DequantizeLinear '${label}' is computed at run time`, node);
  }
  if (attrInt(node, 'block_size', 0) !== 0) return noMatch('quantized-weight', `DequantizeLinear '${label}' dequantizes in blocks`, node);
  if (scales === 1) return { node, x, xName, axis: undefined };
  const rank = x.dims.length;
  const raw = attrInt(node, 'axis', 1);
  return { node, x, xName, axis: raw < 0 ? raw + rank : raw };
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
