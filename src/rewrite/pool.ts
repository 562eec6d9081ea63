// Global pools — a mean (or maximum) over the whole spatial map, the `GAP(X)` of the equations — and
// the walk from a pool's output through absorbable ops to the linear layers it feeds. Read-only.

import { attrInt, attrInts, attrString, isDefaultDomain, type GraphView } from '../graph/graph.js';
import type { Shape, Shapes } from '../graph/shapes.js';
import type { NodeProto } from '../onnx/schema.js';
import type { SizePin } from '../size/pin.js';
import { dimsText, nodeLabel } from '../text.js';
import { classifyBetween, CROSS_CHANNEL_NORMS, FLAT, unitDimStep, type BetweenOp, type FeatureLayout } from './between.js';
import { integerLayer, matchLinear, type LinearLayer } from './linear.js';
import { isElementwiseOn, isFinalScores, isIntegerLinearOp, isLinearLayerOp } from './ops.js';
import { axesOf, constInts, knownDims, normAxes, sameAxes, spatialAxes } from './read.js';
import { noMatch, type NoMatch } from './reasons.js';

/** A pool that averages the whole spatial map: the `GAP(X)` of the equations. */
export interface GlobalPool {
  readonly node: NodeProto;
  /** Pad of zeros in front of an AveragePool, part of the pattern. */
  readonly pad?: NodeProto;
  /** The feature map X. */
  readonly input: string;
  readonly output: string;
  /** An AveragePool whose kernel happens to equal the map: global only at the trained size. */
  readonly disguised: boolean;
  /**
   * A channels-last mean (tf2onnx's Keras GlobalAveragePooling2D: Transpose NCHW→NHWC, then
   * ReduceMean over axes 1, 2): `input` is the NCHW map before that Transpose.
   */
  readonly channelsLast?: NodeProto;
  /** A mean in two steps (`x.mean(3, keepdim=True).mean(2, keepdim=True)`): the first one. */
  readonly inner?: NodeProto;
}

/** The nodes of the pattern besides the pool: what a rewrite of it removes when nothing else reads them. */
export const poolParts = (pool: GlobalPool): NodeProto[] => [pool.node, ...[pool.pad, pool.channelsLast, pool.inner].filter((n): n is NodeProto => !!n)];

/** Does the pool keep its reduced dims ([N, C, 1, 1])? Then its output is a pooled map a 1×1 Conv can read. */
export function keepsDims(pool: GlobalPool): boolean {
  const op = pool.node.op_type;
  return !pool.disguised && !pool.channelsLast && !pool.inner && (op === 'GlobalAveragePool' || (op === 'ReduceMean' && attrInt(pool.node, 'keepdims', 1) !== 0));
}

/** A global pool (`max`: a maximum, which no linear layer commutes with), a refusal, or not a pool. */
export type PoolAnswer = { pool: GlobalPool; max: boolean } | NoMatch | undefined;

/** The report's note on an AveragePool that was global only at the trained size. */
export const DISGUISED_NOTE = (pool: NodeProto): string =>
  `${pool.op_type} '${nodeLabel(pool)}' covered exactly the trained map; at other input sizes it averaged only a corner — now it is a global average`;

/** The fixed-pool pin of an AveragePool whose kernel equals the map (pool-only shares it). */
export function disguisedPoolPins(pool: GlobalPool, featureShape: Shape): SizePin[] {
  if (!pool.disguised) return [];
  return [{
    kind: 'fixed-pool', node: pool.node, found: 'static', fixedByRewrite: true,
    detail: `${pool.node.op_type} '${nodeLabel(pool.node)}' has a kernel equal to its ${dimsText(featureShape.slice(2))} map: a global average only at this size (gapify's rewrite makes it a GlobalAveragePool)`,
  }];
}

/** Is `node` a pool over the whole spatial map? undefined: not a pool at all. */
export function matchGlobalPool(graph: GraphView, node: NodeProto, shapes: Shapes): PoolAnswer {
  if (!isDefaultDomain(node)) return undefined;
  const op = node.op_type;
  const input = node.input[0];
  const output = node.output[0];
  if (!input || !output) return undefined;
  const base = { node, input, output, disguised: false };
  if (op === 'GlobalAveragePool') return { pool: base, max: false };
  if (op === 'GlobalMaxPool') return { pool: base, max: true };
  if (op === 'ReduceMean' || op === 'ReduceMax') {
    const rank = shapes.get(input)?.length;
    const axes = axesOf(graph, node, 18); // ReduceMean and ReduceMax take axes as an input from opset 18
    if (axes === 'dynamic' || axes === undefined || rank === undefined || rank < 3) return undefined;
    const norm = normAxes(axes, rank);
    if (sameAxes(norm, spatialAxes(rank))) return { pool: base, max: op === 'ReduceMax' };
    // Mean(Transpose(X, NCHW→NHWC), axes 1..r-2) = Mean(X, axes 2..r-1), reshaped: a global pool of X
    // ([N, C] without keepdims, [N, 1, 1, C] with it).
    const t = graph.producer(input);
    const perm = t?.op_type === 'Transpose' ? attrInts(t, 'perm') : undefined;
    const toChannelsLast = [0, ...spatialAxes(rank), 1];
    if (t && perm && t.input[0] && sameAxes(perm, toChannelsLast) && sameAxes(norm, spatialAxes(rank).map((a) => a - 1))) {
      return { pool: { ...base, input: t.input[0], channelsLast: t }, max: op === 'ReduceMax' };
    }
    // The mean over some spatial axes of the mean over the others is the mean over all of them.
    const inner = twoStepInner(graph, node, norm, shapes);
    return inner ? { pool: { ...base, input: inner.input[0]!, inner }, max: op === 'ReduceMax' } : undefined;
  }
  if (op === 'AveragePool' || op === 'MaxPool') {
    // A kernel exactly the size of the map is a global pool in disguise (NIN's 8×8 average).
    let x = input;
    let pad: NodeProto | undefined;
    const producer = graph.producer(input);
    if (producer?.op_type === 'Pad' && graph.consumers(input).length === 1 && !graph.isGraphOutput(input)) {
      const pads = graph.opset >= 11 ? constInts(graph, producer.input[1]) : attrInts(producer, 'pads') ?? attrInts(producer, 'paddings');
      const mode = attrString(producer, 'mode') ?? 'constant';
      const fill = producer.input[2] ? constInts(graph, producer.input[2]) : [0];
      if (pads && pads.every((p) => p === 0) && mode === 'constant' && fill?.every((v) => v === 0) && producer.input[0]) {
        pad = producer;
        x = producer.input[0];
      }
    }
    const shape = knownDims(shapes.get(x)?.slice(2));
    const kernel = attrInts(node, 'kernel_shape');
    if (!shape || !kernel || kernel.length !== shape.length) return undefined;
    if (!kernel.every((k, i) => k === shape[i])) return undefined;
    if (shape.every((d) => d === 1)) return undefined; // a 1×1 pool over a 1×1 map: nothing to do
    const pads = attrInts(node, 'pads') ?? [];
    const autoPad = attrString(node, 'auto_pad') ?? 'NOTSET';
    const global: GlobalPool = { node, input: x, output, disguised: true, ...(pad ? { pad } : {}) };
    if (pads.some((p) => p !== 0) || (autoPad !== 'NOTSET' && autoPad !== 'VALID')) {
      return noMatch('pool-changes-mean', `${op} '${nodeLabel(node)}' pads the map, so its kernel averages padding too`, node);
    }
    return { pool: global, max: op === 'MaxPool' };
  }
  return undefined;
}

/** The first cross-channel normalization on the way from `from` to `linear`, if any. */
function normalizationAhead(graph: GraphView, from: NodeProto, linear: NodeProto): NodeProto | undefined {
  const seen = new Set<NodeProto>();
  const queue = [from];
  while (queue.length && seen.size < 64) {
    const n = queue.shift()!;
    if (n === linear || seen.has(n)) continue;
    seen.add(n);
    if (CROSS_CHANNEL_NORMS.has(n.op_type ?? '')) return n;
    for (const o of n.output) if (o) queue.push(...graph.consumers(o));
  }
  return undefined;
}

/** The global pool producing `value`, if it is a pooled map (timm mixes an average and a maximum). */
function poolOf(graph: GraphView, value: string, shapes: Shapes): { pool: GlobalPool; max: boolean } | undefined {
  const p = graph.producer(value);
  const answer = p && matchGlobalPool(graph, p, shapes);
  return answer && !('code' in answer) ? answer : undefined;
}

/** A linear layer found behind an op that blocks the rewrite, and the nodes on the way to it. */
interface Ahead {
  readonly layer: NodeProto;
  readonly path: readonly NodeProto[];
}

/**
 * Is there a linear layer fed by ops computed from `from` alone — or with other pooled maps, as in
 * timm's 0.5·(avg + max) — (activations, a decomposed LayerNorm, …)? Then whatever blocked the
 * rewrite sits inside a classifier tail. Paths that mix the pooled vector back into the feature map
 * (squeeze-and-excitation blocks) or go through a Conv are not classifier tails.
 */
export function linearAhead(graph: GraphView, from: string[], shapes: Shapes, skip?: string, budget = 16): Ahead | undefined {
  const derived = new Set(from);
  const queue = [...from];
  const path: NodeProto[] = [];
  let steps = 0;
  while (queue.length && steps++ < budget) {
    const v = queue.shift()!;
    for (const c of graph.consumers(v)) {
      // `skip`: a layer reading the walked value directly is a tail of its own, not behind `from`.
      if (isLinearLayerOp(graph, c) && derived.has(c.input[0] ?? '') && c.input[0] !== skip) return { layer: c, path };
      if (!isDefaultDomain(c) || c.op_type === 'Conv' || c.op_type === 'ConvTranspose' || SHAPE_READERS.has(c.op_type ?? '')) continue;
      if (!c.input.every((i) => !i || derived.has(i) || graph.constant(i) || poolOf(graph, i, shapes))) continue;
      path.push(c);
      for (const o of c.output) {
        if (o && !derived.has(o)) {
          derived.add(o);
          queue.push(o);
        }
      }
    }
  }
  return undefined;
}

export interface Walk {
  readonly between: readonly BetweenOp[];
  readonly value: string;
  /** Where batch and channels are in `value` (every other dim is 1). */
  readonly layout: FeatureLayout;
}

/** A linear layer the walk reached, how, and the unit-dim ops after it that bring its output to [N, K]. */
export interface WalkedTail {
  readonly walk: Walk;
  readonly linear: LinearLayer;
  /** Reshape/Flatten/Squeeze/Transpose after a channels-last layer ([N, 1, 1, K] → [N, K]). */
  readonly after: readonly NodeProto[];
  /** The [N, K] value the tail ends in: the layer's output, or the end of `after`. */
  readonly output: string;
}

/** Why a tail can't be rewritten, and the linear layer it would have rewritten (when known). */
export interface WalkRefusal {
  readonly reason: NoMatch;
  readonly layer?: NodeProto;
}

export interface PoolWalk {
  readonly tails: WalkedTail[];
  readonly refusals: WalkRefusal[];
  /** Every node the walk looked at, blocked paths included. */
  readonly visited: NodeProto[];
  readonly reachesOutputWithoutLinear: boolean;
}

/**
 * `node` (a ReduceMean or ReduceMax over the spatial axes `axes` of its input) finishing what the
 * same op, its input's only producer and reader, began over the other spatial axes: that first op.
 */
function twoStepInner(graph: GraphView, node: NodeProto, axes: number[], shapes: Shapes): NodeProto | undefined {
  const inner = graph.producer(node.input[0] ?? '');
  if (!inner || inner.op_type !== node.op_type || !isDefaultDomain(inner) || !inner.input[0] || !inner.output[0]) return undefined;
  if (graph.consumers(inner.output[0]).length !== 1 || graph.isGraphOutput(inner.output[0])) return undefined;
  const rank = shapes.get(inner.input[0])?.length;
  const innerAxes = axesOf(graph, inner, 18);
  if (rank === undefined || rank < 3 || innerAxes === 'dynamic' || innerAxes === undefined) return undefined;
  const first = normAxes(innerAxes, rank);
  // The second op's axes in the map's numbering: the same, unless the first dropped its axes.
  const kept = Array.from({ length: rank }, (_, i) => i).filter((i) => attrInt(inner, 'keepdims', 1) !== 0 || !first.includes(i));
  const second = axes.map((a) => kept[a]!);
  const all = normAxes([...first, ...second], rank);
  return first.length && !second.some((a) => first.includes(a)) && sameAxes(all, spatialAxes(rank)) ? inner : undefined;
}

/** Where batch and channels are in the pool's output: [N, C, 1, 1], [N, C], or [N, 1, 1, C] for a channels-last mean that keeps its dims. */
function pooledLayout(pool: GlobalPool, mapRank: number, shapes: Shapes): FeatureLayout {
  const op = pool.node.op_type;
  const keeps = attrInt(pool.node, 'keepdims', 1) !== 0 || (op !== 'ReduceMean' && op !== 'ReduceMax');
  if (pool.channelsLast) return keeps ? { rank: mapRank, channel: mapRank - 1 } : FLAT;
  return { rank: shapes.get(pool.output)?.length ?? (keeps ? mapRank : 2), channel: 1 };
}

/**
 * From `value` (a linear layer's output in `layout`), the unit-dim ops that bring it to [N, K], each
 * the only reader of what it reads: a channels-last Linear's [N, 1, 1, K] → Flatten. A refusal when
 * the output is read as it is.
 */
function followToFlat(graph: GraphView, value: string, layout: FeatureLayout, shapes: Shapes): { after: NodeProto[]; output: string } | NoMatch {
  const after: NodeProto[] = [];
  while (layout.rank !== 2) {
    // Shape/Size read only the dims (the Reshape target of x.view(x.size(0), -1)): not readers of the values.
    const readers = graph.consumers(value).filter((c) => !SHAPE_READERS.has(c.op_type ?? ''));
    const next = readers[0];
    const step = next && readers.length === 1 && !graph.isGraphOutput(value) && next.output[0] ? unitDimStep(graph, next, layout, shapes) : undefined;
    if (!step || 'code' in step) {
      return step ?? noMatch('not-a-flatten', `'${value}' is read as a rank-${layout.rank} tensor, not flattened to [N, K]`, graph.producer(value));
    }
    after.push(next!);
    value = next!.output[0]!;
    layout = step;
  }
  return { after, output: value };
}

/** What a walk accepts between pool and layer, and as a layer: float models', or QDQ models'. */
export interface WalkDialect {
  between(graph: GraphView, node: NodeProto, layout: FeatureLayout, shapes: Shapes): { op: BetweenOp; layout: FeatureLayout } | NoMatch;
  /** `rank`: of the activations `value` (a MatMul's bias must not add dims to its output). */
  linear(graph: GraphView, node: NodeProto, value: string, rank: number): LinearLayer | NoMatch | undefined;
}

const FLOAT_WALK: WalkDialect = { between: classifyBetween, linear: (graph, node, value, rank) => matchLinear(graph, node, value, false, rank) };

/**
 * From a global pool's output, every path through absorbable ops to a linear layer. Paths that
 * hit something else before a linear layer become refusals; paths that never reach one are not
 * classifier tails (they may be an already-GAP head).
 */
export function walkFromPool(graph: GraphView, pool: GlobalPool, shapes: Shapes, dialect: WalkDialect = FLOAT_WALK): PoolWalk {
  const tails: WalkedTail[] = [];
  // One refusal per linear layer the tail would have reached: the most telling reason wins.
  const blocked = new Map<NodeProto, NoMatch>();
  const refusals: WalkRefusal[] = [];
  const visited: NodeProto[] = [];
  let reachesOutputWithoutLinear = false;
  const block = (ahead: NodeProto, reason: NoMatch): void => {
    const prev = blocked.get(ahead);
    if (!prev || REFUSAL_PRIORITY.indexOf(reason.code) < REFUSAL_PRIORITY.indexOf(prev.code)) blocked.set(ahead, reason);
  };
  // An unknown rank is taken as NCHW's: the rule refuses such a tail (unknown-dims) anyway.
  const mapRank = shapes.get(pool.input)?.length ?? 4;
  let steps = 0;
  const visit = (walk: Walk): void => {
    // Past a few ops this is no classifier tail: stop, rather than recurse off the JS stack (a long
    // chain of Identity) or follow exponentially many paths (stacked Identity/Dropout diamonds).
    if (walk.between.length > MAX_WALK_DEPTH || ++steps > MAX_WALK_STEPS) return;
    if (graph.isGraphOutput(walk.value)) reachesOutputWithoutLinear = true;
    for (const c of graph.consumers(walk.value)) {
      // Shape/Size read only the dims (PyTorch's x.view(x.size(0), -1)): no values flow there.
      if (SHAPE_READERS.has(c.op_type ?? '')) continue;
      visited.push(c);
      const linear = dialect.linear(graph, c, walk.value, walk.layout.rank);
      if (linear && 'code' in linear) { refusals.push({ reason: linear, layer: c }); continue; }
      if (linear) {
        const tail = layerOnFeatures(graph, walk, linear, shapes);
        if ('code' in tail) refusals.push({ reason: tail, layer: c });
        else tails.push(tail);
        continue;
      }
      const between = dialect.between(graph, c, walk.layout, shapes);
      if ('code' in between) {
        // A Conv reading the pooled map makes features of its own (a head gapify wrote pool-first):
        // what follows it is not this pool's tail.
        const convolves = c.op_type === 'Conv' || c.op_type === 'ConvTranspose';
        const ahead = convolves ? undefined : linearAhead(graph, [walk.value, ...c.output.filter(Boolean)], shapes, walk.value);
        if (ahead) visited.push(...ahead.path);
        const layer = ahead?.layer;
        // ConvNeXt's head is Transpose → LayerNorm → Transpose: the normalization is the reason.
        const norm = layer && normalizationAhead(graph, c, layer);
        const max = c.input.map((i) => (i ? poolOf(graph, i, shapes) : undefined)).find((p) => p?.max);
        // Transpose → Gemm(transA=1) is how some converters spell a plain Gemm: name the Gemm.
        if (layer?.op_type === 'Gemm' && attrInt(layer, 'transA', 0) === 1) block(layer, noMatch('trans-a', `Gemm '${nodeLabel(layer)}' has transA=1 (its input is transposed by '${nodeLabel(c)}')`, layer));
        else if (layer && norm) block(layer, noMatch('normalization-between', `${norm.op_type} '${nodeLabel(norm)}' normalizes across channels between the pool and the linear layer`, norm));
        else if (layer && isIntegerLinearOp(layer)) block(layer, integerLayer(layer));
        else if (layer && max) block(layer, noMatch('max-pool', `${c.op_type} '${nodeLabel(c)}' mixes in the maximum of ${max.pool.node.op_type} '${nodeLabel(max.pool.node)}', which does not commute with the linear layer`, max.pool.node));
        else if (layer) block(layer, between);
        else if (isFinalOrOutput(graph, c)) reachesOutputWithoutLinear = true;
        continue;
      }
      if (!c.output[0]) continue;
      visit({ between: [...walk.between, between.op], value: c.output[0], layout: between.layout });
    }
  };
  visit({ between: [], value: pool.output, layout: pooledLayout(pool, mapRank, shapes) });
  return { tails, refusals: [...refusals, ...[...blocked].map(([layer, reason]) => ({ reason, layer }))], visited, reachesOutputWithoutLinear };
}

/**
 * `linear` reading the walked features: a Gemm needs them as [N, C], a MatMul with the channels on
 * its last axis (a channels-last Linear, [N, 1, 1, C]), whose [N, 1, 1, K] output must then be
 * flattened.
 */
function layerOnFeatures(graph: GraphView, walk: Walk, linear: LinearLayer, shapes: Shapes): WalkedTail | NoMatch {
  const { layout } = walk;
  const first = linear.nodes[0]!;
  const onLast = layout.channel === layout.rank - 1;
  if (first.op_type === 'Gemm' ? layout.rank !== 2 : !onLast) {
    return noMatch('shape-mismatch', `${first.op_type} '${nodeLabel(first)}' reads the pooled features with the channels on axis ${layout.channel} of ${layout.rank}, not on its last axis`, first);
  }
  const flat = followToFlat(graph, linear.output, layout, shapes);
  if ('code' in flat) return flat;
  return { walk, linear, ...flat };
}

const SHAPE_READERS = new Set(['Shape', 'Size']);

/** Ops walked between a pool and its linear layer, at most (real tails have a handful). */
const MAX_WALK_DEPTH = 64;
/** Nodes a walk from one pool may visit, over all its paths. */
const MAX_WALK_STEPS = 4096;

/** When several ops block one tail (a decomposed LayerNorm is ReduceMean and Sub), the reason to give. */
const REFUSAL_PRIORITY: readonly string[] = ['trans-a', 'normalization-between', 'training-output-used', 'not-linear-between'];

export function isFinalOrOutput(graph: GraphView, node: NodeProto): boolean {
  return node.output.some((o) => o && isFinalScores(graph, o));
}

/** Global pools and reductions: what makes a 1×1 map at any input size (a windowed pool does so at one size only). */
const GLOBAL_POOLS = /^(Global(Average|Max|Lp)Pool|Reduce(Mean|Max|Min|Sum|SumSquare|L1|L2|Prod|LogSum|LogSumExp))$/;
const FEATURE_MAKERS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);

/**
 * Is `value` a map made 1×1 by a global pool or reduction upstream, before any layer that makes new
 * features? Then it is pooled features, not a spatial map to convolve.
 */
export function pooledUpstream(graph: GraphView, value: string): boolean {
  const seen = new Set<string>();
  const queue = [value];
  while (queue.length && seen.size < 32) {
    const v = queue.shift()!;
    if (seen.has(v)) continue;
    seen.add(v);
    const p = graph.producer(v);
    if (!p || FEATURE_MAKERS.has(p.op_type ?? '')) continue;
    if (GLOBAL_POOLS.test(p.op_type ?? '')) return true;
    for (const i of p.input) if (i && !graph.constant(i)) queue.push(i);
  }
  return false;
}

/** Conv → (elementwise) → pool: the pooled map already has one channel per class. */
export function convBeforePool(graph: GraphView, value: string): NodeProto | undefined {
  for (let hops = 0; hops < 8; hops++) {
    const p = graph.producer(value);
    if (!p || !isDefaultDomain(p)) return undefined;
    if (p.op_type === 'Conv') return p;
    if (!isElementwiseOn(graph, p, () => true) || !p.input[0]) return undefined;
    value = p.input[0];
  }
  return undefined;
}
