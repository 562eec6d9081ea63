// Linear layers: y = alpha·x·op(W) + beta·b with W and b constants — a Gemm, or a MatMul (+ Add).
// What every tail form rewrites into a convolution.

import { attr, attrInt, isDefaultDomain, type GraphView } from '../graph/graph.js';
import { nodeLabel, shapeText } from '../text.js';
import type { NodeProto, TensorProto } from '../onnx/schema.js';
import { isFloatDType } from '../onnx/tensor.js';
import { elementwiseRegion, isIntegerLinearOp, isLinearLayerOp } from './ops.js';
import { dequantizedConstant, type Dequantized } from './qdq.js';
import { noMatch, type NoMatch } from './reasons.js';

/** y = alpha·x·op(W) + beta·b, with W and b constants: a Gemm, or a MatMul (+ Add). */
export interface LinearLayer {
  readonly nodes: readonly NodeProto[];
  readonly input: string;
  /** The value the rewritten tail takes over. */
  readonly output: string;
  /** The float weight, or, when `dequantized`, the integer tensor a DequantizeLinear reads. */
  readonly weight: TensorProto;
  readonly weightName: string;
  /** A QDQ model's layer: its weight and/or its bias are dequantized integer constants. */
  readonly dequantized?: { readonly weight?: Dequantized; readonly bias?: Dequantized };
  /** True when the weight is stored [out, in] (Gemm transB=1), false for [in, out]. */
  readonly transB: boolean;
  readonly alpha: number;
  readonly beta: number;
  readonly bias?: TensorProto;
  readonly biasName?: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
}

/** Parameters of a layer (the rewrite keeps them). */
export function layerParams(l: LinearLayer): number {
  return l.inFeatures * l.outFeatures + (l.bias ? l.outFeatures : 0);
}

/** 'Gemm', 'MatMul+Add'. */
export const layerOps = (l: LinearLayer): string => l.nodes.map((n) => n.op_type).join('+');

/** Why an integer layer (operator-format quantization) is not rewritten. */
export function integerLayer(node: NodeProto): NoMatch {
  return noMatch('quantized-operator', `${node.op_type} '${nodeLabel(node)}' computes on integers; gapify rewrites float and QDQ models (rewrite the float model, then quantize it)`, node);
}

/** A layer's weight or bias: a float constant, or (QDQ models, when allowed) a dequantized integer one. */
type Operand = { tensor: TensorProto; name: string; dequantized?: Dequantized } | NoMatch | undefined;

function operand(graph: GraphView, name: string, quantized: boolean): Operand {
  const tensor = graph.constant(name);
  if (tensor) return { tensor, name };
  if (!quantized) return undefined;
  const dq = dequantizedConstant(graph, name);
  return dq && !('code' in dq) ? { tensor: dq.x, name: dq.xName, dequantized: dq } : dq;
}

/**
 * The Gemm or MatMul(+Add) reading `value` as its activations, with a float constant weight — or,
 * with `quantized`, a dequantized integer one. The caller checks the activations' layout (a Gemm
 * reads [N, C], a MatMul the last axis).
 */
export function matchLinear(graph: GraphView, node: NodeProto, value: string, quantized = false, rank = 2): LinearLayer | NoMatch | undefined {
  const label = nodeLabel(node);
  if (isIntegerLinearOp(node)) return integerLayer(node);
  if (!isDefaultDomain(node)) return undefined;
  const output = node.output[0];
  if (!output) return undefined;
  if (node.op_type === 'Gemm') {
    if (node.input[0] !== value) return noMatch('weight-not-constant', `the pooled features are Gemm '${label}''s weight operand`, node);
    if (attrInt(node, 'transA', 0) !== 0) return noMatch('trans-a', `Gemm '${label}' has transA=1`, node);
    const weight = operand(graph, node.input[1]!, quantized);
    if (!weight) return noMatch('weight-not-constant', `Gemm '${label}''s weight '${node.input[1]}' is computed at run time`, node);
    if ('code' in weight) return weight;
    const transB = attrInt(node, 'transB', 0) === 1;
    const alpha = attr(node, 'alpha')?.f ?? 1;
    const beta = attr(node, 'beta')?.f ?? 1;
    return finishLinear(graph, [node], value, output, weight, transB, alpha, beta, node.input[2] || undefined, label, quantized);
  }
  if (node.op_type === 'MatMul') {
    if (node.input[0] !== value) return noMatch('weight-not-constant', `the pooled features are MatMul '${label}''s right operand`, node);
    const weight = operand(graph, node.input[1]!, quantized);
    if (!weight) return noMatch('weight-not-constant', `MatMul '${label}''s weight '${node.input[1]}' is computed at run time`, node);
    if ('code' in weight) return weight;
    // Fold a following Add of a constant [K] / [1, K] / scalar bias; any other Add stays after us.
    const consumers = graph.consumers(output);
    const add = consumers[0];
    if (consumers.length === 1 && add && add.op_type === 'Add' && isDefaultDomain(add) && !graph.isGraphOutput(output) && add.output[0]) {
      const other = add.input[0] === output ? add.input[1] : add.input[0];
      const bias = other ? operand(graph, other, quantized) : undefined;
      // A bias of more dims than the output would broadcast it to a higher rank: not a bias.
      if (other && bias && !('code' in bias) && bias.tensor.dims.length <= rank && biasFits(bias.tensor, weight.tensor.dims.length === 2 ? Number(weight.tensor.dims[1]) : -1)) {
        return finishLinear(graph, [node, add], value, add.output[0], weight, false, 1, 1, other, label, quantized);
      }
    }
    return finishLinear(graph, [node], value, output, weight, false, 1, 1, undefined, label, quantized);
  }
  return undefined;
}

/** A bias that adds one value per output: [K], [1, K], [1, 1, 1, K] or a scalar — never one with a batch. */
export function biasFits(bias: TensorProto, k: number): boolean {
  const dims = bias.dims.map(Number);
  const last = dims.length ? dims[dims.length - 1] : 1;
  return dims.slice(0, -1).every((d) => d === 1) && (last === 1 || last === k);
}

function finishLinear(
  graph: GraphView, nodes: NodeProto[], input: string, output: string, w: { tensor: TensorProto; name: string; dequantized?: Dequantized },
  transB: boolean, alpha: number, beta: number, biasName: string | undefined, label: string, quantized: boolean,
): LinearLayer | NoMatch {
  const node = nodes[0]!;
  const weight = w.tensor;
  if (!w.dequantized && !isFloatDType(weight.data_type)) return noMatch('unsupported-dtype', `the weight of '${label}' is not a float tensor`, node);
  if (weight.dims.length !== 2) return noMatch('shape-mismatch', `the weight of '${label}' has ${weight.dims.length} dims, not 2`, node);
  const [d0, d1] = weight.dims.map(Number) as [number, number];
  const outFeatures = transB ? d0 : d1;
  const inFeatures = transB ? d1 : d0;
  let bias: TensorProto | undefined;
  let biasDq: Dequantized | undefined;
  if (biasName) {
    const b = operand(graph, biasName, quantized);
    if (b && 'code' in b) return b;
    if (!b) return noMatch('bias-not-constant', `the bias '${biasName}' of '${label}' is computed at run time`, node);
    bias = b.tensor;
    biasDq = b.dequantized;
    if (!biasDq && !isFloatDType(bias.data_type)) return noMatch('unsupported-dtype', `the bias of '${label}' is not a float tensor`, node);
    if (!biasFits(bias, outFeatures)) {
      return noMatch('bias-depends-on-batch', `the bias of '${label}' has shape ${shapeText(bias.dims.map(Number))}, not [${outFeatures}] or [1, ${outFeatures}]`, node);
    }
  }
  const dequantized = w.dequantized || biasDq ? { dequantized: { ...(w.dequantized ? { weight: w.dequantized } : {}), ...(biasDq ? { bias: biasDq } : {}) } } : {};
  return { nodes, input, output, weight, weightName: w.name, transB, alpha, beta, ...(bias && biasName ? { bias, biasName } : {}), inFeatures, outFeatures, ...dequantized } as LinearLayer;
}

/** Layers an MLP head is followed to (a bound for crafted graphs; real heads have a handful). */
const MAX_LAYERS = 256;

/** An MLP head's layers after the first, and the values between them (they become maps when rewritten). */
interface FollowingLayers {
  readonly layers: LinearLayer[];
  /** Every value from the first layer's output to the last layer's input: activations, Dropout masks. */
  readonly between: string[];
}

/**
 * The layers that follow `value` — a layer's [N, K] output — through elementwise ops private to the
 * head (MobileNetV3: Linear → Hardswish → Dropout → Linear), each read by the next layer only.
 * `match` reads a layer (float, or with dequantized weights).
 */
export function followingLayers(
  graph: GraphView, value: string,
  match: (node: NodeProto, input: string) => LinearLayer | NoMatch | undefined = (n, v) => matchLinear(graph, n, v),
): FollowingLayers {
  const layers: LinearLayer[] = [];
  const between: string[] = [];
  for (let hops = 0; hops < MAX_LAYERS; hops++) {
    const region = elementwiseRegion(graph, value);
    const next = region.exits.length === 1 ? region.exits[0]! : undefined;
    if (!next || region.outputs.length || !isLinearLayerOp(graph, next.node) || next.node.input[0] !== next.value) break;
    if (region.nodes.some((n) => n.output.slice(1).some((o) => o && graph.isUsed(o)))) break;
    const layer = match(next.node, next.value);
    if (!layer || 'code' in layer) break;
    // Every output of the ops in between becomes a map, a Dropout's unused mask included.
    between.push(...region.values, ...region.nodes.flatMap((n) => n.output.slice(1).filter(Boolean)));
    layers.push(layer);
    value = layer.output;
  }
  return { layers, between };
}
