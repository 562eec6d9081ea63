// A pooled head — global pool → (ops on unit dims) → linear layer(s) — as the global-pool and the
// quantized rules share it: the match from a pool's walk, the cost, the rewrite in either order and
// its description. The rules differ in what they accept between pool and layer and in the weights.

import type { GraphView } from '../graph/graph.js';
import type { Shapes } from '../graph/shapes.js';
import { makeNode } from '../onnx/builder.js';
import type { NodeProto } from '../onnx/schema.js';
import { countChange, dimsText, nodeLabel, thousands } from '../text.js';
import type { BetweenOp } from './between.js';
import { spatialSize } from './cost.js';
import { baseName, convNode, convertedLayer, dropValueInfo, removedSince, type ConvParamNames } from './emit.js';
import { followingLayers, layerOps, layerParams, type LinearLayer } from './linear.js';
import { elementwiseRegion, isElementwiseOn, isFinalScores, isLinearLayerOp } from './ops.js';
import { DISGUISED_NOTE, keepsDims, poolParts, type GlobalPool, type PoolWalk } from './pool.js';
import { noMatch, type NoMatch } from './reasons.js';
import { refusal, tailFinding, type LintWords, type MatchContext, type Order, type Refusal, type RuleAnswer, type TailChange, type TailCost, type TailDescription, type TailFinding, type TailMatch, type TailRule } from './rule.js';

export interface HeadMatch extends TailMatch {
  readonly pool: GlobalPool;
  readonly between: readonly BetweenOp[];
  /** Unit-dim ops after the first layer that bring a channels-last output to [N, K]. */
  readonly after: readonly NodeProto[];
  /** The [N, K] value each layer's rewrite takes over (the first one's after `after`). */
  readonly outputs: readonly string[];
  /** Values between the layers: [N, K] vectors now, [N, K, 1, 1] maps after the rewrite. */
  readonly reshapedValues: readonly string[];
  /** Linear layers after the last one that the rewrite could not follow to, and why: they stay. */
  readonly laterLayers: readonly { readonly node: NodeProto; readonly why: string }[];
}

/**
 * The findings of a rule at a pool from its walk: a match per linear layer reached (with the MLP
 * layers that follow it, read by `match`), a refusal per blocked one. `finish` is the rule's last
 * word on a match (a quantized head's checks). A maximum gives one max-pool refusal instead.
 */
export function matchHead<M extends HeadMatch>(
  rule: TailRule<M>, node: NodeProto, ctx: MatchContext, found: { pool: GlobalPool; max: boolean }, walked: PoolWalk,
  match: (node: NodeProto, input: string) => LinearLayer | NoMatch | undefined,
  finish: (m: HeadMatch) => M | NoMatch,
): RuleAnswer {
  const { graph, shapes } = ctx;
  const { pool } = found;
  const featureShape = shapes.get(pool.input);
  // Whatever the walk reached is this tail's business: no spatial tail starts at its Flatten.
  const claims: NodeProto[] = walked.visited.filter((n) => n.op_type === 'Flatten' || n.op_type === 'Reshape');
  const taken = (layer: NodeProto | undefined): boolean => !!layer && (ctx.claimed.has(layer) || claims.includes(layer));
  const label = nodeLabel(node);
  const findings: (TailFinding | Refusal)[] = [];
  const refusals = walked.refusals.filter((r) => !taken(r.layer));
  claims.push(...refusals.flatMap((r) => (r.layer ? [r.layer] : [])));
  if (found.max) {
    if (walked.tails.some((t) => !taken(t.linear.nodes[0])) || refusals.length) {
      findings.push(refusal(rule, node, noMatch('max-pool', `${node.op_type} '${label}' takes a maximum, which does not commute with the linear layer`, node)));
    }
    claims.push(...walked.tails.map((t) => t.linear.nodes[0]!));
  } else {
    for (const r of refusals) findings.push(refusal(rule, node, r.reason));
    if (walked.tails.length && (!featureShape || featureShape.length < 3)) {
      findings.push(refusal(rule, node, noMatch('unknown-dims', `the rank of '${pool.input}' (the map ${node.op_type} '${label}' pools) is unknown; give --input-shape`, node)));
    } else {
      for (const { walk, linear, after, output } of walked.tails) {
        // A linear layer is rewritten once, however many paths lead to it (a walk that forks and
        // joins again through a two-input Dropout, or two pools joined that way).
        const first = linear.nodes[0]!;
        if (taken(first)) continue;
        claims.push(first);
        const channels = featureShape![1];
        if (typeof channels === 'number' && channels !== linear.inFeatures) {
          findings.push(refusal(rule, node, noMatch('shape-mismatch', `'${nodeLabel(first)}' expects ${linear.inFeatures} features but the pool gives ${channels}`, node)));
          continue;
        }
        const later = followingLayers(graph, output, match);
        const layers = [linear, ...later.layers];
        const outputs = [output, ...later.layers.map((l) => l.output)];
        const last = outputs[outputs.length - 1]!;
        // A squeeze-and-excitation block pools, runs its small MLP and scales the map with it: not a
        // classifier's tail (exact to rewrite, but no head of the model), so not reported as one.
        if (gatesFeatureMap(graph, last, shapes)) continue;
        claims.push(...later.layers.map((l) => l.nodes[0]!));
        const m = finish({
          at: node, featureShape: featureShape!, layers, output: last,
          classMaps: layers.length === 1 && isFinalScores(graph, last),
          pool, between: walk.between, after, outputs,
          reshapedValues: later.between.filter((v) => v !== last),
          laterLayers: laterLayers(graph, last, match),
        });
        findings.push('code' in m ? refusal(rule, node, m) : tailFinding(rule, m));
      }
    }
  }
  // With nothing to say, the pool is left to the rules after this one (a pool-only tail, an already-GAP head).
  if (findings.length) claims.push(node);
  return { findings, claims };
}

/** Linear layers just after the head (through elementwise ops) that followingLayers stopped short of, and why. */
function laterLayers(graph: GraphView, last: string, match: (node: NodeProto, input: string) => LinearLayer | NoMatch | undefined): HeadMatch['laterLayers'] {
  const region = elementwiseRegion(graph, last);
  return region.exits.filter((e) => isLinearLayerOp(graph, e.node)).map((e) => {
    const layer = match(e.node, e.value);
    const why = layer && 'code' in layer ? layer.reason
      : region.exits.length > 1 || region.outputs.length ? 'the values before it are read elsewhere too'
        : 'an op before it is not elementwise on the head alone';
    return { node: e.node, why };
  });
}

const GATE_OPS = new Set(['Mul', 'Add', 'Sub', 'Div']);
const PASS_TO_GATE = new Set(['Reshape', 'Unsqueeze', 'Flatten', 'Squeeze', 'Identity', 'Transpose', 'Expand']);

/**
 * Does `value` — a head's [N, K] output — flow (through elementwise and reshaping ops) into a Mul,
 * Add, Sub or Div with a feature map (rank ≥ 3) it does not come from? That is a
 * squeeze-and-excitation gate, not class scores.
 */
function gatesFeatureMap(graph: GraphView, value: string, shapes: Shapes): boolean {
  const derived = new Set([value]);
  const queue = [value];
  for (let steps = 0; queue.length && steps < 32; steps++) {
    const v = queue.shift()!;
    for (const c of graph.consumers(v)) {
      const op = c.op_type ?? '';
      if (GATE_OPS.has(op) && c.input.some((i) => i && !derived.has(i) && !graph.constant(i) && (shapes.get(i)?.length ?? 0) >= 3)) return true;
      if (!PASS_TO_GATE.has(op) && !isElementwiseOn(graph, c, (x) => derived.has(x))) continue;
      const out = c.output[0];
      if (out && !derived.has(out)) {
        derived.add(out);
        queue.push(out);
      }
    }
  }
  return false;
}

/** Every layer's in·out; conv-first runs the first one at each of the map's H·W positions. */
export function headCost(m: HeadMatch): TailCost {
  const macs = m.layers.map((l) => l.inFeatures * l.outFeatures);
  const before = macs.reduce((a, b) => a + b, 0);
  const hw = spatialSize(m.featureShape);
  return { params: m.layers.reduce((s, l) => s + layerParams(l), 0), macs: { before, convFirst: hw === null ? null : before + macs[0]! * (hw - 1), poolFirst: before } };
}

/** How the rule turns a layer into Conv parameters (float weights folded, or integers re-dequantized). */
export type ConvParams = (layer: LinearLayer, kernel: number[], index: number) => ConvParamNames;

export interface HeadRewrite {
  /** Conv parameters of each layer. */
  readonly params: ConvParams;
  /** Pool-first: the value the first Conv reads, given the pooled map (the quantized rule's kept ops go between). */
  readonly poolFirstInput?: (pooled: string) => string;
  readonly notes?: readonly string[];
}

/**
 * Rewrites `m` in `order`: the first layer a 1×1 Conv on the map (conv-first) or on the pooled map
 * (pool-first), the later ones 1×1 Convs on the pooled maps, the last one's scores flattened into
 * its old output name. Old nodes go only when nothing else reads them.
 */
export function applyHead(graph: GraphView, m: HeadMatch, order: Order | undefined, how: HeadRewrite): Omit<TailChange, 'tail'> {
  const { pool, layers, outputs, featureShape } = m;
  const cost = headCost(m);
  const [first, ...rest] = layers as [LinearLayer, ...LinearLayer[]];
  const base = baseName(first.nodes[0]!);
  const kernel = featureShape.slice(2).map(() => 1);
  const names = how.params(first, kernel, 0);
  const single = layers.length === 1;
  const out = outputs[0]!;
  const added: NodeProto[] = [...(names.nodes ?? [])];
  let classMap: string | undefined;
  if (order === 'conv-first') {
    // One layer: its map holds the classes. More: hidden units, pooled into the next layer's input.
    const map = graph.uniqueName(single ? `${out}_class_map` : `${out}_map`);
    const pooled = single ? graph.uniqueName(`${out}_pooled`) : out;
    added.push(
      convNode(graph, base, pool.input, names, kernel, map),
      makeNode('GlobalAveragePool', [map], [pooled], {}, graph.uniqueName(`${base}/gapify/GlobalAveragePool`)),
      ...(single ? [makeNode('Flatten', [pooled], [out], { axis: 1 }, graph.uniqueName(`${base}/gapify/Flatten`))] : []),
    );
    if (single) classMap = map;
  } else {
    // Reuse the model's own pooled map when it is already [N, C, 1, …].
    let pooled = pool.output;
    if (!keepsDims(pool)) {
      pooled = graph.uniqueName(`${pool.input}_pooled`);
      added.push(makeNode('GlobalAveragePool', [pool.input], [pooled], {}, graph.uniqueName(`${base}/gapify/GlobalAveragePool`)));
    }
    added.push(...convLayer(graph, base, how.poolFirstInput?.(pooled) ?? pooled, names, kernel, out, single));
  }
  const before = new Set(graph.nodes);
  graph.insertAfter(first.nodes[0], added);
  rest.forEach((layer, i) => {
    const params = how.params(layer, kernel, i + 1);
    const emitted = [...(params.nodes ?? []), ...convLayer(graph, baseName(layer.nodes[0]!), layer.input, params, kernel, outputs[i + 1]!, i === rest.length - 1)];
    graph.insertAfter(layer.nodes[0], emitted);
    added.push(...emitted);
  });
  graph.detach([...layers.flatMap((l) => l.nodes), ...m.after]);
  graph.removeDead([...m.between.map((b) => b.node), ...poolParts(pool)]);
  dropValueInfo(graph, m.reshapedValues);

  const notes: string[] = [...(how.notes ?? [])];
  if (!single) {
    notes.push(order === 'conv-first'
      ? `MLP head: the first layer moves before the pool (its maps are hidden units, not classes); the other ${rest.length} become${rest.length === 1 ? 's' : ''} 1×1 Conv${rest.length === 1 ? '' : 's'} after it`
      : `MLP head: all ${layers.length} linear layers become 1×1 Convs on the pooled map, the ops between them unchanged`);
  }
  for (const l of m.laterLayers) notes.push(`'${nodeLabel(l.node)}' after the head stays as it is: ${l.why}`);
  if (pool.disguised) notes.push(DISGUISED_NOTE(pool.node));
  return {
    ...(order ? { order } : {}),
    layers: layers.map((l) => convertedLayer(l, kernel)),
    removed: removedSince(graph, before), added,
    ...(classMap ? { classMap } : {}),
    params: cost.params,
    macsBefore: cost.macs.before ?? undefined,
    macsAfter: (order === 'conv-first' ? cost.macs.convFirst : cost.macs.poolFirst) ?? undefined,
    notes,
  };
}

/**
 * A layer as a 1×1 Conv on `input`, a pooled [N, C, 1, …] map. The last layer of the head writes
 * `<output>_scores` and a Flatten gives `output` its [N, K]; an inner one writes `output` itself, a
 * map now, which the ops before the next layer read.
 */
function convLayer(graph: GraphView, base: string, input: string, names: ConvParamNames, kernel: number[], output: string, last: boolean): NodeProto[] {
  if (!last) return [convNode(graph, base, input, names, kernel, output)];
  const scores = graph.uniqueName(`${output}_scores`);
  return [
    convNode(graph, base, input, names, kernel, scores),
    makeNode('Flatten', [scores], [output], { axis: 1 }, graph.uniqueName(`${base}/gapify/Flatten`)),
  ];
}

/** "Gemm '/fc/Gemm' (576→1024)". */
const layerText = (l: LinearLayer): string => `${layerOps(l)} '${nodeLabel(l.nodes[0]!)}' (${l.inFeatures}→${l.outFeatures})`;

/**
 * Lint's line for a head: its layers, what they become (`into`, e.g. "1×1 Conv"), its share and the
 * MACs of the orders it can be written in.
 */
export function describeHead(m: HeadMatch, words: LintWords, orders: readonly Order[], into: (n: number) => string): TailDescription {
  const cost = headCost(m);
  const before = cost.macs.before!;
  const convFirst = orders.includes('conv-first') ? `, conv-first ${countChange(before, cost.macs.convFirst)} on a ${dimsText(m.featureShape.slice(1))} map` : '';
  const message = `${m.pool.node.op_type} '${nodeLabel(m.pool.node)}' → ${m.layers.map(layerText).join(' → ')} can be rewritten exactly into ${into(m.layers.length)} + GlobalAveragePool; `
    + `${words.headShare}; MACs/sample ${thousands(before)} → pool-first ${countChange(before, before)}${convFirst}`;
  return { message, node: m.layers[0]!.nodes[0]! };
}
