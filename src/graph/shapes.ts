// Static shape inference for the part of ONNX that CNN classifiers use (PyTorch, Paddle, tf2onnx
// and Caffe-converter exports, opsets 7–21): enough to know the shapes around a classifier tail.
//
// It never throws on a model. A node it can't handle (unknown op, bad attribute, inconsistent
// dims, a needed input that isn't constant) is listed in `unresolved` and its outputs take the
// graph's declared value_info, or stay unknown. A node whose input is already unknown is not
// listed again: `unresolved` names where inference stopped, not everything downstream.
//
// Small integer tensors (shape arithmetic) are also tracked by value, element by element, as
// `Dim`s: so Shape(x) of ['N', 64, 7, 7] is ['N', 64, 7, 7] and PyTorch's
// `x.view(x.size(0), -1)` (Shape → Gather → Unsqueeze → Concat → Reshape) comes out ['N', 3136].

import type { NodeProto, TensorProto, ValueInfoProto } from '../onnx/schema.js';
import { DataType } from '../onnx/schema.js';
import { readFloats, readInts } from '../onnx/tensor.js';
import { attr, attrInt, attrInts, attrString, isDefaultDomain, type GraphView } from './graph.js';

/** A dimension: concrete, symbolic (dim_param), or unknown. */
export type Dim = number | string | undefined;
/** A shape of known rank; a value whose rank is unknown is absent from the map. */
export type Shape = Dim[];
/** Shapes by value name, read-only: what the rules match against. */
export type Shapes = ReadonlyMap<string, Shape>;

export interface ShapeInference {
  shapes: Map<string, Shape>;
  elemTypes: Map<string, number>;
  /** Values also known as small int constants (for Shape→Gather→Concat→Reshape chains). */
  values: Map<string, number[]>;
  /** Where inference stopped: the node (none when the graph has no order), its op, and why. */
  unresolved: { node: NodeProto | undefined; op: string; reason: string }[];
}

/** Int tensors up to this many elements (rank 0 or 1) are tracked by value. */
const MAX_VALUE_ELEMS = 64;

const INT_TYPES = new Set<number>([
  DataType.UINT8, DataType.INT8, DataType.UINT16, DataType.INT16, DataType.INT32, DataType.INT64, DataType.UINT32, DataType.UINT64,
]);

/** The node can't be handled: becomes an `unresolved` entry. */
class Unresolved extends Error {}
/**
 * An input's shape is already unknown (reported at its producer, or an input without a shape).
 * Not an Error: it is thrown for every node downstream of a gap, and capturing a stack trace each
 * time was most of the cost of inferring shapes for such models.
 */
class UnknownInput {
  constructor(readonly value: string) {}
}

// --- dim arithmetic ------------------------------------------------------------------------------

const isNum = (d: Dim): d is number => typeof d === 'number';
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

function mulDim(a: Dim, b: Dim): Dim {
  if (a === 1) return b;
  if (b === 1) return a;
  return isNum(a) && isNum(b) ? a * b : undefined;
}

/** Product of dims; a lone symbol times ones stays that symbol. */
const prod = (ds: readonly Dim[]): Dim => ds.reduce<Dim>(mulDim, 1);

/** d + n, keeping a symbol when n is 0. */
const addDim = (d: Dim, n: number): Dim => (n === 0 ? d : isNum(d) ? d + n : undefined);

/** Sum of dims (Concat's axis), unknown unless all are known. */
const sumDims = (ds: readonly Dim[]): Dim => ds.reduce<Dim>((acc, d) => (isNum(acc) && isNum(d) ? acc + d : undefined), 0);

/** numpy broadcasting of two dims; a symbol or unknown against n > 1 must be n (or 1). */
function broadcastDim(a: Dim, b: Dim): Dim {
  if (a === 1) return b;
  if (b === 1) return a;
  if (a === b) return a;
  if (isNum(a) && isNum(b)) throw new Unresolved(`cannot broadcast ${a} against ${b}`);
  return isNum(a) ? a : isNum(b) ? b : undefined;
}

function broadcast(shapes: readonly Shape[]): Shape {
  const r = Math.max(0, ...shapes.map((s) => s.length));
  return range(r).map((i) => shapes.reduce<Dim>((acc, s) => (i - r + s.length < 0 ? acc : broadcastDim(acc, s[i - r + s.length])), 1));
}

/** Two dims that must be equal (Concat's other axes, MatMul's K): keep what is known. */
function sameDim(a: Dim, b: Dim): Dim {
  if (isNum(a) && isNum(b) && a !== b) throw new Unresolved(`dims ${a} and ${b} should be equal`);
  return isNum(a) ? a : isNum(b) ? b : (a ?? b);
}

/** Only sizes a tensor can have survive: no negatives, fractions, overflow or empty symbols. */
const cleanDim = (d: Dim): Dim => (isNum(d) ? (Number.isSafeInteger(d) && d >= 0 ? d : undefined) : d || undefined);

// --- per-node context ------------------------------------------------------------------------------

interface State {
  graph: GraphView;
  shapes: Map<string, Shape>;
  types: Map<string, number>;
  /** Element-wise values of small rank-0/1 tensors (a string element is a symbolic dim). */
  vecs: Map<string, Dim[]>;
}

/** What a handler sees: its node's inputs, attributes, and where to put output types and values. */
class Ctx {
  // Made on first use: most nodes set neither, and a graph may have millions of nodes.
  private outTypes: Map<number, number> | undefined;
  private outVecs: Map<number, Dim[]> | undefined;
  constructor(
    readonly node: NodeProto,
    readonly opset: number,
    readonly st: State,
  ) {}

  fail(reason: string): never {
    throw new Unresolved(reason);
  }
  has(i: number): boolean {
    return !!this.node.input[i];
  }
  shape(i: number): Shape {
    const name = this.node.input[i];
    if (!name) this.fail(`input ${i} is missing`);
    const s = this.st.shapes.get(name);
    if (!s) throw new UnknownInput(name);
    return s;
  }
  rankAxis(axis: number, rank: number): number {
    const a = axis < 0 ? axis + rank : axis;
    if (!Number.isInteger(a) || a < 0 || a >= rank) this.fail(`axis ${axis} is out of range for rank ${rank}`);
    return a;
  }
  type(i: number): number | undefined {
    return this.st.types.get(this.node.input[i] ?? '');
  }
  vec(i: number): Dim[] | undefined {
    return this.has(i) ? this.st.vecs.get(this.node.input[i]!) : undefined;
  }
  /** Input i as concrete numbers, or undefined when absent or not known. */
  ints(i: number): number[] | undefined {
    const v = this.vec(i);
    return v?.every(isNum) ? v : undefined;
  }
  /** Input i as concrete numbers, undefined when absent; fails when present but not known. */
  constInts(i: number, what: string): number[] | undefined {
    if (!this.has(i)) return undefined;
    return this.ints(i) ?? this.fail(`${what} (input ${i}) is not constant`);
  }
  /** A float input (Resize scales), possibly larger than the tracked vectors. */
  constFloats(i: number, what: string): number[] | undefined {
    if (!this.has(i)) return undefined;
    const v = this.ints(i);
    if (v) return v;
    const t = this.st.graph.constant(this.node.input[i]!);
    return t ? [...readFloats(t)] : this.fail(`${what} (input ${i}) is not constant`);
  }
  int(name: string, fallback: number): number {
    return attrInt(this.node, name, fallback);
  }
  intsAttr(name: string): number[] | undefined {
    return attrInts(this.node, name);
  }
  str(name: string): string | undefined {
    return attrString(this.node, name);
  }
  setType(k: number, t: number): void {
    (this.outTypes ??= new Map()).set(k, t);
  }
  setVec(k: number, v: Dim[]): void {
    (this.outVecs ??= new Map()).set(k, v);
  }
  outType(k: number): number | undefined {
    return this.outTypes?.get(k);
  }
  outVec(k: number): Dim[] | undefined {
    return this.outVecs?.get(k);
  }
}

type Handler = (c: Ctx) => (Shape | undefined)[];

// --- handlers ----------------------------------------------------------------------------------------

const same: Handler = (c) => [c.shape(0)];

/** Output sizes of a sliding window (Conv and the pools) along each spatial axis. */
function windows(c: Ctx, xs: Shape, kernel: readonly Dim[], ceil: boolean): Shape {
  const r = xs.length;
  const strides = c.intsAttr('strides') ?? range(r).map(() => 1);
  const dil = c.intsAttr('dilations') ?? range(r).map(() => 1);
  const autoPad = c.str('auto_pad') || 'NOTSET';
  const pads = autoPad === 'VALID' ? range(2 * r).map(() => 0) : (c.intsAttr('pads') ?? range(2 * r).map(() => 0));
  if (kernel.length !== r || strides.length !== r || dil.length !== r || pads.length !== 2 * r) {
    c.fail(`kernel/strides/dilations/pads don't match ${r} spatial dims`);
  }
  if (!['NOTSET', 'VALID', 'SAME_UPPER', 'SAME_LOWER'].includes(autoPad)) c.fail(`unknown auto_pad '${autoPad}'`);
  return xs.map((x, i) => {
    const k = kernel[i], s = strides[i]!, d = dil[i]!, pb = pads[i]!, pe = pads[i + r]!;
    if (s < 1 || d < 1) c.fail(`stride ${s} / dilation ${d} must be positive`);
    if (autoPad.startsWith('SAME')) return s === 1 ? x : isNum(x) ? Math.ceil(x / s) : undefined;
    if (!isNum(k)) return undefined;
    const ek = (k - 1) * d + 1;
    if (!isNum(x)) return ek === 1 && s === 1 && pb + pe === 0 ? x : undefined;
    const span = x + pb + pe - ek;
    if (span < 0) c.fail(`window ${ek} is larger than the padded input ${x + pb + pe}`);
    let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
    // ceil_mode: a window may not start in the end padding (as PyTorch and onnxruntime compute it;
    // the ONNX checker's own inference may say one more).
    if (ceil && (out - 1) * s >= x + pb) out--;
    return out;
  });
}

const conv: Handler = (c) => {
  const x = c.shape(0), w = c.shape(1);
  if (x.length < 3 || w.length !== x.length) c.fail(`input rank ${x.length} and weight rank ${w.length} don't fit`);
  if (isNum(x[1]) && isNum(w[1]) && x[1] !== w[1] * c.int('group', 1)) c.fail(`${x[1]} input channels but the weight expects ${w[1]} × group ${c.int('group', 1)}`);
  return [[x[0], w[0], ...windows(c, x.slice(2), c.intsAttr('kernel_shape') ?? w.slice(2), false)]];
};

const convTranspose: Handler = (c) => {
  const x = c.shape(0), w = c.shape(1), r = x.length - 2;
  if (r < 1 || w.length !== x.length) c.fail(`input rank ${x.length} and weight rank ${w.length} don't fit`);
  const head = [x[0], mulDim(w[1], c.int('group', 1))];
  const given = c.intsAttr('output_shape');
  if (given?.length) return [[...head, ...given.slice(-r)]];
  const kernel = c.intsAttr('kernel_shape') ?? w.slice(2);
  const strides = c.intsAttr('strides') ?? range(r).map(() => 1);
  const dil = c.intsAttr('dilations') ?? range(r).map(() => 1);
  const pads = c.intsAttr('pads') ?? range(2 * r).map(() => 0);
  const outPad = c.intsAttr('output_padding') ?? range(r).map(() => 0);
  const autoPad = c.str('auto_pad') || 'NOTSET';
  if (kernel.length !== r || strides.length !== r || dil.length !== r || pads.length !== 2 * r || outPad.length !== r) {
    c.fail(`kernel/strides/dilations/pads don't match ${r} spatial dims`);
  }
  return [[...head, ...x.slice(2).map((xi, i) => {
    const k = kernel[i], s = strides[i]!;
    if (autoPad.startsWith('SAME')) return mulDim(xi, s);
    if (!isNum(xi) || !isNum(k)) return undefined;
    const pad = autoPad === 'VALID' ? 0 : pads[i]! + pads[i + r]!;
    return s * (xi - 1) + outPad[i]! + (k - 1) * dil[i]! + 1 - pad;
  })]];
};

const pool: Handler = (c) => {
  const x = c.shape(0);
  if (x.length < 3) c.fail(`input rank ${x.length} has no spatial dims`);
  const kernel = c.intsAttr('kernel_shape') ?? c.fail('no kernel_shape');
  const y = [x[0], x[1], ...windows(c, x.slice(2), kernel, c.int('ceil_mode', 0) === 1)];
  c.setType(1, DataType.INT64); // MaxPool's indices
  return [y, y];
};

const globalPool: Handler = (c) => {
  const x = c.shape(0);
  if (x.length < 3) c.fail(`input rank ${x.length} has no spatial dims`);
  return [[x[0], x[1], ...x.slice(2).map(() => 1)]];
};

const batchNorm: Handler = (c) => {
  const x = c.shape(0);
  return [x, [x[1]], [x[1]], [x[1]], [x[1]]]; // training-mode outputs are per channel
};

const layerNorm: Handler = (c) => {
  const x = c.shape(0);
  const axis = c.rankAxis(c.int('axis', -1), x.length);
  const stat = x.map((d, i) => (i < axis ? d : 1));
  c.setType(1, DataType.FLOAT);
  c.setType(2, DataType.FLOAT);
  return [x, stat, stat];
};

const identity: Handler = (c) => {
  const v = c.vec(0);
  if (v) c.setVec(0, v);
  return [c.shape(0)];
};

const cast: Handler = (c) => {
  const to = c.int('to', 0);
  c.setType(0, to);
  const v = c.vec(0);
  if (v) c.setVec(0, INT_TYPES.has(to) ? v.map((d) => (isNum(d) ? Math.trunc(d) : d)) : v);
  return [c.shape(0)];
};

/** QuantizeLinear: the shape kept, the zero point's type (uint8 without one); DequantizeLinear: the scale's type. */
const quantize: Handler = (c) => {
  const zeroPointType = c.type(2);
  c.setType(0, zeroPointType ?? DataType.UINT8);
  return [c.shape(0)];
};

const dequantize: Handler = (c) => {
  const scaleType = c.type(1);
  c.setType(0, scaleType ?? DataType.FLOAT);
  return [c.shape(0)];
};

const dropout: Handler = (c) => {
  c.setType(1, DataType.BOOL);
  return [c.shape(0), c.shape(0)];
};

/** Element-wise arithmetic on tracked values; `int` truncates division as integer tensors do. */
const ARITH: Record<string, (a: Dim, b: Dim, int: boolean) => Dim> = {
  Add: (a, b) => (isNum(a) && isNum(b) ? a + b : b === 0 ? a : a === 0 ? b : undefined),
  Sub: (a, b) => (isNum(a) && isNum(b) ? a - b : b === 0 ? a : undefined),
  Mul: (a, b) => mulDim(a, b),
  Div: (a, b, int) => (isNum(a) && isNum(b) ? (int ? Math.trunc(a / b) : a / b) : b === 1 ? a : undefined),
};

const COMPARISONS = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor']);

const elementwise: Handler = (c) => {
  const op = c.node.op_type ?? '';
  const shapes = c.node.input.map((_, i) => c.shape(i));
  if (COMPARISONS.has(op)) c.setType(0, DataType.BOOL);
  if (op === 'Where') {
    const t = c.type(1);
    if (t !== undefined) c.setType(0, t);
  }
  const fn = Object.hasOwn(ARITH, op) ? ARITH[op] : undefined;
  const a = c.vec(0), b = c.vec(1);
  if (fn && a && b && (a.length === b.length || a.length === 1 || b.length === 1)) {
    const int = INT_TYPES.has(c.type(0) ?? 0);
    const n = Math.max(a.length, b.length);
    c.setVec(0, range(n).map((i) => fn(a[a.length === 1 ? 0 : i], b[b.length === 1 ? 0 : i], int)));
  }
  return [broadcast(shapes)];
};

const concat: Handler = (c) => {
  const shapes = c.node.input.map((_, i) => c.shape(i));
  const r = shapes[0]?.length ?? c.fail('no inputs');
  if (shapes.some((s) => s.length !== r)) c.fail('inputs have different ranks');
  const axis = c.rankAxis(c.int('axis', NaN), r);
  const out = range(r).map((i) => (i === axis ? sumDims(shapes.map((s) => s[i])) : shapes.reduce<Dim>((acc, s) => sameDim(acc, s[i]), undefined)));
  if (r === 1) {
    // Shape vectors: keep element values, unknown elements where an input's value isn't tracked.
    const parts = shapes.map((s, i) => c.vec(i) ?? (isNum(s[0]) ? range(s[0]).map(() => undefined) : undefined));
    if (parts.every((p) => p !== undefined)) c.setVec(0, parts.flat());
  }
  return [out];
};

const split: Handler = (c) => {
  const x = c.shape(0), n = c.node.output.length;
  const axis = c.rankAxis(c.int('axis', 0), x.length);
  let sizes: Dim[] | undefined = c.opset >= 13 ? c.constInts(1, 'split') : c.intsAttr('split');
  if (!sizes?.length) {
    const d = x[axis];
    // Equal parts; from opset 18 (num_outputs) the last may be smaller.
    const chunk = isNum(d) ? Math.ceil(d / n) : undefined;
    sizes = range(n).map((i) => (isNum(d) && isNum(chunk) ? Math.min(chunk, d - i * chunk) : undefined));
  }
  if (sizes.length !== n) c.fail(`${sizes.length} split sizes for ${n} outputs`);
  const total = sumDims(sizes);
  if (isNum(total) && isNum(x[axis]) && total !== x[axis]) c.fail(`split sizes add up to ${total}, not ${x[axis]}`);
  return sizes.map((s) => x.map((d, i) => (i === axis ? s : d)));
};

/** ONNX Slice semantics for one axis: the picked indices' start, step and count. */
function sliceAxis(dim: number, start: number, end: number, step: number): { start: number; count: number } {
  const clamp = (v: number, lo: number, hi: number): number => Math.min(Math.max(v, lo), hi);
  if (step > 0) {
    const s = clamp(start < 0 ? start + dim : start, 0, dim), e = clamp(end < 0 ? end + dim : end, 0, dim);
    return { start: s, count: Math.max(0, Math.ceil((e - s) / step)) };
  }
  const s = clamp(start < 0 ? start + dim : start, 0, dim - 1), e = clamp(end < 0 ? end + dim : end, -1, dim - 1);
  return { start: s, count: Math.max(0, Math.ceil((s - e) / -step)) };
}

const slice: Handler = (c) => {
  const x = c.shape(0);
  const old = c.opset < 10;
  const starts = (old ? c.intsAttr('starts') : c.constInts(1, 'starts')) ?? c.fail('no starts');
  const ends = (old ? c.intsAttr('ends') : c.constInts(2, 'ends')) ?? c.fail('no ends');
  const axes = (old ? c.intsAttr('axes') : c.constInts(3, 'axes')) ?? range(starts.length);
  const steps = (old ? undefined : c.constInts(4, 'steps')) ?? starts.map(() => 1);
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) c.fail('starts/ends/axes/steps lengths differ');
  const out = [...x];
  let picked: number[] | undefined;
  starts.forEach((st, j) => {
    const a = c.rankAxis(axes[j]!, x.length), step = steps[j]!, d = x[a], en = ends[j]!;
    if (step === 0) c.fail('step 0');
    if (!isNum(d)) {
      out[a] = st === 0 && step === 1 && en >= 2 ** 31 - 1 ? d : undefined; // x[0:] keeps a symbol
      return;
    }
    const { start, count } = sliceAxis(d, st, en, step);
    out[a] = count;
    if (x.length === 1) picked = range(count).map((i) => start + i * step);
  });
  const v = c.vec(0);
  if (v && x.length === 1) c.setVec(0, picked ? picked.map((i) => v[i]) : v);
  return [out];
};

const reshape: Handler = (c) => {
  const x = c.shape(0);
  const target = c.vec(1) ?? (() => {
    const s = c.shape(1);
    // The values aren't known, but their count is the output rank.
    return s.length === 1 && isNum(s[0]) ? range(s[0]).map((): Dim => undefined) : c.fail('shape input has unknown length');
  })();
  const allowZero = c.int('allowzero', 0) === 1;
  const out: Shape = target.map((t, i) => (t === 0 && !allowZero ? (i < x.length ? x[i] : c.fail(`0 at ${i} copies a dim the input lacks`)) : t));
  const holes = out.flatMap((t, i) => (t === -1 ? [i] : []));
  if (holes.length > 1) c.fail('more than one -1 in the shape');
  // Cancel equal factors (numbers multiply, symbols pair up) to find the -1, or check the count.
  let inN = 1, outN = 1, known = true;
  const syms: string[] = [];
  for (const d of x) {
    if (isNum(d)) inN *= d;
    else if (d === undefined) known = false;
    else syms.push(d);
  }
  out.forEach((d, i) => {
    if (i === holes[0]) return;
    if (isNum(d)) outN *= d;
    else if (d === undefined) known = false;
    else if (syms.includes(d)) syms.splice(syms.indexOf(d), 1);
    else known = false;
  });
  known &&= Number.isSafeInteger(inN) && Number.isSafeInteger(outN);
  if (holes[0] !== undefined) {
    let fill: Dim;
    if (known && syms.length === 0 && outN !== 0) {
      if (inN % outN !== 0) c.fail(`cannot reshape ${inN} elements into blocks of ${outN}`);
      fill = inN / outN;
    } else if (known && syms.length === 1 && inN === outN) fill = syms[0];
    out[holes[0]] = fill;
  } else if (known && syms.length === 0 && inN !== outN) {
    c.fail(`cannot reshape ${inN} elements into ${outN}`);
  }
  return [out];
};

const flatten: Handler = (c) => {
  const x = c.shape(0);
  let axis = c.int('axis', 1);
  if (axis < 0) axis += x.length;
  if (axis < 0 || axis > x.length) c.fail(`axis ${c.int('axis', 1)} is out of range for rank ${x.length}`);
  return [[prod(x.slice(0, axis)), prod(x.slice(axis))]];
};

/** Squeeze/Unsqueeze axes: an attribute before opset 13, an input from 13. */
const axesOf = (c: Ctx): number[] | undefined => (c.opset >= 13 ? c.constInts(1, 'axes') : c.intsAttr('axes'));

const squeeze: Handler = (c) => {
  const x = c.shape(0);
  const axes = axesOf(c);
  let out: Shape;
  if (!axes?.length) {
    if (!x.every(isNum)) c.fail('no axes, and not all dims are known to tell which are 1');
    out = x.filter((d) => d !== 1);
  } else {
    const drop = new Set(axes.map((a) => c.rankAxis(a, x.length)));
    for (const a of drop) if (isNum(x[a]) && x[a] !== 1) c.fail(`dim ${a} is ${x[a]}, not 1`);
    out = x.filter((_, i) => !drop.has(i));
  }
  const v = c.vec(0);
  if (v && out.length <= 1) c.setVec(0, v);
  return [out];
};

const unsqueeze: Handler = (c) => {
  const x = c.shape(0);
  const axes = axesOf(c) ?? c.fail('no axes');
  const r = x.length + axes.length;
  const add = new Set(axes.map((a) => c.rankAxis(a, r)));
  if (add.size !== axes.length) c.fail('repeated axes');
  let k = 0;
  const out = range(r).map((i) => (add.has(i) ? 1 : x[k++]));
  const v = c.vec(0);
  if (v && r <= 1) c.setVec(0, v);
  return [out];
};

const transpose: Handler = (c) => {
  const x = c.shape(0);
  const perm = c.intsAttr('perm') ?? range(x.length).reverse();
  if (perm.length !== x.length || new Set(perm).size !== perm.length || perm.some((p) => !(p >= 0 && p < x.length))) c.fail(`bad perm [${perm.join(', ')}]`);
  return [perm.map((p) => x[p])];
};

const gemm: Handler = (c) => {
  const a = c.shape(0), b = c.shape(1);
  if (a.length !== 2 || b.length !== 2) c.fail(`Gemm needs rank-2 inputs, not ${a.length} and ${b.length}`);
  const [m, ka] = c.int('transA', 0) ? [a[1], a[0]] : [a[0], a[1]];
  const [kb, n] = c.int('transB', 0) ? [b[1], b[0]] : [b[0], b[1]];
  sameDim(ka, kb);
  return [[m, n]];
};

const matmul: Handler = (c) => {
  const a = c.shape(0), b = c.shape(1);
  if (!a.length || !b.length) c.fail('MatMul of a scalar');
  // 1-D operands are promoted to matrices, and the added dim is dropped again.
  const a2 = a.length === 1 ? [1, a[0]] : a, b2 = b.length === 1 ? [b[0], 1] : b;
  sameDim(a2[a2.length - 1], b2[b2.length - 2]);
  const batch = broadcast([a2.slice(0, -2), b2.slice(0, -2)]);
  return [[...batch, ...(a.length > 1 ? [a2[a2.length - 2]] : []), ...(b.length > 1 ? [b2[b2.length - 1]] : [])]];
};

const reduce: Handler = (c) => {
  const x = c.shape(0), op = c.node.op_type ?? '';
  const keep = c.int('keepdims', 1) === 1;
  const axesFromInput = c.opset >= 18 || (op === 'ReduceSum' && c.opset >= 13);
  let axes: number[] | undefined;
  if (axesFromInput) {
    if (c.has(1) && !c.ints(1)) {
      // Axes computed at run time: the rank is still known when dims are kept.
      return keep ? [x.map(() => undefined)] : c.fail('axes (input 1) is not constant');
    }
    axes = c.ints(1);
  } else {
    axes = c.intsAttr('axes');
  }
  if (!axes?.length) {
    if (axesFromInput && c.int('noop_with_empty_axes', 0) === 1) return [x];
    axes = range(x.length);
  }
  const red = new Set(axes.map((a) => c.rankAxis(a, x.length)));
  if (op === 'ReduceProd' && x.length === 1) {
    const v = c.vec(0);
    if (v) c.setVec(0, [prod(v)]);
  }
  return [keep ? x.map((d, i) => (red.has(i) ? 1 : d)) : x.filter((_, i) => !red.has(i))];
};

const argReduce: Handler = (c) => {
  const x = c.shape(0);
  const axis = c.rankAxis(c.int('axis', 0), x.length);
  c.setType(0, DataType.INT64);
  return [c.int('keepdims', 1) === 1 ? x.map((d, i) => (i === axis ? 1 : d)) : x.filter((_, i) => i !== axis)];
};

const shape: Handler = (c) => {
  const x = c.shape(0), r = x.length;
  const norm = (v: number): number => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  const dims = x.slice(norm(c.int('start', 0)), norm(c.int('end', r)));
  c.setType(0, DataType.INT64);
  c.setVec(0, dims);
  return [[dims.length]];
};

const size: Handler = (c) => {
  c.setType(0, DataType.INT64);
  c.setVec(0, [prod(c.shape(0))]);
  return [[]];
};

const gather: Handler = (c) => {
  const x = c.shape(0), idx = c.shape(1);
  const axis = c.rankAxis(c.int('axis', 0), x.length);
  const v = c.vec(0), picks = c.ints(1);
  if (v && x.length === 1 && picks) {
    c.setVec(0, picks.map((p) => (p >= -v.length && p < v.length ? v[p < 0 ? p + v.length : p] : c.fail(`index ${p} is out of range`))));
  }
  return [[...x.slice(0, axis), ...idx, ...x.slice(axis + 1)]];
};

const pad: Handler = (c) => {
  const x = c.shape(0);
  const pads = (c.opset < 11 ? (c.intsAttr('pads') ?? c.intsAttr('paddings')) : c.constInts(1, 'pads')) ?? c.fail('no pads');
  const axes = (c.opset >= 18 ? c.constInts(3, 'axes') : undefined) ?? range(x.length);
  if (pads.length !== 2 * axes.length) c.fail(`${pads.length} pads for ${axes.length} axes`);
  const out = [...x];
  axes.forEach((a, j) => {
    const i = c.rankAxis(a, x.length);
    out[i] = addDim(x[i], pads[j]! + pads[j + axes.length]!);
  });
  return [out];
};

const resize: Handler = (c) => {
  const x = c.shape(0), op = c.node.op_type;
  let scales: number[] | undefined, sizes: number[] | undefined;
  if (op === 'Upsample') scales = c.opset < 9 ? [...(attr(c.node, 'scales')?.floats ?? [])] : c.constFloats(1, 'scales');
  else if (c.opset < 11) scales = c.constFloats(1, 'scales');
  else {
    sizes = c.constInts(3, 'sizes');
    if (!sizes?.length) scales = c.constFloats(2, 'scales');
  }
  const axes = (c.opset >= 18 ? c.intsAttr('axes') : undefined) ?? range(x.length);
  const out = [...x];
  if (sizes?.length) {
    if (sizes.length !== axes.length) c.fail(`${sizes.length} sizes for ${axes.length} axes`);
    const policy = c.str('keep_aspect_ratio_policy') ?? 'stretch';
    let keep: number | undefined;
    if (policy !== 'stretch') {
      const ratios = axes.map((a, j) => {
        const d = x[c.rankAxis(a, x.length)];
        return isNum(d) ? sizes![j]! / d : c.fail(`keep_aspect_ratio_policy '${policy}' on an unknown dim`);
      });
      keep = policy === 'not_larger' ? Math.min(...ratios) : Math.max(...ratios);
    }
    axes.forEach((a, j) => {
      const i = c.rankAxis(a, x.length), d = x[i];
      out[i] = keep === undefined ? sizes![j] : isNum(d) ? Math.round(keep * d) : undefined;
    });
    return [out];
  }
  if (!scales?.length) return c.fail('neither scales nor sizes');
  if (scales.length !== axes.length) c.fail(`${scales.length} scales for ${axes.length} axes`);
  if (c.str('coordinate_transformation_mode') === 'tf_crop_and_resize') c.fail('tf_crop_and_resize with scales');
  axes.forEach((a, j) => {
    const i = c.rankAxis(a, x.length), d = x[i], s = scales![j]!;
    out[i] = s === 1 ? d : isNum(d) ? Math.floor(d * s) : undefined;
  });
  return [out];
};

/** The vector input i (a shape or repeat counts); unknown elements when only its length is known. */
function dimsInput(c: Ctx, i: number): Dim[] {
  const v = c.vec(i);
  if (v) return v;
  const s = c.shape(i);
  return s.length === 1 && isNum(s[0]) ? range(s[0]).map(() => undefined) : c.fail(`input ${i} has unknown length`);
}

const expand: Handler = (c) => [broadcast([c.shape(0), dimsInput(c, 1)])];

const tile: Handler = (c) => {
  const x = c.shape(0), reps = dimsInput(c, 1);
  if (reps.length !== x.length) c.fail(`${reps.length} repeats for rank ${x.length}`);
  return [x.map((d, i) => mulDim(d, reps[i]))];
};

const constantOfShape: Handler = (c) => {
  const dims = dimsInput(c, 0);
  const t = attr(c.node, 'value')?.t;
  c.setType(0, t?.data_type ?? DataType.FLOAT);
  const fill = t ? tensorValues(t)?.[0] : 0;
  const n = prod(dims);
  if (fill !== undefined && dims.length <= 1 && isNum(n) && n <= MAX_VALUE_ELEMS) c.setVec(0, range(n).map(() => fill));
  return [dims];
};

const rangeOp: Handler = (c) => {
  const [start, limit, delta] = [c.ints(0)?.[0], c.ints(1)?.[0], c.ints(2)?.[0]];
  if (start === undefined || limit === undefined || delta === undefined) return [[undefined]];
  if (delta === 0) c.fail('delta 0');
  const n = Math.max(0, Math.ceil((limit - start) / delta));
  if (n <= MAX_VALUE_ELEMS) c.setVec(0, range(n).map((i) => start + i * delta));
  return [[n]];
};

const topK: Handler = (c) => {
  const x = c.shape(0);
  const axis = c.rankAxis(c.int('axis', -1), x.length);
  const k = c.opset < 10 ? c.int('k', NaN) : c.ints(1)?.[0];
  const y = x.map((d, i) => (i === axis ? (Number.isNaN(k) ? undefined : k) : d));
  c.setType(1, DataType.INT64);
  return [y, y];
};

const constant: Handler = (c) => {
  const t = c.st.graph.constant(c.node.output[0] ?? '') ?? c.fail('unsupported Constant attribute');
  c.setType(0, t.data_type ?? DataType.UNDEFINED);
  const v = tensorValues(t);
  if (v) c.setVec(0, v);
  return [t.dims.map(Number)];
};

const UNARY = [
  'Relu', 'Sigmoid', 'Tanh', 'HardSigmoid', 'HardSwish', 'LeakyRelu', 'Clip', 'Elu', 'Selu', 'Celu', 'Gelu', 'Erf', 'Sqrt',
  'Exp', 'Log', 'Neg', 'Abs', 'Softmax', 'LogSoftmax', 'Hardmax', 'PRelu', 'Mish', 'Softplus', 'Softsign', 'Reciprocal',
  'Floor', 'Ceil', 'Round', 'Sign', 'Not', 'ThresholdedRelu', 'Shrink', 'Sin', 'Cos', 'LRN', 'InstanceNormalization',
  'MeanVarianceNormalization', 'LpNormalization',
];
const BROADCASTING = ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Mod', 'Max', 'Min', 'Sum', 'Mean', 'Where', ...COMPARISONS];
const REDUCTIONS = ['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare'];

const HANDLERS = new Map<string, Handler>([
  ...UNARY.map((op): [string, Handler] => [op, same]),
  ...BROADCASTING.map((op): [string, Handler] => [op, elementwise]),
  ...REDUCTIONS.map((op): [string, Handler] => [op, reduce]),
  ...['MaxPool', 'AveragePool', 'LpPool'].map((op): [string, Handler] => [op, pool]),
  ...['GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool'].map((op): [string, Handler] => [op, globalPool]),
  ['IsNaN', (c) => (c.setType(0, DataType.BOOL), same(c))],
  ['IsInf', (c) => (c.setType(0, DataType.BOOL), same(c))],
  ['CastLike', (c) => (c.setType(0, c.type(1) ?? DataType.UNDEFINED), same(c))],
  ['Conv', conv], ['ConvTranspose', convTranspose],
  ['BatchNormalization', batchNorm], ['LayerNormalization', layerNorm],
  ['Identity', identity], ['Cast', cast], ['Dropout', dropout],
  ['QuantizeLinear', quantize], ['DequantizeLinear', dequantize],
  ['Concat', concat], ['Split', split], ['Slice', slice], ['Reshape', reshape], ['Flatten', flatten],
  ['Squeeze', squeeze], ['Unsqueeze', unsqueeze], ['Transpose', transpose],
  ['Gemm', gemm], ['MatMul', matmul], ['ArgMax', argReduce], ['ArgMin', argReduce],
  ['Shape', shape], ['Size', size], ['Gather', gather], ['Pad', pad], ['Resize', resize], ['Upsample', resize],
  ['Expand', expand], ['Tile', tile], ['ConstantOfShape', constantOfShape], ['Range', rangeOp], ['TopK', topK],
  ['Constant', constant],
  ['Einsum', (c) => c.fail('Einsum is not supported')],
]);

// --- driver ------------------------------------------------------------------------------------------

/** Elements of a small rank-0/1 numeric tensor, or undefined. */
function tensorValues(t: TensorProto): Dim[] | undefined {
  if (t.dims.length > 1 || t.data_location === 1) return undefined;
  const n = t.dims.length === 0 ? 1 : Number(t.dims[0]);
  if (!(n <= MAX_VALUE_ELEMS)) return undefined;
  try {
    return readInts(t);
  } catch {
    return undefined; // float16 and other types the shape logic never reads
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** How one node went: shapes computed, a failure (listed in `unresolved`), or an input already unknown. */
export type NodeStatus = 'resolved' | 'unresolved' | 'unknown-input';

/**
 * Inference one node at a time, for callers that edit the graph as they go (the size analysis frees
 * a Reshape's target before its consumers are inferred): give it nodes in an order where every
 * value is produced before it is read. Nodes added to the graph later are handled like the others
 * (a new Constant is read through the graph view).
 */
export class ShapeRun {
  private readonly st: State;
  private readonly unresolved: ShapeInference['unresolved'] = [];
  /** Declared types of node outputs, looked up once (graph outputs win, as in GraphView). */
  private readonly declared = new Map<string, ValueInfoProto>();

  constructor(
    private readonly graph: GraphView,
    inputShapes?: ReadonlyMap<string, readonly Dim[]>,
  ) {
    const st: State = (this.st = { graph, shapes: new Map(), types: new Map(), vecs: new Map() });
    for (const [name, t] of graph.initializers) {
      st.shapes.set(name, clean(t.dims.map(Number)));
      if (t.data_type !== undefined) st.types.set(name, t.data_type);
      const v = graph.constant(name) && tensorValues(t);
      if (v) st.vecs.set(name, v);
    }
    for (const i of graph.inputs) {
      if (!i.name) continue;
      const s = inputShapes?.get(i.name) ?? graph.declaredShape(i.name);
      if (s) st.shapes.set(i.name, clean(s));
      const t = graph.declaredElemType(i.name);
      if (t !== undefined) st.types.set(i.name, t);
    }
    for (const v of [...graph.outputs, ...graph.valueInfo]) if (v.name && !this.declared.has(v.name)) this.declared.set(v.name, v);
  }

  /** Records a failure that is not one node's (e.g. the graph has no order). */
  fail(reason: string): void {
    this.unresolved.push({ node: undefined, op: '', reason });
  }

  /** Infers `node`'s outputs (a later call for a node with the same outputs replaces them). */
  infer(node: NodeProto): NodeStatus {
    const { st, declared } = this;
    const op = node.op_type ?? '';
    const c = new Ctx(node, this.graph.opset, st);
    let outs: (Shape | undefined)[] | undefined;
    let status: NodeStatus = 'resolved';
    try {
      if (!isDefaultDomain(node)) c.fail(`operator of domain '${node.domain}'`);
      outs = (HANDLERS.get(op) ?? c.fail('no shape rule for this operator'))(c);
    } catch (e) {
      if (e instanceof UnknownInput) {
        status = 'unknown-input';
      } else {
        status = 'unresolved';
        this.unresolved.push({ node, op, reason: errorText(e) });
      }
    }
    node.output.forEach((name, k) => {
      if (!name) return;
      st.shapes.delete(name);
      st.types.delete(name);
      st.vecs.delete(name);
      const computed = outs?.[k] && clean(outs[k]);
      const decl = declared.get(name)?.type?.tensor_type;
      const declShape = decl?.shape && clean(decl.shape.dim.map((d) => (d.dim_value !== undefined ? Number(d.dim_value) : d.dim_param)));
      // Declared value_info fills only what inference couldn't compute.
      const s = computed && declShape?.length === computed.length && computed.includes(undefined) ? computed.map((d, i) => d ?? declShape[i]) : (computed ?? declShape);
      if (s) st.shapes.set(name, s);
      const t = (outs && (c.outType(k) ?? c.type(0))) || decl?.elem_type;
      if (t) st.types.set(name, t);
      const v = outs && c.outVec(k);
      const len = s?.length === 0 ? 1 : s?.length === 1 ? s[0] : undefined;
      if (v && v.length === len && len <= MAX_VALUE_ELEMS) st.vecs.set(name, v.map((d) => (isNum(d) && !Number.isFinite(d) ? undefined : d)));
    });
    return status;
  }

  /** Why inference failed at `node` (its last attempt), if it did. */
  failure(node: NodeProto): string | undefined {
    for (let k = this.unresolved.length - 1; k >= 0; k--) if (this.unresolved[k]!.node === node) return this.unresolved[k]!.reason;
    return undefined;
  }

  /** A value's shape so far (undefined: unknown). */
  shape(value: string): Shape | undefined {
    return this.st.shapes.get(value);
  }

  /** A value's elements as concrete ints, when it is a small int tensor known by value. */
  ints(value: string): number[] | undefined {
    const v = this.st.vecs.get(value);
    return v && INT_TYPES.has(this.st.types.get(value) ?? 0) && v.every(isNum) ? v : undefined;
  }

  /** Everything inferred so far. */
  result(): ShapeInference {
    const { st } = this;
    const values = new Map<string, number[]>();
    for (const [name, v] of st.vecs) {
      if (INT_TYPES.has(st.types.get(name) ?? 0) && v.every(isNum)) values.set(name, v);
    }
    return { shapes: st.shapes, elemTypes: st.types, values, unresolved: this.unresolved };
  }
}

// Shapes are never edited in place (handlers copy before they change a dim), so a value whose
// shape is its input's (Relu, Identity, …) shares the input's array: a chain of a million nodes
// then keeps one array, not a million.
const clean = (s: readonly Dim[]): Shape => (s.every((d) => cleanDim(d) === d) ? (s as Shape) : s.map(cleanDim));

/** The nodes in topological order, or — for a graph with a cycle or a dangling read — as listed, with the failure recorded. */
export function inferenceOrder(graph: GraphView, run: ShapeRun): NodeProto[] {
  try {
    return graph.topologicalOrder();
  } catch (e) {
    run.fail(`graph order: ${errorText(e)}`);
    return graph.nodes;
  }
}

/**
 * Infers the shape of every value it can. `inputShapes` overrides graph inputs' declared shapes
 * (e.g. to fix a symbolic batch to 1).
 */
export function inferShapes(graph: GraphView, inputShapes?: ReadonlyMap<string, readonly Dim[]>): ShapeInference {
  const run = new ShapeRun(graph, inputShapes);
  for (const node of inferenceOrder(graph, run)) run.infer(node);
  return run.result();
}
