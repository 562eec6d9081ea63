// What pins a model to the input size (and, with a free batch, the batch) it was exported at, and
// which of those pins `gapify --dynamic-size` removes. One analysis for `gapify lint`
// (fixed-input-size) and `gapify --dynamic-size` (which applies its frees and checks them with
// onnxruntime).
//
// Pins come from:
//   - the graph inputs: declared fixed height/width dims of an image input (--dynamic-size makes
//     them symbolic);
//   - the tails the rules found (a spatial tail's weight fits one map size, an AveragePool as big
//     as its map is global at this size only): each rule says what its tails pin;
//   - static shape inference, run node by node at the trained point and at one probe per free dim
//     (plan.ts: the height alone, the width alone, the batch), on a copy of the graph without
//     declared shapes (a stale declared dim must not hide a failure). The probes say which dims of
//     each value follow which input dim. Then, in graph order:
//       - a Reshape whose input follows the size but whose target does not (a constant that holds
//         the trained map size or batch) is freed (unpin.ts) — before its consumers are inferred,
//         so they see what the freed model computes — or, when its dims can't be written as
//         products of its input's, stays a pin;
//       - an AveragePool/MaxPool whose kernel is exactly the map on an axis that follows the size
//         is global at this size only; a Resize to constant sizes, a Slice with a constant range on
//         such an axis keep their output's extent whatever the input's: they change meaning, not
//         just shape, and stay pins;
//       - any other node that resolves at the trained point and fails at a probe pins the size —
//         the Pad/Expand/Tile/ConstantOfShape/Slice/Resize with constant values that feeds it
//         (through element-wise ops) is named when there is one, else the node itself.
//     What a pinned node's outputs do at other sizes is explained by the pin: nothing downstream
//     of a pin is judged again.
// The checks read shapes and small int constants only: no weights, no onnxruntime.

import { GraphView, attrInts, attrString, isDefaultDomain } from '../graph/graph.js';
import { inferenceOrder, ShapeRun, type Dim, type NodeStatus, type ShapeInference } from '../graph/shapes.js';
import type { ModelProto, NodeProto, ValueInfoProto } from '../onnx/schema.js';
import type { Finding } from '../rewrite/rule.js';
import { dimsText, nodeLabel, shapeText } from '../text.js';
import type { DeclaredInput } from '../verify/inputs.js';
import type { SizePin } from './pin.js';
import { imageAxes, probePoints, type Probe, type Size, type SizePlan, type SizePoint } from './plan.js';
import { networkStride } from './stride.js';
import { alignReshape, allowsZero, dimsWords, evalDims, freeReshape, reshaped, type ReshapeFree } from './unpin.js';

export interface SizeAnalysis {
  readonly plan: SizePlan;
  /** The network's stride per axis (stride.ts): other sizes differ from the trained one by whole steps of it. */
  readonly stride: Size;
  readonly probes: readonly Probe[];
  /** Shapes at the trained point and at each probe, of `graph` (declared shapes ignored). */
  readonly trained: ShapeInference;
  readonly atProbes: readonly ShapeInference[];
  /** A bare copy of the graph with the freeable Reshapes freed (its other nodes are the model's own). */
  readonly graph: GraphView;
  /** The Reshapes --dynamic-size frees, in graph order. */
  readonly frees: readonly ReshapeFree[];
  /** Every pin, the freed Reshapes' included (fixedByRewrite). */
  readonly pins: readonly SizePin[];
}

/** Image inputs declared with a fixed height or width: --dynamic-size makes them symbolic. */
export function inputPins(inputs: readonly DeclaredInput[]): SizePin[] {
  const pins: SizePin[] = [];
  for (const input of inputs) {
    const image = imageAxes(input);
    if (!image || !input.dims) continue;
    const axes = [image.hAxis, image.wAxis];
    const fixed = axes.filter((a) => input.dims![a]!.value !== undefined);
    if (fixed.length === 0) continue;
    const shape = dimsText(input.dims.map((d) => d.value ?? d.param));
    const what = fixed.length === 2 ? 'height and width are' : `spatial dim ${fixed[0]} is`;
    pins.push({ kind: 'input', node: null, input: input.name, detail: `input '${input.name}' is declared ${shape}: ${what} fixed`, fixedByRewrite: true, found: 'static' });
  }
  return pins;
}

/** What the tails of `findings` pin (spatial tails, fixed pools, refused spatial tails). */
export function tailPins(findings: readonly Finding[]): SizePin[] {
  return findings.flatMap((f) => (f.kind === 'tail' ? f.tail.pins() : f.kind === 'refused' ? [...(f.pins ?? [])] : []));
}

function withoutShape(v: ValueInfoProto): ValueInfoProto {
  const tt = v.type?.tensor_type;
  if (!tt?.shape) return v;
  const { shape: _dropped, ...rest } = tt;
  return { ...v, type: { ...v.type, tensor_type: rest } };
}

/** A view of `model`'s graph with every declared shape but the inputs' forgotten. */
export function bareGraph(model: ModelProto, opset: number): GraphView {
  const g = model.graph!;
  return new GraphView({ ...g, value_info: [], output: g.output.map(withoutShape) }, opset);
}

export const pointDims = (p: SizePoint): Map<string, Dim[]> => new Map(p.inputs.map((i) => [i.name, [...i.shape]]));

const known = (s: readonly Dim[] | undefined): s is number[] => !!s && s.every((d): d is number => typeof d === 'number' && d > 0);
const same = (a: readonly number[] | undefined, b: readonly number[] | undefined): boolean => !!a && !!b && a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * The constant a Pad/Expand/Tile/ConstantOfShape/Slice/Resize takes its extent or range from:
 * its values, `[]` when constant but not small ints, undefined when computed (or not such an op).
 */
function sizeConstant(graph: GraphView, base: ShapeRun, n: NodeProto): number[] | undefined {
  const op = n.op_type ?? '';
  if (op === 'Pad' && graph.opset < 11) return attrInts(n, 'pads') ?? attrInts(n, 'paddings') ?? [];
  if (op === 'Slice' && graph.opset < 10) return attrInts(n, 'ends') ?? [];
  const slot = op === 'Pad' || op === 'Expand' || op === 'Tile' ? 1 : op === 'ConstantOfShape' ? 0 : op === 'Slice' ? 2 : op === 'Resize' && graph.opset >= 11 ? 3 : -1;
  const name = slot >= 0 ? n.input[slot] : undefined;
  if (!name || !graph.constant(name) || (op === 'Slice' && !(n.input[1] && graph.constant(n.input[1])))) return undefined;
  return base.ints(name) ?? [];
}

/** Ops a fixed extent passes through unchanged on its way to where it fails (one data input). */
const THROUGH = new Set([
  'Relu', 'Sigmoid', 'Tanh', 'HardSigmoid', 'HardSwish', 'LeakyRelu', 'Clip', 'Elu', 'Gelu', 'Neg', 'Abs', 'Exp', 'Log', 'Sqrt',
  'Cast', 'Identity', 'Dropout', 'BatchNormalization', 'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Where', 'Unsqueeze', 'Squeeze',
]);

/** The pass over the graph (see the top of the file). */
class Pass {
  readonly pins: SizePin[] = [];
  readonly frees: ReshapeFree[] = [];
  private readonly pinned = new Set<NodeProto>();
  /** Values downstream of a pin. */
  private readonly explained = new Set<string>();

  constructor(
    readonly graph: GraphView,
    readonly base: ShapeRun,
    readonly probes: readonly Probe[],
    readonly runs: readonly ShapeRun[],
    knownPins: readonly SizePin[],
  ) {
    this.pins.push(...knownPins);
    for (const p of knownPins) if (p.node) this.pinned.add(p.node);
  }

  /** Pins `pin.node` (once) for what goes wrong at `node`; `node`'s outputs are explained by it. */
  private pin(node: NodeProto, pin: Omit<SizePin, 'found' | 'fixedByRewrite'>): void {
    if (!pin.node || !this.pinned.has(pin.node)) this.pins.push({ ...pin, found: 'static', fixedByRewrite: false });
    if (pin.node) this.pinned.add(pin.node);
    this.explain(node);
  }

  private explain(node: NodeProto): void {
    for (const o of node.output) if (o) this.explained.add(o);
  }

  private inferProbes(node: NodeProto): NodeStatus[] {
    return this.runs.map((r) => r.infer(node));
  }

  /** A value's dims at the trained point and at each probe (undefined where not all known). */
  private across(value: string): Across | undefined {
    const at = this.base.shape(value);
    const probes = this.runs.map((r) => r.shape(value));
    if (!known(at) || !probes.every(known)) return undefined;
    return { at, probes: probes as number[][] };
  }

  /** Each dim in words: its value where it doesn't follow the size, else the probes that move it ('H', 'W', 'N', 'H·W'). */
  private dimNames(x: Across): string[] {
    return x.at.map((d, k) => {
      const axes = this.probes.filter((_, p) => x.probes[p]![k] !== d).map((p) => p.axis);
      return axes.length ? axes.join('·') : String(d);
    });
  }

  visit(node: NodeProto): void {
    if (this.pinned.has(node) || node.input.some((i) => i && this.explained.has(i))) {
      this.base.infer(node);
      this.inferProbes(node);
      this.explain(node);
      return;
    }
    const trained = this.base.infer(node);
    if (node.op_type === 'Reshape' && isDefaultDomain(node) && this.reshape(node)) return;
    const probes = this.inferProbes(node);
    const fixed = this.fixedExtent(node);
    if (fixed) this.pin(node, fixed);
    else if (trained === 'resolved' && probes.includes('unresolved')) this.failed(node);
  }

  /**
   * Frees or pins a Reshape whose input follows the size (true: done, its outputs inferred
   * everywhere); false for one that does not, or that can't be analysed: judged like any node.
   */
  private reshape(node: NodeProto): boolean {
    const [xName, tName] = node.input;
    const yName = node.output[0];
    if (!xName || !tName || !yName) return false;
    const x = this.across(xName);
    const t0 = this.base.ints(tName);
    const y0 = this.base.shape(yName);
    if (!x || !t0 || !known(y0)) return false;
    const names = this.dimNames(x);
    const moves = names.map((n, k) => n !== String(x.at[k]));
    if (!moves.some(Boolean)) return false;
    const allowZero = allowsZero(node);
    const targets = this.runs.map((r) => r.ints(tName));
    const now = x.probes.map((xp, p) => (targets[p] ? reshaped(xp, targets[p], allowZero) : undefined));
    const aligned = alignReshape(x.at, y0, moves, names);
    const target = `the fixed target ${shapeText(t0)} that holds ${held(x, names)}`;
    if ('why' in aligned) {
      const computed = targets.some((t) => !t || !same(t, t0));
      if (computed && now.every(Boolean)) return false; // its target follows the size already
      this.inferProbes(node);
      this.pin(node, { kind: 'reshape', node, detail: `Reshape '${nodeLabel(node)}' (fixed target ${shapeText(t0)}) ${aligned.why}` });
      return true;
    }
    if (now.every((y, p) => same(y, evalDims(aligned, x.probes[p]!)))) return false;
    const words = dimsWords(aligned, names);
    const free: ReshapeFree = { node, target: t0, constantTarget: !!this.graph.constant(tName), dims: aligned, words };
    this.frees.push(free);
    this.pins.push({
      kind: 'reshape', node, found: 'static', fixedByRewrite: true,
      detail: `Reshape '${nodeLabel(node)}' has ${target}: gapify --dynamic-size computes it as ${shapeText(words)} from its input's shape`,
    });
    for (const added of freeReshape(this.graph, free)) {
      this.base.infer(added);
      this.inferProbes(added);
    }
    return true;
  }

  /** A pool global at this size only, a Resize to constant sizes, a Slice with a constant range (see the top). */
  private fixedExtent(node: NodeProto): Omit<SizePin, 'found' | 'fixedByRewrite'> | undefined {
    const op = node.op_type ?? '';
    const xName = node.input[0];
    const yName = node.output[0];
    if (!isDefaultDomain(node) || !xName || !yName || !FIXED_EXTENT.has(op)) return undefined;
    const x = this.across(xName);
    const y = this.across(yName);
    if (!x || !y || x.at.length !== y.at.length) return undefined;
    const moves = (k: number): boolean => x.probes.some((p) => p[k] !== x.at[k]);
    const names = this.dimNames(x);
    if (op === 'Resize' || op === 'Slice') {
      const stuck = x.at.map((_, k) => moves(k) && y.probes.every((p) => p[k] === y.at[k]));
      const values = sizeConstant(this.graph, this.base, node);
      if (!stuck.some(Boolean) || !values) return undefined;
      const axes = names.filter((_, k) => stuck[k]).join(', ');
      const extent = dimsText(y.at.filter((_, k) => stuck[k]));
      const detail = op === 'Resize'
        ? `Resize '${nodeLabel(node)}' resizes to the constant sizes ${shapeText(values)}: its output stays ${extent} on ${axes} whatever the input size`
        : `Slice '${nodeLabel(node)}' keeps a constant range of ${axes} (${extent} of ${dimsText(x.at.filter((_, k) => stuck[k]))} here): at other sizes it still cuts out ${extent}`;
      return { kind: 'size-constant', node, detail };
    }
    // A pool whose kernel is exactly the map (no padding) on an axis that follows the size.
    const kernel = attrInts(node, 'kernel_shape') ?? [];
    const pads = attrInts(node, 'pads') ?? [];
    const auto = attrString(node, 'auto_pad') ?? 'NOTSET';
    const map = x.at.slice(2);
    const whole = map.some((d, i) => moves(i + 2) && d > 1 && kernel[i] === d && !pads[i] && !pads[i + map.length] && (auto === 'NOTSET' || auto === 'VALID'));
    if (!whole) return undefined;
    return {
      kind: 'fixed-pool', node,
      detail: `${op} '${nodeLabel(node)}' has a fixed ${dimsText(kernel)} kernel that covers its whole ${dimsText(map)} map: global at this size only`,
    };
  }

  /** A node that fails at a probe: name the constant that feeds it a fixed extent, else the node. */
  private failed(node: NodeProto): void {
    const reason = this.runs.map((r) => r.failure(node)).find((f) => f !== undefined) ?? 'fails';
    const culprit = this.constantSource(node);
    if (culprit) {
      const values = sizeConstant(this.graph, this.base, culprit);
      this.pin(node, {
        kind: 'size-constant', node: culprit,
        detail: `${culprit.op_type} '${nodeLabel(culprit)}' has the constant ${values?.length ? shapeText(values) : 'input'}, fitting this size only: ${node.op_type} '${nodeLabel(node)}' fails at other sizes`,
      });
      return;
    }
    this.pin(node, { kind: node.op_type === 'Reshape' ? 'reshape' : 'other', node, detail: `${node.op_type} '${nodeLabel(node)}' fails at other input sizes (${reason})` });
  }

  /** The nearest Pad/Expand/Tile/ConstantOfShape/Slice/Resize with a constant size feeding `node` through element-wise ops. */
  private constantSource(node: NodeProto): NodeProto | undefined {
    const seen = new Set<NodeProto>();
    const computed = (n: NodeProto): string[] => n.input.filter((i) => i && !this.graph.constant(i));
    const queue = computed(node);
    while (queue.length && seen.size < 64) {
      const p = this.graph.producer(queue.shift()!);
      if (!p || seen.has(p) || !isDefaultDomain(p)) continue;
      seen.add(p);
      if (sizeConstant(this.graph, this.base, p)) return p;
      if (THROUGH.has(p.op_type ?? '')) queue.push(...computed(p));
    }
    return undefined;
  }
}

/** A value's dims at the trained point and at each probe. */
interface Across {
  readonly at: number[];
  readonly probes: number[][];
}

const FIXED_EXTENT = new Set(['AveragePool', 'MaxPool', 'LpPool', 'Resize', 'Slice']);

/** "the 28×28 map size", "the batch 1", or both. */
function held(x: Across, names: readonly string[]): string {
  const spatial = x.at.filter((_, k) => /[HW]/.test(names[k]!));
  const batch = x.at.filter((_, k) => names[k] === 'N');
  const parts = [...(spatial.length ? [`the ${dimsText(spatial)} map size`] : []), ...(batch.length ? [`the batch ${batch.join('×')}`] : [])];
  return parts.join(' and ') || 'the input size';
}

/**
 * Every pin of `model` at `plan`'s points, and the Reshapes --dynamic-size frees. `known`: pins
 * found before (input and tail pins, see inputPins and tailPins), listed first; the analysis skips
 * their nodes and what they explain.
 */
export function analyzeSize(model: ModelProto, opset: number, plan: SizePlan, knownPins: readonly SizePin[]): SizeAnalysis {
  const graph = bareGraph(model, opset);
  const stride = networkStride(graph, plan.images.map((i) => i.name));
  const probes = probePoints(plan, stride);
  const base = new ShapeRun(graph, pointDims(plan.trained));
  const runs = probes.map((p) => new ShapeRun(graph, pointDims(p.point)));
  const order = inferenceOrder(graph, base);
  const pass = new Pass(graph, base, probes, runs, knownPins);
  for (const node of order) pass.visit(node);
  return { plan, stride, probes, trained: base.result(), atProbes: runs.map((r) => r.result()), graph, frees: pass.frees, pins: pass.pins };
}

/** The pins --dynamic-size can't remove. */
export const remainingPins = (size: SizeAnalysis): SizePin[] => size.pins.filter((p) => !p.fixedByRewrite);
