// Linear layers: y = alpha·x·op(W) + beta·b with W and b constants — a Gemm, or a MatMul (+ Add).
// What every tail form rewrites into a convolution.

import { attr, attrInt, isDefaultDomain, type GraphView } from '../graph/graph.js';
import { nodeLabel } from '../text.js';
import type { Shapes } from '../graph/shapes.js';
import type { NodeProto, TensorProto } from '../onnx/schema.js';
import { isFloatDType } from '../onnx/tensor.js';
import { noMatch, type NoMatch } from './reasons.js';

/** y = alpha·x·op(W) + beta·b, with W and b constants: a Gemm, or a MatMul (+ Add). */
export interface LinearLayer {
  readonly nodes: readonly NodeProto[];
  readonly input: string;
  /** The value the rewritten tail takes over. */
  readonly output: string;
  readonly weight: TensorProto;
  readonly weightName: string;
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

/** The Gemm or MatMul(+Add) reading `value` as its activations. */
export function matchLinear(graph: GraphView, node: NodeProto, value: string, shapes: Shapes): LinearLayer | NoMatch | undefined {
  const label = nodeLabel(node);
  if (!isDefaultDomain(node)) return undefined;
  const output = node.output[0];
  if (!output) return undefined;
  if (node.op_type === 'Gemm') {
    if (node.input[0] !== value) return noMatch('weight-not-constant', `the pooled features are Gemm '${label}''s weight operand`, node);
    if (attrInt(node, 'transA', 0) !== 0) return noMatch('trans-a', `Gemm '${label}' has transA=1`, node);
    const weightName = node.input[1]!;
    const weight = graph.constant(weightName);
    if (!weight) return noMatch('weight-not-constant', `Gemm '${label}''s weight '${weightName}' is computed at run time`, node);
    const transB = attrInt(node, 'transB', 0) === 1;
    const alpha = attr(node, 'alpha')?.f ?? 1;
    const beta = attr(node, 'beta')?.f ?? 1;
    return finishLinear(graph, [node], value, output, weight, weightName, transB, alpha, beta, node.input[2] || undefined, shapes, label);
  }
  if (node.op_type === 'MatMul') {
    if (node.input[0] !== value) return noMatch('weight-not-constant', `the pooled features are MatMul '${label}''s right operand`, node);
    const weightName = node.input[1]!;
    const weight = graph.constant(weightName);
    if (!weight) return noMatch('weight-not-constant', `MatMul '${label}''s weight '${weightName}' is computed at run time`, node);
    // Fold a following Add of a constant [K] / [1, K] / scalar bias; any other Add stays after us.
    const consumers = graph.consumers(output);
    const add = consumers[0];
    if (consumers.length === 1 && add && add.op_type === 'Add' && isDefaultDomain(add) && !graph.isGraphOutput(output) && add.output[0]) {
      const other = add.input[0] === output ? add.input[1] : add.input[0];
      const bias = other ? graph.constant(other) : undefined;
      if (other && bias && biasFits(bias, weight.dims.length === 2 ? Number(weight.dims[1]) : -1)) {
        return finishLinear(graph, [node, add], value, add.output[0], weight, weightName, false, 1, 1, other, shapes, label);
      }
    }
    return finishLinear(graph, [node], value, output, weight, weightName, false, 1, 1, undefined, shapes, label);
  }
  return undefined;
}

function biasFits(bias: TensorProto, k: number): boolean {
  const dims = bias.dims.map(Number);
  const n = dims.reduce((a, b) => a * b, 1);
  if (dims.length === 0 || (dims.length <= 2 && n === 1)) return true;
  if (dims.length === 1) return dims[0] === k;
  return dims.length === 2 && dims[0] === 1 && dims[1] === k;
}

function finishLinear(
  graph: GraphView, nodes: NodeProto[], input: string, output: string, weight: TensorProto, weightName: string,
  transB: boolean, alpha: number, beta: number, biasName: string | undefined, shapes: Shapes, label: string,
): LinearLayer | NoMatch {
  const node = nodes[0]!;
  if (!isFloatDType(weight.data_type)) return noMatch('unsupported-dtype', `the weight of '${label}' is not a float tensor`, node);
  if (weight.dims.length !== 2) return noMatch('shape-mismatch', `the weight of '${label}' has ${weight.dims.length} dims, not 2`, node);
  const [d0, d1] = weight.dims.map(Number) as [number, number];
  const outFeatures = transB ? d0 : d1;
  const inFeatures = transB ? d1 : d0;
  const inShape = shapes.get(input);
  if (inShape && inShape.length !== 2) return noMatch('shape-mismatch', `'${label}' reads a rank-${inShape.length} tensor, not [N, C]`, node);
  let bias: TensorProto | undefined;
  if (biasName) {
    bias = graph.constant(biasName);
    if (!bias) return noMatch('bias-not-constant', `the bias '${biasName}' of '${label}' is computed at run time`, node);
    if (!isFloatDType(bias.data_type)) return noMatch('unsupported-dtype', `the bias of '${label}' is not a float tensor`, node);
    if (!biasFits(bias, outFeatures)) {
      return noMatch('bias-depends-on-batch', `the bias of '${label}' has shape [${bias.dims.join(', ')}], not [${outFeatures}] or [1, ${outFeatures}]`, node);
    }
  }
  return { nodes, input, output, weight, weightName, transB, alpha, beta, ...(bias && biasName ? { bias, biasName } : {}), inFeatures, outFeatures };
}

