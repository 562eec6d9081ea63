// A spatial tail: the Flatten of a C×H×W map into fully-connected layers (VGG, AlexNet).
//
//   Gemm_k(…act(Gemm_1(Flatten(X)))) = Flatten(GAP(Conv1x1_k(…act(Conv_HxW(X)))))
//
// exactly at the trained size, where the H×W Conv sees one window and its output is 1×1; at larger
// inputs the head is evaluated densely and averaged (VGG, §3.2 "dense evaluation").
//
// Conditions:
//   - a Flatten (axis 1), or a Reshape to [N, C·H·W], of a rank-4 map with known C, H, W; only
//     inference no-ops (Identity, Dropout) between it and the first linear layer, which alone reads
//     the flattened features;
//   - the first layer expects C·H·W features; its weight is reordered (or just re-dimensioned, for
//     PyTorch's [K, C·H·W]) into a [K, C, H, W] kernel;
//   - later layers are followed into while the ops between are elementwise and private to the
//     tail (they then work on maps instead of vectors).
// A refused spatial tail still pins the input size: its weight fits one map size.

import { attrInt, isDefaultDomain, type GraphView } from '../../graph/graph.js';
import type { Shapes } from '../../graph/shapes.js';
import { makeNode } from '../../onnx/builder.js';
import type { NodeProto } from '../../onnx/schema.js';
import { dimsText, nodeLabel, shapeText, thousands } from '../../text.js';
import { addConvParams, baseName, convNode, convertedLayer, dropValueInfo, removedSince } from '../emit.js';
import { followingLayers, layerParams, matchLinear } from '../linear.js';
import { isFinalScores, isLinearLayerOp, isTrainingMode } from '../ops.js';
import { pooledUpstream } from '../pool.js';
import { knownDims } from '../read.js';
import { noMatch, type NoMatch } from '../reasons.js';
import { classMapOf, refusal, tailFinding, type Refusal, type TailFinding, type TailMatch, type TailRule } from '../rule.js';

export interface SpatialMatch extends TailMatch {
  /** The map X that is flattened. */
  readonly input: string;
  /** Values between the layers that become maps instead of vectors. */
  readonly reshapedValues: readonly string[];
}

/**
 * Flatten(X: [N, C, H, W]) → Gemm(C·H·W → K1) → elementwise → Gemm(K1 → K2) → … : the layers of a
 * spatial tail at `node`, a refusal, or undefined when no linear layer reads the flattened map.
 */
function matchSpatial(rule: TailRule<SpatialMatch>, node: NodeProto, graph: GraphView, shapes: Shapes): TailFinding | Refusal | undefined {
  if (!isDefaultDomain(node) || (node.op_type !== 'Flatten' && node.op_type !== 'Reshape')) return undefined;
  const input = node.input[0];
  const flat = node.output[0];
  if (!input || !flat) return undefined;
  const label = nodeLabel(node);
  // AlexNet's classifier starts with Dropout: inference no-ops between Flatten and Gemm are skipped.
  let features = flat;
  for (let hops = 0; hops < 8; hops++) {
    const only = graph.consumers(features);
    const c = only[0];
    if (only.length !== 1 || !c || graph.isGraphOutput(features) || !c.output[0] || !isDefaultDomain(c)) break;
    const noop = c.op_type === 'Identity' || (c.op_type === 'Dropout' && !isTrainingMode(graph, c) && !c.input[2]);
    if (!noop) break;
    features = c.output[0];
  }
  const consumers = graph.consumers(features);
  const first = consumers.find((c) => isLinearLayerOp(graph, c) && c.input[0] === features);
  if (!first) return undefined;
  const inShape = shapes.get(input);
  if (inShape && inShape.length !== 4) return undefined;
  const refuse = (nm: NoMatch): Refusal => refusal(rule, node, nm, [{
    kind: 'spatial-tail', node, found: 'static', fixedByRewrite: false,
    detail: `'${label}' flattens a spatial map into a fully-connected layer, whose weight fits one map size (not rewritable: ${nm.code})`,
  }]);
  if (!inShape) return refuse(noMatch('unknown-dims', `the shape of '${input}' (flattened by '${label}') is unknown; give --input-shape`, node));
  const dims = knownDims(inShape.slice(1));
  if (!dims) return refuse(noMatch('unknown-dims', `the map '${input}' flattened by '${label}' has symbolic dims ${shapeText(inShape)}; give --input-shape`, node));
  // A map that is 1×1 because a global pool or reduction made it so (one gapify does not recognise,
  // timm's avg + max) holds pooled features: convolving it as a "spatial tail" would promise class
  // maps and dense evaluation that don't exist. The pool's own rule, if any, answers for it.
  if (dims.slice(1).every((d) => d === 1) && pooledUpstream(graph, input)) return undefined;
  if (node.op_type === 'Flatten' && attrInt(node, 'axis', 1) !== 1) return refuse(noMatch('not-a-flatten', `Flatten '${label}' has axis ${attrInt(node, 'axis', 1)}`, node));
  if (node.op_type === 'Reshape') {
    const out = shapes.get(flat);
    const [c, h, w] = dims as [number, number, number];
    if (!out || out.length !== 2 || out[1] !== c * h * w) return refuse(noMatch('not-a-flatten', `Reshape '${label}' does not flatten [C, H, W] in order`, node));
  }
  if (consumers.length !== 1 || graph.isGraphOutput(features)) {
    return refuse(noMatch('not-a-flatten', `the flattened features of '${label}' are also read elsewhere`, node));
  }
  const lin = matchLinear(graph, first, features);
  if (!lin) return undefined;
  if ('code' in lin) return refuse(lin);
  if (lin.inFeatures !== dims.reduce((a, b) => a * b, 1)) {
    return refuse(noMatch('shape-mismatch', `'${nodeLabel(lin.nodes[0]!)}' expects ${lin.inFeatures} features, the map has ${dims.join('×')}`, node));
  }
  // Later layers follow while the activations between are elementwise and private to the head.
  const later = followingLayers(graph, lin.output);
  const layers = [lin, ...later.layers];
  const reshapedValues = later.between;
  const last = layers[layers.length - 1]!;
  return tailFinding(rule, {
    at: node, featureShape: inShape, layers, output: last.output, classMaps: isFinalScores(graph, last.output),
    input, reshapedValues: reshapedValues.filter((v) => v !== last.output),
  });
}

export const spatialRule: TailRule<SpatialMatch> = {
  id: 'spatial',

  match(node, { graph, shapes }) {
    const found = matchSpatial(this, node, graph, shapes);
    return found && { findings: [found], claims: [node] };
  },

  orders: () => [],

  cost(m) {
    const macs = m.layers.reduce((s, l) => s + l.inFeatures * l.outFeatures, 0);
    return { params: m.layers.reduce((s, l) => s + layerParams(l), 0), macs: { before: macs, convFirst: macs, poolFirst: null } };
  },

  apply(graph, m, _order, bytes) {
    const [, channels, h, w] = m.featureShape as [unknown, number, number, number];
    const added: NodeProto[] = [];
    const before = new Set(graph.nodes);
    const last = m.layers.length - 1;
    let classMap = '';
    const layers = m.layers.map((layer, i) => {
      const kernel = i === 0 ? [h, w] : [1, 1];
      const names = addConvParams(graph, layer, kernel, bytes);
      // Inner layers keep their output names: the activations between them read those.
      const out = i === last ? graph.uniqueName(`${layer.output}_class_map`) : layer.output;
      const conv = convNode(graph, baseName(layer.nodes[0]!), i === 0 ? m.input : layer.input, names, kernel, out);
      // Add (at the end) before detaching, so the map the conv reads is never seen as dead.
      graph.insertAfter(undefined, [conv]);
      graph.detach(layer.nodes);
      added.push(conv);
      classMap = out;
      return convertedLayer(layer, kernel);
    });
    const lastLayer = m.layers[last]!;
    const base = baseName(lastLayer.nodes[0]!);
    const pooled = graph.uniqueName(`${lastLayer.output}_pooled`);
    const closing = [
      makeNode('GlobalAveragePool', [classMap], [pooled], {}, graph.uniqueName(`${base}/gapify/GlobalAveragePool`)),
      makeNode('Flatten', [pooled], [lastLayer.output], { axis: 1 }, graph.uniqueName(`${base}/gapify/Flatten`)),
    ];
    added.push(...closing);
    graph.insertAfter(undefined, closing);
    graph.removeDead([m.at]);
    dropValueInfo(graph, m.reshapedValues);
    graph.sort();
    const cost = this.cost(m);
    return {
      layers, removed: removedSince(graph, before), added, classMap,
      params: cost.params,
      macsBefore: cost.macs.before ?? undefined, macsAfter: cost.macs.convFirst ?? undefined,
      notes: [`exact at the trained size (${channels}×${h}×${w} map before the first Conv); at larger inputs the head is evaluated densely and averaged`],
    };
  },

  describe(m, words) {
    const n = m.layers.length;
    const [h, w] = m.featureShape.slice(2);
    const message = `${m.at.op_type} '${nodeLabel(m.at)}' of a ${dimsText(m.featureShape.slice(1))} map → ${n} linear layer${n > 1 ? 's' : ''} can be rewritten exactly into `
      + `Conv ${h ?? '?'}×${w ?? '?'}${n > 1 ? ` + ${n - 1}× Conv 1×1` : ''} + GlobalAveragePool; ${words.headShare}; MACs/sample ${thousands(this.cost(m).macs.before!)} (unchanged at this size)`;
    return { message, node: m.at };
  },

  pins(m) {
    const first = m.layers[0]!.nodes[0]!;
    return [{
      kind: 'spatial-tail', node: m.at, found: 'static', fixedByRewrite: true,
      detail: `${m.at.op_type} '${nodeLabel(m.at)}' feeds ${first.op_type} '${nodeLabel(first)}' from a ${dimsText(m.featureShape.slice(1))} map, a weight that fits this map size only (gapify's rewrite makes it a convolution)`,
    }];
  },

  classMap: (m, change) => classMapOf(m, change),
};
