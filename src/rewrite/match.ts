// Finding classifier tails. Everything here is read-only: a match describes what the rewrite will
// do (which nodes, which weights), a NoMatch says why it won't. Weight *values* are not read here,
// so `gapify lint` can analyse a model without touching its tensors.

import type { GraphView } from '../graph/graph.js';
import { attrInt, attrInts, attrString, isDefaultDomain, attr, nodeLabel } from '../graph/graph.js';
import type { Shape } from '../graph/shapes.js';
import type { NodeProto, TensorProto } from '../onnx/schema.js';
import { elementCount, isFloatDType, readInts } from '../onnx/tensor.js';
import { noMatch, type NoMatch } from './reasons.js';
import { elementwiseRegion, isElementwiseOn, isFinalScores, isLinearLayerOp, isTrainingMode } from './ops.js';

export type Shapes = ReadonlyMap<string, Shape>;

/** A pool that averages the whole spatial map: the `GAP(X)` of the equations. */
export interface GlobalPool {
  node: NodeProto;
  /** Pad of zeros in front of an AveragePool, part of the pattern. */
  pad?: NodeProto;
  /** The feature map X. */
  input: string;
  output: string;
  /** An AveragePool whose kernel happens to equal the map: global only at the trained size. */
  disguised: boolean;
  /**
   * A channels-last mean (tf2onnx's Keras GlobalAveragePooling2D: Transpose NCHW→NHWC, then
   * ReduceMean over axes 1, 2): `input` is the NCHW map before that Transpose.
   */
  channelsLast?: NodeProto;
}

/** An op between pool and linear layer that the rewrite absorbs. */
export interface BetweenOp {
  node: NodeProto;
  role: 'drop-unit-dims' | 'no-op' | 'batchnorm';
}

/** y = alpha·x·op(W) + beta·b, with W and b constants: a Gemm, or a MatMul (+ Add). */
export interface LinearLayer {
  nodes: NodeProto[];
  input: string;
  /** The value the rewritten tail takes over. */
  output: string;
  weight: TensorProto;
  weightName: string;
  /** True when the weight is stored [out, in] (Gemm transB=1), false for [in, out]. */
  transB: boolean;
  alpha: number;
  beta: number;
  bias?: TensorProto;
  biasName?: string;
  inFeatures: number;
  outFeatures: number;
}

export interface GlobalTail {
  kind: 'global';
  pool: GlobalPool;
  between: BetweenOp[];
  linear: LinearLayer;
  /** Shape of X (rank ≥ 3). */
  featureShape: Shape;
  /** The linear layer's output is the model's class scores (reaches outputs through Softmax & co). */
  finalScores: boolean;
  /** Linear layers after this one, behind a nonlinearity: they stay after the pool. */
  laterLayers: string[];
}

/** Flatten of a C×H×W map into Gemms (VGG, AlexNet): each Gemm becomes a Conv. */
export interface SpatialTail {
  kind: 'spatial';
  flatten: NodeProto;
  /** The map X that is flattened. */
  input: string;
  featureShape: Shape;
  /** Linear layers in order; elementwise ops between them stay, now on maps. */
  layers: LinearLayer[];
  /** Values between the layers that become maps instead of vectors. */
  reshapedValues: string[];
  finalScores: boolean;
}

/** An AveragePool covering the whole map with no linear layer after it: just becomes a GAP. */
export interface PoolOnlyTail {
  kind: 'pool-only';
  pool: GlobalPool;
  featureShape: Shape;
}

export type Tail = GlobalTail | SpatialTail | PoolOnlyTail;

export interface Refusal extends NoMatch {
  kind: 'refused';
  tailKind: 'global' | 'spatial';
  /** Pool (global) or Flatten (spatial) where the tail starts. */
  at: string;
}

export interface AlreadyGap {
  kind: 'already-gap';
  pool: string;
  conv: string;
  classes: number | undefined;
}

export type Finding = { kind: 'tail'; tail: Tail } | Refusal | AlreadyGap;



function knownDims(shape: Shape | undefined): number[] | undefined {
  if (!shape || shape.some((d) => typeof d !== 'number')) return undefined;
  return shape as number[];
}

function constInts(graph: GraphView, value: string | undefined): number[] | undefined {
  if (!value) return undefined;
  const t = graph.constant(value);
  if (!t) return undefined;
  try {
    // Axes, pads and shapes are a handful of ints; anything big is no such argument (and might be
    // a lazily read payload that is not loaded).
    if (elementCount(t.dims) > 64) return undefined;
    return readInts(t, undefined);
  } catch {
    return undefined;
  }
}

/** Axes of a Squeeze/Unsqueeze/Reduce node: attribute before `inputFrom`, input after. */
function axesOf(graph: GraphView, node: NodeProto, inputFrom: number): number[] | undefined | 'dynamic' {
  if (graph.opset >= inputFrom) {
    if (!node.input[1]) return attrInts(node, 'axes');
    return constInts(graph, node.input[1]) ?? 'dynamic';
  }
  return attrInts(node, 'axes');
}

function normAxes(axes: number[], rank: number): number[] {
  return [...new Set(axes.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
}

const spatialAxes = (rank: number): number[] => Array.from({ length: rank - 2 }, (_, i) => i + 2);
const sameAxes = (a: number[], b: number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

// --- pools ---------------------------------------------------------------------------------------

/** A global pool (`max`: a maximum, which no linear layer commutes with), a refusal, or not a pool. */
type PoolAnswer = { pool: GlobalPool; max: boolean } | NoMatch | undefined;

/** Is `node` a pool over the whole spatial map? undefined: not a pool at all. */
function matchGlobalPool(graph: GraphView, node: NodeProto, shapes: Shapes): PoolAnswer {
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
    // Mean(Transpose(X, NCHW→NHWC), axes 1..r-2) = Mean(X, axes 2..r-1), reshaped: a global pool of X.
    const t = graph.producer(input);
    const perm = t?.op_type === 'Transpose' ? attrInts(t, 'perm') : undefined;
    const toChannelsLast = [0, ...spatialAxes(rank), 1];
    const keepdims = attrInt(node, 'keepdims', 1);
    if (t && perm && t.input[0] && keepdims === 0 && sameAxes(perm, toChannelsLast) && sameAxes(norm, spatialAxes(rank).map((a) => a - 1))) {
      return { pool: { ...base, input: t.input[0], channelsLast: t }, max: op === 'ReduceMax' };
    }
    return undefined;
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
      return noMatch('pool-changes-mean', `${op} '${nodeLabel(node)}' pads the map, so its kernel averages padding too`, nodeLabel(node));
    }
    return { pool: global, max: op === 'MaxPool' };
  }
  return undefined;
}

// --- between pool and linear layer ----------------------------------------------------------------

/** Does `node` only drop the unit spatial dims of `shapeIn` ([N,C,1,1] → [N,C])? */
function dropsUnitDims(graph: GraphView, node: NodeProto, shapes: Shapes): boolean | NoMatch {
  const input = node.input[0]!;
  const inShape = shapes.get(input);
  const outShape = node.output[0] ? shapes.get(node.output[0]) : undefined;
  const label = nodeLabel(node);
  if (node.op_type === 'Flatten') {
    const axis = attrInt(node, 'axis', 1);
    if (axis === 1) return true;
    return noMatch('not-a-flatten', `Flatten '${label}' has axis ${axis}, not 1`, label);
  }
  if (node.op_type === 'Squeeze') {
    const rank = inShape?.length;
    const axes = axesOf(graph, node, 13);
    if (axes === 'dynamic') return noMatch('not-a-flatten', `Squeeze '${label}' takes its axes at run time`, label);
    if (rank === undefined) return noMatch('unknown-dims', `the rank of '${input}' is unknown`, label);
    if (axes === undefined) {
      // No axes: squeezes every 1, including a batch of 1 — only safe when the result is [N, C].
      return outShape?.length === 2 ? true : noMatch('not-a-flatten', `Squeeze '${label}' without axes may drop the batch dim`, label);
    }
    return sameAxes(normAxes(axes, rank), spatialAxes(rank)) ? true : noMatch('not-a-flatten', `Squeeze '${label}' removes axes other than the spatial ones`, label);
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
    if (!outShape) return noMatch('unknown-dims', `the target shape of Reshape '${label}' can't be determined`, label);
    return noMatch('not-a-flatten', `Reshape '${label}' gives [${outShape.join(', ')}], not [N, C]`, label);
  }
  return false;
}

const CROSS_CHANNEL_NORMS = new Set(['LayerNormalization', 'ReduceMean', 'ReduceSum', 'ReduceL2', 'LpNormalization', 'InstanceNormalization', 'GroupNormalization', 'MeanVarianceNormalization', 'RMSNormalization']);

function classifyBetween(graph: GraphView, node: NodeProto, shapes: Shapes): BetweenOp | NoMatch {
  const label = nodeLabel(node);
  const op = node.op_type ?? '';
  if (!isDefaultDomain(node)) return noMatch('not-linear-between', `${node.domain}.${op} '${label}' sits between the pool and the linear layer`, label);
  if (op === 'Flatten' || op === 'Squeeze' || op === 'Reshape') {
    const r = dropsUnitDims(graph, node, shapes);
    if (r === true) return { node, role: 'drop-unit-dims' };
    if (r !== false) return r;
  }
  if (op === 'Identity') return { node, role: 'no-op' };
  if (op === 'Dropout') {
    if (isTrainingMode(graph, node) || (node.input[2] && constInts(graph, node.input[2])?.[0] !== 0)) {
      return noMatch('training-output-used', `Dropout '${label}' runs in training mode or its mask is read`, label);
    }
    return { node, role: 'no-op' };
  }
  if (op === 'BatchNormalization') {
    if (isTrainingMode(graph, node)) return noMatch('training-output-used', `BatchNormalization '${label}' runs in training mode`, label);
    if (!node.input.slice(1, 5).every((i) => i && graph.constant(i))) {
      return noMatch('not-linear-between', `BatchNormalization '${label}' has non-constant statistics`, label);
    }
    return { node, role: 'batchnorm' };
  }
  if (CROSS_CHANNEL_NORMS.has(op)) return noMatch('normalization-between', `${op} '${label}' normalizes across channels between the pool and the linear layer`, label);
  return noMatch('not-linear-between', `${op} '${label}' between the pool and the linear layer is not linear`, label);
}

// --- linear layers --------------------------------------------------------------------------------

/** The Gemm or MatMul(+Add) reading `value` as its activations. */
function matchLinear(graph: GraphView, node: NodeProto, value: string, shapes: Shapes): LinearLayer | NoMatch | undefined {
  const label = nodeLabel(node);
  if (!isDefaultDomain(node)) return undefined;
  const output = node.output[0];
  if (!output) return undefined;
  if (node.op_type === 'Gemm') {
    if (node.input[0] !== value) return noMatch('weight-not-constant', `the pooled features are Gemm '${label}''s weight operand`, label);
    if (attrInt(node, 'transA', 0) !== 0) return noMatch('trans-a', `Gemm '${label}' has transA=1`, label);
    const weightName = node.input[1]!;
    const weight = graph.constant(weightName);
    if (!weight) return noMatch('weight-not-constant', `Gemm '${label}''s weight '${weightName}' is computed at run time`, label);
    const transB = attrInt(node, 'transB', 0) === 1;
    const alpha = attr(node, 'alpha')?.f ?? 1;
    const beta = attr(node, 'beta')?.f ?? 1;
    return finishLinear(graph, [node], value, output, weight, weightName, transB, alpha, beta, node.input[2] || undefined, shapes, label);
  }
  if (node.op_type === 'MatMul') {
    if (node.input[0] !== value) return noMatch('weight-not-constant', `the pooled features are MatMul '${label}''s right operand`, label);
    const weightName = node.input[1]!;
    const weight = graph.constant(weightName);
    if (!weight) return noMatch('weight-not-constant', `MatMul '${label}''s weight '${weightName}' is computed at run time`, label);
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
  if (!isFloatDType(weight.data_type)) return noMatch('unsupported-dtype', `the weight of '${label}' is not a float tensor`, label);
  if (weight.dims.length !== 2) return noMatch('shape-mismatch', `the weight of '${label}' has ${weight.dims.length} dims, not 2`, label);
  const [d0, d1] = weight.dims.map(Number) as [number, number];
  const outFeatures = transB ? d0 : d1;
  const inFeatures = transB ? d1 : d0;
  const inShape = shapes.get(input);
  if (inShape && inShape.length !== 2) return noMatch('shape-mismatch', `'${label}' reads a rank-${inShape.length} tensor, not [N, C]`, label);
  let bias: TensorProto | undefined;
  if (biasName) {
    bias = graph.constant(biasName);
    if (!bias) return noMatch('bias-not-constant', `the bias '${biasName}' of '${label}' is computed at run time`, label);
    if (!isFloatDType(bias.data_type)) return noMatch('unsupported-dtype', `the bias of '${label}' is not a float tensor`, label);
    if (!biasFits(bias, outFeatures)) {
      return noMatch('bias-depends-on-batch', `the bias of '${label}' has shape [${bias.dims.join(', ')}], not [${outFeatures}] or [1, ${outFeatures}]`, label);
    }
  }
  return { nodes, input, output, weight, weightName, transB, alpha, beta, ...(bias && biasName ? { bias, biasName } : {}), inFeatures, outFeatures };
}

// --- the search ----------------------------------------------------------------------------------

const PASS_OPS = new Set(['Flatten', 'Squeeze', 'Reshape', 'Identity', 'Dropout', 'BatchNormalization']);

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

/**
 * Is there a linear layer fed by ops computed from `value` alone (activations, a decomposed
 * LayerNorm, …)? Then whatever blocked the rewrite sits inside a classifier tail. Paths that mix
 * the pooled vector back into the feature map (squeeze-and-excitation blocks) or go through a Conv
 * are not classifier tails.
 */
function linearAhead(graph: GraphView, from: string[], skip?: string, budget = 16): NodeProto | undefined {
  const derived = new Set(from);
  const queue = [...from];
  let steps = 0;
  while (queue.length && steps++ < budget) {
    const v = queue.shift()!;
    for (const c of graph.consumers(v)) {
      // `skip`: a layer reading the walked value directly is a tail of its own, not behind `from`.
      if (isLinearLayerOp(graph, c) && derived.has(c.input[0] ?? '') && c.input[0] !== skip) return c;
      if (!isDefaultDomain(c) || c.op_type === 'Conv' || c.op_type === 'ConvTranspose' || SHAPE_READERS.has(c.op_type ?? '')) continue;
      if (!c.input.every((i) => !i || derived.has(i) || graph.constant(i))) continue;
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

interface Walk { between: BetweenOp[]; value: string }

/**
 * From a global pool's output, every path through absorbable ops to a linear layer. Paths that
 * hit something else before a linear layer become refusals; paths that never reach one are not
 * classifier tails (they may be an already-GAP head).
 */
function walkFromPool(graph: GraphView, pool: GlobalPool, shapes: Shapes): { tails: { walk: Walk; linear: LinearLayer }[]; refusals: NoMatch[]; visited: NodeProto[]; reachesOutputWithoutLinear: boolean } {
  const tails: { walk: Walk; linear: LinearLayer }[] = [];
  // One refusal per linear layer the tail would have reached: the most telling reason wins.
  const blocked = new Map<NodeProto, NoMatch>();
  const refusals: NoMatch[] = [];
  const visited: NodeProto[] = [];
  let reachesOutputWithoutLinear = false;
  const block = (ahead: NodeProto, reason: NoMatch): void => {
    const prev = blocked.get(ahead);
    if (!prev || REFUSAL_PRIORITY.indexOf(reason.code) < REFUSAL_PRIORITY.indexOf(prev.code)) blocked.set(ahead, reason);
  };
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
      const linear = matchLinear(graph, c, walk.value, shapes);
      if (linear && !('code' in linear)) { tails.push({ walk, linear }); continue; }
      if (linear) { refusals.push(linear); continue; }
      const between = classifyBetween(graph, c, shapes);
      if ('code' in between) {
        const ahead = linearAhead(graph, [walk.value, ...c.output.filter(Boolean)], walk.value);
        // ConvNeXt's head is Transpose → LayerNorm → Transpose: the normalization is the reason.
        const norm = ahead && normalizationAhead(graph, c, ahead);
        // Transpose → Gemm(transA=1) is how some converters spell a plain Gemm: name the Gemm.
        if (ahead?.op_type === 'Gemm' && attrInt(ahead, 'transA', 0) === 1) block(ahead, noMatch('trans-a', `Gemm '${nodeLabel(ahead)}' has transA=1 (its input is transposed by '${nodeLabel(c)}')`, nodeLabel(ahead)));
        else if (norm) block(ahead, noMatch('normalization-between', `${norm.op_type} '${nodeLabel(norm)}' normalizes across channels between the pool and the linear layer`, nodeLabel(norm)));
        else if (ahead) block(ahead, between);
        else if (isFinalOrOutput(graph, c)) reachesOutputWithoutLinear = true;
        continue;
      }
      if (!PASS_OPS.has(c.op_type ?? '') || !c.output[0]) continue;
      visit({ between: [...walk.between, between], value: c.output[0] });
    }
  };
  visit({ between: [], value: pool.output });
  return { tails, refusals: [...refusals, ...blocked.values()], visited, reachesOutputWithoutLinear };
}

const SHAPE_READERS = new Set(['Shape', 'Size']);

/** Ops walked between a pool and its linear layer, at most (real tails have a handful). */
const MAX_WALK_DEPTH = 64;
/** Nodes a walk from one pool may visit, over all its paths. */
const MAX_WALK_STEPS = 4096;

/** When several ops block one tail (a decomposed LayerNorm is ReduceMean and Sub), the reason to give. */
const REFUSAL_PRIORITY: readonly string[] = ['trans-a', 'normalization-between', 'training-output-used', 'not-linear-between'];

function isFinalOrOutput(graph: GraphView, node: NodeProto): boolean {
  return node.output.some((o) => o && isFinalScores(graph, o));
}

/** Linear layers reached from `value` through elementwise ops (an MLP head's later layers). */
function laterLinearLayers(graph: GraphView, value: string): string[] {
  const region = elementwiseRegion(graph, value);
  return region.exits.filter((e) => isLinearLayerOp(graph, e.node)).map((e) => nodeLabel(e.node));
}

/** Conv → (elementwise) → pool: the pooled map already has one channel per class. */
function convBeforePool(graph: GraphView, value: string): NodeProto | undefined {
  for (let hops = 0; hops < 8; hops++) {
    const p = graph.producer(value);
    if (!p || !isDefaultDomain(p)) return undefined;
    if (p.op_type === 'Conv') return p;
    if (!isElementwiseOn(graph, p, () => true) || !p.input[0]) return undefined;
    value = p.input[0];
  }
  return undefined;
}

/** Every classifier tail in the graph, rewritable or not, and already-GAP heads. */
export function findClassifierTails(graph: GraphView, shapes: Shapes): Finding[] {
  const findings: Finding[] = [];
  const claimedFlattens = new Set<NodeProto>();
  // A linear layer is rewritten once, however many paths lead to it (a walk that forks and joins
  // again through a two-input Dropout, or two pools joined that way, would find it twice).
  const claimedLinear = new Set<NodeProto>();
  for (const node of graph.nodes) {
    const answer = matchGlobalPool(graph, node, shapes);
    if (!answer) continue;
    const label = nodeLabel(node);
    if ('code' in answer) {
      if (linearAhead(graph, node.output.filter(Boolean))) findings.push({ kind: 'refused', tailKind: 'global', at: label, ...answer });
      continue;
    }
    const { pool } = answer;
    const featureShape = shapes.get(pool.input);
    const walked = walkFromPool(graph, pool, shapes);
    // Whatever a global pool's walk reached is that tail's business, not a spatial tail's.
    for (const n of walked.visited) claimedFlattens.add(n);
    if (answer.max) {
      if (walked.tails.length || walked.refusals.length) {
        findings.push({ kind: 'refused', tailKind: 'global', at: label, ...noMatch('max-pool', `${node.op_type} '${label}' takes a maximum, which does not commute with the linear layer`, label) });
      }
      continue;
    }
    for (const r of walked.refusals) findings.push({ kind: 'refused', tailKind: 'global', at: label, ...r });
    if (walked.tails.length && (!featureShape || featureShape.length < 3)) {
      findings.push({ kind: 'refused', tailKind: 'global', at: label, ...noMatch('unknown-dims', `the rank of '${pool.input}' (the map ${node.op_type} '${label}' pools) is unknown; give --input-shape`, label) });
      continue;
    }
    for (const { walk, linear } of walked.tails) {
      if (claimedLinear.has(linear.nodes[0]!)) continue;
      claimedLinear.add(linear.nodes[0]!);
      const channels = featureShape![1];
      if (typeof channels === 'number' && channels !== linear.inFeatures) {
        findings.push({ kind: 'refused', tailKind: 'global', at: label, ...noMatch('shape-mismatch', `'${nodeLabel(linear.nodes[0]!)}' expects ${linear.inFeatures} features but the pool gives ${channels}`, label) });
        continue;
      }
      findings.push({
        kind: 'tail',
        tail: {
          kind: 'global', pool, between: walk.between, linear, featureShape: featureShape!,
          finalScores: isFinalScores(graph, linear.output), laterLayers: laterLinearLayers(graph, linear.output),
        },
      });
    }
    if (!walked.tails.length && !walked.refusals.length) {
      if (pool.disguised && featureShape) {
        findings.push({ kind: 'tail', tail: { kind: 'pool-only', pool, featureShape } });
      } else if (walked.reachesOutputWithoutLinear || isFinalOrOutput(graph, node)) {
        const conv = convBeforePool(graph, pool.input);
        if (conv) {
          const w = conv.input[1] ? graph.constant(conv.input[1]) : undefined;
          findings.push({ kind: 'already-gap', pool: label, conv: nodeLabel(conv), classes: w ? Number(w.dims[0]) : undefined });
        }
      }
    }
  }
  for (const node of graph.nodes) {
    if (claimedFlattens.has(node)) continue;
    const s = matchSpatialTail(graph, node, shapes);
    if (s) findings.push(s);
  }
  return findings;
}

// --- spatial tails ---------------------------------------------------------------------------------

/**
 * Flatten(X: [N, C, H, W]) → Gemm(C·H·W → K1) → elementwise → Gemm(K1 → K2) → … : each Gemm
 * becomes a Conv (the first with an H×W kernel, the rest 1×1) and GAP → Flatten closes the tail.
 */
function matchSpatialTail(graph: GraphView, node: NodeProto, shapes: Shapes): Finding | undefined {
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
  const refuse = (nm: NoMatch): Refusal => ({ kind: 'refused', tailKind: 'spatial', at: label, ...nm });
  if (!inShape) return refuse(noMatch('unknown-dims', `the shape of '${input}' (flattened by '${label}') is unknown; give --input-shape`, label));
  const dims = knownDims(inShape.slice(1));
  if (!dims) return refuse(noMatch('unknown-dims', `the map '${input}' flattened by '${label}' has symbolic dims [${inShape.join(', ')}]; give --input-shape`, label));
  if (node.op_type === 'Flatten' && attrInt(node, 'axis', 1) !== 1) return refuse(noMatch('not-a-flatten', `Flatten '${label}' has axis ${attrInt(node, 'axis', 1)}`, label));
  if (node.op_type === 'Reshape') {
    const out = shapes.get(flat);
    const [c, h, w] = dims as [number, number, number];
    if (!out || out.length !== 2 || out[1] !== c * h * w) return refuse(noMatch('not-a-flatten', `Reshape '${label}' does not flatten [C, H, W] in order`, label));
  }
  if (consumers.length !== 1 || graph.isGraphOutput(features)) {
    return refuse(noMatch('not-a-flatten', `the flattened features of '${label}' are also read elsewhere`, label));
  }
  const layers: LinearLayer[] = [];
  const reshapedValues: string[] = [];
  let current: NodeProto = first;
  let value = features;
  for (;;) {
    const lin = matchLinear(graph, current, value, shapes);
    if (!lin) break;
    if ('code' in lin) {
      if (layers.length === 0) return refuse(lin);
      break;
    }
    if (layers.length === 0 && lin.inFeatures !== dims.reduce((a, b) => a * b, 1)) {
      return refuse(noMatch('shape-mismatch', `'${nodeLabel(lin.nodes[0]!)}' expects ${lin.inFeatures} features, the map has ${dims.join('×')}`, label));
    }
    layers.push(lin);
    // Continue into the next layer only if the activations between are elementwise and private.
    const region = elementwiseRegion(graph, lin.output);
    const next = region.exits.length === 1 ? region.exits[0]! : undefined;
    if (!next || region.outputs.length || !isLinearLayerOp(graph, next.node) || next.node.input[0] !== next.value) break;
    if (region.nodes.some((n) => n.output.slice(1).some((o) => o && graph.isUsed(o)))) break;
    const probe = matchLinear(graph, next.node, next.value, shapes);
    if (!probe || 'code' in probe) break;
    // Every output of the ops in between becomes a map, a Dropout's unused mask included.
    reshapedValues.push(...region.values, ...region.nodes.flatMap((n) => n.output.slice(1).filter(Boolean)));
    current = next.node;
    value = next.value;
  }
  const last = layers[layers.length - 1]!;
  return {
    kind: 'tail',
    tail: { kind: 'spatial', flatten: node, input, featureShape: inShape, layers, reshapedValues: reshapedValues.filter((v) => v !== last.output), finalScores: isFinalScores(graph, last.output) },
  };
}
