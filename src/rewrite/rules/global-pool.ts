// Global pool → (flatten) → linear layer.
//
//   Gemm(Flatten(GAP(X)), W, b) = Flatten(GAP(Conv1x1(X, W, b)))     conv-first: the Conv's output is a class map
//                               = Flatten(Conv1x1(GAP(X), W, b))     pool-first: same MACs as the Gemm
//
// because the spatial mean commutes with a map that is linear per position.
//
// Conditions:
//   - the pool averages the whole map: GlobalAveragePool, ReduceMean over the spatial axes (also
//     tf2onnx's NHWC Transpose → ReduceMean(1, 2)), or an AveragePool (after an optional zero Pad)
//     whose kernel equals the map with no padding — global at the trained size only (noted);
//   - between pool and layer only ops that drop the unit spatial dims (Flatten axis 1, Squeeze of
//     the spatial axes, Reshape to [N, C]), inference no-ops (Identity, Dropout) and
//     BatchNormalization with constant statistics (folded into the weights);
//   - the layer is a Gemm (transA = 0, any alpha/beta/transB) or MatMul (+ Add of a constant bias)
//     whose weight is a float constant of [C, K] (or [K, C]) with C the map's channels;
//   - a maximum (GlobalMaxPool, ReduceMax) does not commute with the layer: refused (max-pool).
// Each linear layer reached is rewritten once; an MLP head's later layers stay after the pool.

import type { GraphView } from '../../graph/graph.js';
import { attrFloat } from '../../graph/graph.js';
import { makeNode } from '../../onnx/builder.js';
import type { NodeProto } from '../../onnx/schema.js';
import type { TensorBytes } from '../../onnx/tensor.js';
import { countChange, dimsText, nodeLabel, thousands } from '../../text.js';
import type { BetweenOp } from '../between.js';
import { spatialSize } from '../cost.js';
import { addConvParams, baseName, convNode, removedSince } from '../emit.js';
import { layerOps, layerParams, type LinearLayer } from '../linear.js';
import { isFinalScores } from '../ops.js';
import { DISGUISED_NOTE, disguisedPoolPins, keepsDims, laterLinearLayers, linearAhead, matchGlobalPool, walkFromPool, type GlobalPool } from '../pool.js';
import { noMatch } from '../reasons.js';
import { finalScoresMap, refusal, tailFinding, type Refusal, type RuleAnswer, type TailFinding, type TailMatch, type TailRule } from '../rule.js';
import { batchNormAffine, composeAffine, type ChannelAffine } from '../weights.js';

export interface GlobalTailMatch extends TailMatch {
  readonly pool: GlobalPool;
  readonly between: readonly BetweenOp[];
  readonly linear: LinearLayer;
  /** Linear layers after this one, behind a nonlinearity: they stay after the pool. */
  readonly laterLayers: readonly NodeProto[];
}

/** Per-channel affine maps (BatchNormalization) between pool and linear layer, composed. */
function foldBetween(graph: GraphView, m: GlobalTailMatch, bytes: TensorBytes): ChannelAffine | undefined {
  let affine: ChannelAffine | undefined;
  for (const b of m.between) {
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

export const globalPoolRule: TailRule<GlobalTailMatch> = {
  id: 'global',

  match(node, ctx): RuleAnswer | undefined {
    const { graph, shapes } = ctx;
    const answer = matchGlobalPool(graph, node, shapes);
    if (!answer) return undefined;
    if ('code' in answer) {
      return linearAhead(graph, node.output.filter(Boolean)) ? { findings: [refusal(this, node, answer)], claims: [node] } : undefined;
    }
    const { pool } = answer;
    const featureShape = shapes.get(pool.input);
    const walked = walkFromPool(graph, pool, shapes);
    // Whatever the walk reached is this tail's business: no spatial tail starts at its Flatten.
    const claims: NodeProto[] = walked.visited.filter((n) => n.op_type === 'Flatten' || n.op_type === 'Reshape');
    const label = nodeLabel(node);
    const findings: (TailFinding | Refusal)[] = [];
    if (answer.max) {
      if (walked.tails.length || walked.refusals.length) {
        findings.push(refusal(this, node, noMatch('max-pool', `${node.op_type} '${label}' takes a maximum, which does not commute with the linear layer`, node)));
      }
    } else {
      for (const r of walked.refusals) findings.push(refusal(this, node, r));
      if (walked.tails.length && (!featureShape || featureShape.length < 3)) {
        findings.push(refusal(this, node, noMatch('unknown-dims', `the rank of '${pool.input}' (the map ${node.op_type} '${label}' pools) is unknown; give --input-shape`, node)));
      } else {
        for (const { walk, linear } of walked.tails) {
          // A linear layer is rewritten once, however many paths lead to it (a walk that forks and
          // joins again through a two-input Dropout, or two pools joined that way).
          const first = linear.nodes[0]!;
          if (ctx.claimed.has(first) || claims.includes(first)) continue;
          claims.push(first);
          const channels = featureShape![1];
          if (typeof channels === 'number' && channels !== linear.inFeatures) {
            findings.push(refusal(this, node, noMatch('shape-mismatch', `'${nodeLabel(first)}' expects ${linear.inFeatures} features but the pool gives ${channels}`, node)));
            continue;
          }
          findings.push(tailFinding(this, {
            at: node, featureShape: featureShape!, layers: [linear], output: linear.output,
            finalScores: isFinalScores(graph, linear.output),
            pool, between: walk.between, linear, laterLayers: laterLinearLayers(graph, linear.output),
          }));
        }
      }
    }
    // With nothing to say, the pool is left to the rules after this one (a pool-only tail, an already-GAP head).
    if (findings.length) claims.push(node);
    return { findings, claims };
  },

  orders: () => ['conv-first', 'pool-first'],

  cost(m) {
    const macs = m.linear.inFeatures * m.linear.outFeatures;
    const hw = spatialSize(m.featureShape);
    return { params: layerParams(m.linear), macs: { before: macs, convFirst: hw === null ? null : macs * hw, poolFirst: macs } };
  },

  apply(graph, m, order, bytes) {
    const { pool, linear, featureShape } = m;
    const gemm = linear.nodes[0]!;
    const base = baseName(gemm);
    const kernel = featureShape.slice(2).map(() => 1);
    const names = addConvParams(graph, linear, kernel, bytes, foldBetween(graph, m, bytes));
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
      if (!keepsDims(pool)) {
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
    graph.removeDead([...m.between.map((b) => b.node), pool.node, ...(pool.pad ? [pool.pad] : []), ...(pool.channelsLast ? [pool.channelsLast] : [])]);

    const cost = this.cost(m);
    const notes: string[] = [];
    if (names.folded) notes.push('BatchNormalization folded into the Conv weights and bias');
    if (m.laterLayers.length) {
      notes.push(`MLP head: only the first linear layer moves before the pool; ${m.laterLayers.map((l) => `'${nodeLabel(l)}'`).join(', ')} ${m.laterLayers.length === 1 ? 'stays' : 'stay'} after it, behind a nonlinearity`);
    }
    if (pool.disguised) notes.push(DISGUISED_NOTE(pool.node));
    return {
      ...(order ? { order } : {}),
      layers: [{ node: gemm, op: layerOps(linear), weight: [linear.outFeatures, linear.inFeatures], became: `Conv ${kernel.join('×')}` }],
      removed: removedSince(graph, before), added,
      ...(classMap ? { classMap } : {}),
      params: cost.params,
      macsBefore: cost.macs.before ?? undefined,
      macsAfter: (order === 'conv-first' ? cost.macs.convFirst : cost.macs.poolFirst) ?? undefined,
      notes,
    };
  },

  describe(m, words) {
    const { linear } = m;
    const { macs } = this.cost(m);
    const before = macs.before!;
    const message = `${m.pool.node.op_type} '${nodeLabel(m.pool.node)}' → ${layerOps(linear)} '${nodeLabel(linear.nodes[0]!)}' (${linear.inFeatures}→${linear.outFeatures}) can be rewritten exactly into 1×1 Conv + GlobalAveragePool; `
      + `${words.headShare}; MACs/sample ${thousands(before)} → pool-first ${countChange(before, before)}, conv-first ${countChange(before, macs.convFirst)} on a ${dimsText(m.featureShape.slice(1))} map`;
    return { message, node: linear.nodes[0]! };
  },

  pins: (m) => disguisedPoolPins(m.pool, m.featureShape),

  classMap: (m, change) => finalScoresMap(m, change),
};
