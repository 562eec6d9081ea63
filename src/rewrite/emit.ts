// What the apply steps of several rules share: naming new nodes, adding a layer's weights as Conv
// parameters, building the Conv, dropping stale value_info, and listing what an edit removed and
// which layers it converted.

import type { GraphView } from '../graph/graph.js';
import { makeNode } from '../onnx/builder.js';
import type { NodeProto } from '../onnx/schema.js';
import type { TensorBytes } from '../onnx/tensor.js';
import { layerOps, type LinearLayer } from './linear.js';
import type { TailChange } from './rule.js';
import { linearToConv, type ChannelAffine } from './weights.js';

/** The stem new nodes are named after: `<base>/gapify/Conv`. */
export function baseName(n: NodeProto): string {
  return n.name || n.output[0] || n.op_type || 'gapify';
}

export interface ConvParamNames {
  readonly weight: string;
  readonly bias?: string;
  /** Nodes added to compute the parameters (a QDQ weight's new DequantizeLinear). */
  readonly nodes?: readonly NodeProto[];
}

/** Adds `layer`'s weight (and bias, if it has one) as Conv parameters with a `kernel`, `affine` folded in. */
export function addConvParams(graph: GraphView, layer: LinearLayer, kernel: number[], bytes: TensorBytes, affine?: ChannelAffine): ConvParamNames {
  const params = linearToConv(layer, kernel, {
    weight: graph.uniqueName(`${layer.weightName}_conv`),
    // Reserved only when the Conv gets a bias.
    bias: () => graph.uniqueName(`${layer.biasName ?? `${layer.weightName}_bias`}_conv`),
  }, bytes, affine);
  graph.addInitializer(params.weight);
  if (params.bias) graph.addInitializer(params.bias);
  return { weight: params.weight.name!, ...(params.bias ? { bias: params.bias.name! } : {}) };
}

export function convNode(graph: GraphView, base: string, input: string, params: { weight: string; bias?: string }, kernel: number[], output: string): NodeProto {
  const inputs = params.bias ? [input, params.weight, params.bias] : [input, params.weight];
  return makeNode('Conv', inputs, [output], { kernel_shape: kernel }, graph.uniqueName(`${base}/gapify/Conv`));
}

/** The nodes of `before` that are no longer in the graph. */
export function removedSince(graph: GraphView, before: ReadonlySet<NodeProto>): NodeProto[] {
  const kept = new Set(graph.nodes);
  return [...before].filter((n) => !kept.has(n));
}

/** Values that were [N, K] vectors and are maps now: their declared shapes would be stale, so they go. */
export function dropValueInfo(graph: GraphView, values: readonly string[]): void {
  const stale = new Set(values);
  if (stale.size) graph.valueInfo = graph.valueInfo.filter((v) => !stale.has(v.name ?? ''));
}

/** A converted layer as the change lists it: the layer, its op(s) and weight, and the Conv it became. */
export function convertedLayer(layer: LinearLayer, kernel: readonly number[]): TailChange['layers'][number] {
  return { node: layer.nodes[0]!, op: layerOps(layer), weight: [layer.outFeatures, layer.inFeatures], became: `Conv ${kernel.join('×')}` };
}
