// Freeing a Reshape whose constant target carries the trained size: the target is rewritten to be
// computed at run time from the Reshape's own input shape.
//
//   Reshape(X, T) = Reshape(X, T'(Shape(X)))   where T'(shape of X at the trained size) = T
//
// e.g. ShuffleNet's channel shuffle, traced at 224×224, X [1, 48, 28, 28], T = [1, 2, 24, 28, 28]:
// T' = Concat([1, 2, 24], Gather(Shape(X), [2, 3])) — at 352×352 that is [1, 2, 24, 44, 44].
//
// Which dims of T follow the size, and as what: a Reshape keeps the elements' order, so its input
// and output dims split into consecutive groups of equal products (at the trained size), e.g.
//   X [1 | 48 | 28 | 28]  →  [1 | 2 24 | 28 | 28]       X [1 | 64 | 28 28]  →  [1 | 64 | 784]
// Which input dims follow the size is known from shape inference at other sizes (analysis.ts).
// Then, group by group:
//   - no input dim follows the size: the output dims are constants;
//   - one output dim (besides 1s): it is the product of the group's input dims (a copy when the
//     group is one dim: view(b, c, h, w)); several (h*w, view(b, c, h*w)) multiply;
//   - several output dims from dims that follow the size (a split: view(b, c, h // 2, 2, w // 2, 2)):
//     which of them follows the size can't be told from the numbers (28 → 14 × 2 or 2 × 14), so it
//     is not guessed — the Reshape stays a pin;
//   - a dim that follows the size but is 1 here (batch 1, `view(1, -1)`) must meet a 1 in T: that
//     is where it goes. Without one it stays a pin.
// The new target is written as simply as is exact: 0 where an output dim copies the input dim at
// the same place (unless allowzero), a single -1 when only one dim is left to compute — then T' is
// a constant — else Shape → Gather (→ Mul for products) → Concat.

import type { GraphView } from '../graph/graph.js';
import { GraphStructureError } from '../errors.js';
import { attrInt } from '../graph/graph.js';
import { makeConstantNode, makeNode, makeTensor } from '../onnx/builder.js';
import { DataType, type NodeProto } from '../onnx/schema.js';
import { nodeLabel } from '../text.js';

/** An output dim of the new target: a constant, or the product of input dims (one: a copy). */
export type DimExpr = { readonly kind: 'const'; readonly value: number } | { readonly kind: 'dims'; readonly of: readonly number[] };

/** A Reshape the size analysis frees, and what its target becomes. */
export interface ReshapeFree {
  /** The Reshape as the analysed model has it (the rewrite replaces it by a copy with a new target). */
  readonly node: NodeProto;
  /** Its target at the trained size, as written (0 and -1 included). */
  readonly target: readonly number[];
  /** Whether the original target was a constant (a computed one is replaced whole). */
  readonly constantTarget: boolean;
  readonly dims: readonly DimExpr[];
  /** The new target in words, e.g. ['N', '2', '24', 'H', 'W']. */
  readonly words: readonly string[];
}

/** Reshape's `allowzero` (opset 14): a 0 in the target is then a 0, not a copy. */
export const allowsZero = (node: NodeProto): boolean => attrInt(node, 'allowzero', 0) === 1;

/** Reshape's output dims for input dims `x` and target `t`, or undefined when it would fail. */
export function reshaped(x: readonly number[], t: readonly number[], allowZero: boolean): number[] | undefined {
  const out = t.map((d, i) => (d === 0 && !allowZero ? x[i] : d));
  if (out.some((d) => d === undefined || d < -1)) return undefined;
  const holes = out.filter((d) => d === -1).length;
  const total = x.reduce((a, b) => a * b, 1);
  const known = (out as number[]).reduce((a, b) => (b === -1 ? a : a * b), 1);
  if (holes > 1) return undefined;
  if (holes === 1) {
    if (known === 0 || total % known !== 0) return undefined;
    return (out as number[]).map((d) => (d === -1 ? total / known : d));
  }
  return known === total ? (out as number[]) : undefined;
}

/** The new target's dims for input dims `x`. */
export const evalDims = (dims: readonly DimExpr[], x: readonly number[]): number[] =>
  dims.map((d) => (d.kind === 'const' ? d.value : d.of.reduce((p, k) => p * x[k]!, 1)));

/**
 * The output dims of a Reshape as expressions of its input dims (see the top of the file), or why
 * there are none. `x`: input dims at the trained size; `y`: the output dims there; `moves`: which
 * input dims follow the size; `names`: the input dims in words, for the reason.
 */
export function alignReshape(x: readonly number[], y: readonly number[], moves: readonly boolean[], names: readonly string[]): DimExpr[] | { why: string } {
  const dims: DimExpr[] = [];
  let i = 0;
  let j = 0;
  while (i < x.length || j < y.length) {
    if (i < x.length && x[i] === 1 && !moves[i]) {
      i++;
      continue;
    }
    if (i < x.length && x[i] === 1) {
      if (y[j] !== 1) return { why: `has no 1 for its input's dim ${names[i]} (1 here), which follows the size` };
      dims.push({ kind: 'dims', of: [i] });
      i++;
      j++;
      continue;
    }
    if (j < y.length && y[j] === 1) {
      dims.push({ kind: 'const', value: 1 });
      j++;
      continue;
    }
    if (i >= x.length || j >= y.length) return { why: 'holds another number of elements than its input' };
    // One group: extend the side with the smaller product until both products are equal.
    const from = [i];
    const to = [j];
    let px = x[i++]!;
    let py = y[j++]!;
    while (px !== py) {
      if (px < py) {
        if (i >= x.length) return { why: 'holds another number of elements than its input' };
        from.push(i);
        px *= x[i++]!;
      } else {
        if (j >= y.length) return { why: 'holds another number of elements than its input' };
        to.push(j);
        py *= y[j++]!;
      }
    }
    if (!from.some((k) => moves[k])) {
      for (const k of to) dims.push({ kind: 'const', value: y[k]! });
      continue;
    }
    const wide = to.filter((k) => y[k] !== 1);
    if (wide.length > 1) {
      const parts = from.map((k) => names[k]).join('·');
      return { why: `splits ${parts} (${px} here) into ${wide.map((k) => y[k]).join(' × ')}: which part follows the size can't be told` };
    }
    const of = from.filter((k) => x[k] !== 1 || moves[k]);
    for (const k of to) dims.push(y[k] === 1 && k !== wide[0] ? { kind: 'const', value: 1 } : { kind: 'dims', of });
  }
  return dims;
}

/** The new target in words: constants as numbers, input dims by their names, products with '·'. */
export const dimsWords = (dims: readonly DimExpr[], names: readonly string[]): string[] =>
  dims.map((d) => (d.kind === 'const' ? String(d.value) : d.of.map((k) => names[k]).join('·')));

/** One entry of the new target: a number written as is, or input dims multiplied at run time. */
type Entry = number | readonly number[];

/** 0 for a copy in place, and a lone computed entry as -1 (see the top of the file). */
function entries(dims: readonly DimExpr[], allowZero: boolean): Entry[] {
  const out: Entry[] = dims.map((d, j) => (d.kind === 'const' ? d.value : d.of.length === 1 && d.of[0] === j && !allowZero ? 0 : d.of));
  const computed = out.filter((e) => typeof e !== 'number');
  return computed.length === 1 ? out.map((e) => (typeof e === 'number' ? e : -1)) : out;
}

/**
 * Rewrites `free.node` in `graph` (the node with that output) to take its target from its input's
 * shape; the old target's producer goes if nothing else reads it. Returns the new nodes, the
 * Reshape's replacement last.
 */
export function freeReshape(graph: GraphView, free: ReshapeFree): NodeProto[] {
  const old = graph.producer(free.node.output[0] ?? '');
  const x = free.node.input[0];
  if (!old || !x) throw new GraphStructureError(`freeReshape: Reshape '${nodeLabel(free.node)}' is not in the graph`);
  const base = `${old.name || old.output[0] || 'Reshape'}/gapify`;
  const value = (node: string): string => graph.uniqueName(`${node}_output_0`);
  const added: NodeProto[] = [];
  const constant = (values: readonly number[]): string => {
    const name = graph.uniqueName(`${base}/Constant`);
    const out = value(name);
    added.push(makeConstantNode(out, makeTensor('', DataType.INT64, [values.length], values), name));
    return out;
  };
  const op = (type: string, inputs: string[], attrs: Record<string, number> = {}): string => {
    const name = graph.uniqueName(`${base}/${type}`);
    const out = value(name);
    added.push(makeNode(type, inputs, [out], attrs, name));
    return out;
  };

  const written = entries(free.dims, allowsZero(old));
  let target: string;
  if (written.every((e) => typeof e === 'number')) {
    target = constant(written as number[]);
  } else {
    const shape = op('Shape', [x]);
    const pieces: string[] = [];
    let literals: number[] = [];
    let copies: number[] = [];
    const flush = (): void => {
      if (literals.length) pieces.push(constant(literals));
      if (copies.length) pieces.push(op('Gather', [shape, constant(copies)], { axis: 0 }));
      literals = [];
      copies = [];
    };
    for (const e of written) {
      if (typeof e === 'number') {
        if (copies.length) flush();
        literals.push(e);
      } else if (e.length === 1) {
        if (literals.length) flush();
        copies.push(e[0]!);
      } else {
        flush();
        const factors = e.map((k) => op('Gather', [shape, constant([k])], { axis: 0 }));
        pieces.push(factors.reduce((a, b) => op('Mul', [a, b])));
      }
    }
    flush();
    target = pieces.length === 1 ? pieces[0]! : op('Concat', pieces, { axis: 0 });
  }
  const replacement: NodeProto = { ...old, input: [x, target] };
  graph.insertBefore(old, added);
  graph.replace(old, replacement);
  graph.removeUnread(old.input[1] ?? '');
  return [...added, replacement];
}

/**
 * The target a *reference* model has at another size: what the exporter would have traced there.
 * `y`: the freed dims at that size. A constant target keeps its 0s and -1 where they still say the
 * same, and takes the new values elsewhere; a computed one is replaced by the values.
 */
export function referenceTarget(free: ReshapeFree, x: readonly number[], y: readonly number[]): number[] {
  if (!free.constantTarget) return [...y];
  const allowZero = allowsZero(free.node);
  const t = free.target.map((d, j) => {
    if (d === -1) return d;
    if (d === 0 && !allowZero) return x[j] === y[j] ? 0 : y[j]!;
    return y[j]!;
  });
  return reshaped(x, t, allowZero)?.join() === y.join() ? t : [...y];
}
