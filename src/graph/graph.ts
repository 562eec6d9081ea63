// A small mutable view over a (frozen, decoded) GraphProto: who produces and who reads each value,
// constants, names, safe removal and topological order. Rules read it; the apply step edits it;
// `toProto()` builds a new GraphProto that reuses every untouched message as-is.

import type { AttributeProto, GraphProto, NodeProto, TensorProto, ValueInfoProto } from '../onnx/schema.js';
import { AttributeType } from '../onnx/schema.js';
import { emptyTensor } from '../onnx/tensor.js';
import { GraphStructureError } from '../errors.js';
import { nodeLabel } from '../text.js';

export { GraphStructureError };

/** Names read inside a node's subgraphs (If/Loop/Scan bodies) that come from the enclosing scope. */
function outerScopeReads(node: NodeProto): string[] {
  const reads = new Set<string>();
  const visitGraph = (g: GraphProto, outerDefined: ReadonlySet<string>): void => {
    const defined = new Set<string>(outerDefined);
    for (const i of g.input) if (i.name) defined.add(i.name);
    for (const t of g.initializer) if (t.name) defined.add(t.name);
    for (const name of sparseNames(g)) defined.add(name);
    for (const n of g.node) for (const o of n.output) if (o) defined.add(o);
    for (const n of g.node) {
      for (const i of n.input) if (i && !defined.has(i)) reads.add(i);
      for (const a of n.attribute) visitAttr(a, defined);
    }
    for (const o of g.output) if (o.name && !defined.has(o.name)) reads.add(o.name);
  };
  const visitAttr = (a: AttributeProto, defined: ReadonlySet<string>): void => {
    if (a.g) visitGraph(a.g, defined);
    for (const g of a.graphs) visitGraph(g, defined);
  };
  for (const a of node.attribute) visitAttr(a, new Set());
  return [...reads];
}

/** Names of a graph's sparse initializers (the dense `values` tensor names the value). */
function sparseNames(g: GraphProto): string[] {
  return g.sparse_initializer.map((t) => t.values?.name ?? '').filter(Boolean);
}

/** Every name defined inside a node's subgraphs (they share one namespace with the main graph in SSA). */
function namesInside(node: NodeProto, into: Set<string>): void {
  const visit = (g: GraphProto): void => {
    for (const v of [...g.input, ...g.output, ...g.value_info]) if (v.name) into.add(v.name);
    for (const t of g.initializer) if (t.name) into.add(t.name);
    for (const name of sparseNames(g)) into.add(name);
    for (const n of g.node) {
      if (n.name) into.add(n.name);
      for (const o of n.output) if (o) into.add(o);
      namesInside(n, into);
    }
  };
  for (const a of node.attribute) {
    if (a.g) visit(a.g);
    for (const g of a.graphs) visit(g);
  }
}

export function attr(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name);
}

export function attrInt(node: NodeProto, name: string, fallback: number): number {
  const a = attr(node, name);
  if (a?.i === undefined) return fallback;
  return Number(a.i);
}

export function attrFloat(node: NodeProto, name: string, fallback: number): number {
  return attr(node, name)?.f ?? fallback;
}

export function attrInts(node: NodeProto, name: string): number[] | undefined {
  const a = attr(node, name);
  return a ? a.ints.map(Number) : undefined;
}

export function attrString(node: NodeProto, name: string): string | undefined {
  const s = attr(node, name)?.s;
  return s === undefined ? undefined : new TextDecoder().decode(s);
}

export function isDefaultDomain(node: NodeProto): boolean {
  return !node.domain || node.domain === 'ai.onnx';
}

export class GraphView {
  /** Working node list, in the order nodes will be written. */
  nodes: NodeProto[];
  readonly initializers: Map<string, TensorProto>;
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
  private producerIndex = new Map<string, NodeProto>();
  private consumerIndex = new Map<string, NodeProto[]>();
  private implicitReads = new Map<NodeProto, string[]>();
  /** Sparse initializers: values that exist without a producer (gapify never rewrites them). */
  private readonly sparse: ReadonlySet<string>;
  /** Names used inside subgraphs: a new name must avoid them too. */
  private readonly nestedNames = new Set<string>();
  /**
   * Every name ever used, for uniqueName: built on first use (analysis alone never needs it), then
   * only added to — a name an edit removed stays taken, which costs nothing and saves rebuilding.
   */
  private names: Set<string> | undefined;
  /** The indexes (and the names, and the order) no longer describe `nodes`. */
  private dirty = true;
  /** topologicalOrder's answer while nothing changed: analysis asks for it more than once. */
  private order: NodeProto[] | undefined;

  constructor(
    readonly original: GraphProto,
    readonly opset: number,
  ) {
    this.nodes = [...original.node];
    this.initializers = new Map();
    for (const t of original.initializer) if (t.name) this.initializers.set(t.name, t);
    this.inputs = [...original.input];
    this.outputs = [...original.output];
    this.valueInfo = [...original.value_info];
    this.sparse = new Set(sparseNames(original));
    for (const n of this.nodes) {
      if (!n.attribute.some((a) => a.g || a.graphs.length)) continue;
      this.implicitReads.set(n, outerScopeReads(n));
      namesInside(n, this.nestedNames);
    }
  }

  // Memory: a graph of millions of nodes is legal, so these indexes hold one entry per value and
  // nothing per node that they can do without (a list starts as [n], not as [] grown by push, which
  // reserves 17 slots).
  private index(): void {
    if (!this.dirty) return;
    this.producerIndex.clear();
    this.consumerIndex.clear();
    this.order = undefined;
    for (const n of this.nodes) {
      for (const o of n.output) if (o) this.producerIndex.set(o, n);
      this.addReads(n, n.input);
      const implicit = this.implicitReads.get(n);
      if (implicit) this.addReads(n, implicit);
    }
    this.dirty = false;
  }

  private addReads(n: NodeProto, reads: readonly string[]): void {
    for (const i of reads) {
      if (!i) continue;
      const list = this.consumerIndex.get(i);
      if (!list) this.consumerIndex.set(i, [n]);
      // A node's reads are indexed together, so a repeat can only be the last entry: checking
      // the whole list instead would make a value read by n nodes cost O(n²).
      else if (list[list.length - 1] !== n) list.push(n);
    }
  }

  private allNames(): Set<string> {
    if (this.names) return this.names;
    const names = new Set<string>([...this.sparse, ...this.nestedNames, ...this.initializers.keys()]);
    for (const i of this.inputs) if (i.name) names.add(i.name);
    for (const n of this.nodes) {
      if (n.name) names.add(n.name);
      for (const o of n.output) if (o) names.add(o);
    }
    return (this.names = names);
  }

  /** Call after editing `nodes`, `inputs` or `outputs` directly. */
  invalidate(): void {
    this.dirty = true;
  }

  producer(value: string): NodeProto | undefined {
    this.index();
    return this.producerIndex.get(value);
  }

  consumers(value: string): readonly NodeProto[] {
    this.index();
    return this.consumerIndex.get(value) ?? [];
  }

  isGraphOutput(value: string): boolean {
    return this.outputs.some((o) => o.name === value);
  }

  isGraphInput(value: string): boolean {
    return this.inputs.some((i) => i.name === value);
  }

  /** Values read by nodes or the graph outputs. */
  isUsed(value: string): boolean {
    return this.consumers(value).length > 0 || this.isGraphOutput(value);
  }

  /**
   * The constant tensor behind a value: an initializer (unless it is also a graph input, which a
   * caller may override), or a Constant node's `value`, looking through Identity.
   */
  constant(value: string): TensorProto | undefined {
    for (let hops = 0; hops < 16; hops++) {
      const init = this.initializers.get(value);
      if (init) return this.isGraphInput(value) ? undefined : init;
      const p = this.producer(value);
      if (!p || !isDefaultDomain(p)) return undefined;
      if (p.op_type === 'Identity' && p.input[0]) {
        value = p.input[0];
        continue;
      }
      if (p.op_type !== 'Constant') return undefined;
      const a = p.attribute[0];
      if (!a) return undefined;
      if (a.t) return a.t;
      // value_float(s) / value_int(s) (opset 12+): build the tensor they stand for.
      if (a.type === AttributeType.FLOAT && a.f !== undefined) return emptyTensor({ data_type: 1, dims: [], float_data: Float32Array.of(a.f) });
      if (a.type === AttributeType.FLOATS) return emptyTensor({ data_type: 1, dims: [a.floats.length], float_data: a.floats });
      if (a.type === AttributeType.INT && a.i !== undefined) return emptyTensor({ data_type: 7, dims: [], int64_data: [a.i] });
      if (a.type === AttributeType.INTS) return emptyTensor({ data_type: 7, dims: [a.ints.length], int64_data: [...a.ints] });
      return undefined;
    }
    return undefined;
  }

  /** Shape of a value as declared in the graph (inputs, outputs, value_info, initializers). */
  declaredShape(value: string): (number | string | undefined)[] | undefined {
    const init = this.initializers.get(value);
    if (init) return init.dims.map(Number);
    const vi = [...this.inputs, ...this.outputs, ...this.valueInfo].find((v) => v.name === value);
    const shape = vi?.type?.tensor_type?.shape;
    if (!shape) return undefined;
    return shape.dim.map((d) => (d.dim_value !== undefined ? Number(d.dim_value) : d.dim_param || undefined));
  }

  declaredElemType(value: string): number | undefined {
    const init = this.initializers.get(value);
    if (init) return init.data_type;
    const vi = [...this.inputs, ...this.outputs, ...this.valueInfo].find((v) => v.name === value);
    return vi?.type?.tensor_type?.elem_type;
  }

  /** A fresh value or node name derived from `base` that clashes with nothing in the graph. */
  uniqueName(base: string): string {
    const names = this.allNames();
    let name = base;
    for (let i = 1; names.has(name); i++) name = `${base}_${i}`;
    names.add(name);
    return name;
  }

  addInitializer(t: TensorProto): void {
    if (!t.name) throw new GraphStructureError('initializer without a name');
    this.initializers.set(t.name, t);
    this.dirty = true;
  }

  /** Inserts nodes right after `anchor` (or at the end), keeping the list close to its old order. */
  insertAfter(anchor: NodeProto | undefined, added: NodeProto[]): void {
    const at = anchor ? this.nodes.indexOf(anchor) : -1;
    if (at < 0) this.nodes.push(...added);
    else this.nodes.splice(at + 1, 0, ...added);
    this.dirty = true;
  }

  /** Inserts nodes right before `anchor`, which must be in the graph. */
  insertBefore(anchor: NodeProto, added: NodeProto[]): void {
    const at = this.nodes.indexOf(anchor);
    if (at < 0) throw new GraphStructureError(`node '${nodeLabel(anchor)}' is not in the graph`);
    this.nodes.splice(at, 0, ...added);
    this.dirty = true;
  }

  /** Puts `next` where `old` is (same outputs, other inputs: a node re-wired by a rewrite). */
  replace(old: NodeProto, next: NodeProto): void {
    const at = this.nodes.indexOf(old);
    if (at < 0) throw new GraphStructureError(`node '${nodeLabel(old)}' is not in the graph`);
    this.nodes[at] = next;
    this.dirty = true;
  }

  /**
   * Removes `nodes` whatever reads their outputs — the caller has handed those outputs to new
   * nodes — then cleans up what only they were reading (see removeDead).
   */
  detach(nodes: readonly NodeProto[]): void {
    const feeders: NodeProto[] = [];
    const inputs: string[] = [];
    for (const n of nodes) {
      const at = this.nodes.indexOf(n);
      if (at >= 0) this.nodes.splice(at, 1);
      inputs.push(...n.input);
    }
    this.dirty = true;
    for (const i of inputs) {
      if (!i) continue;
      const p = this.producer(i);
      if (p) feeders.push(p);
      else if (this.initializers.has(i) && !this.isUsed(i) && !this.isGraphInput(i)) this.initializers.delete(i);
    }
    this.removeDead(feeders);
    this.dropStaleValueInfo();
  }

  /** value_info of values that no longer exist would describe nothing (or, renamed, the wrong thing). */
  private dropStaleValueInfo(): void {
    const live = new Set<string>(this.sparse);
    for (const n of this.nodes) for (const o of n.output) live.add(o);
    for (const i of this.inputs) live.add(i.name ?? '');
    for (const k of this.initializers.keys()) live.add(k);
    this.valueInfo = this.valueInfo.filter((v) => v.name !== undefined && live.has(v.name));
  }

  /** Removes what produced `value` (node or initializer) if nothing reads it any more. */
  removeUnread(value: string): void {
    if (!value || this.isUsed(value)) return;
    const p = this.producer(value);
    if (p) this.removeDead([p]);
    else if (this.initializers.has(value) && !this.isGraphInput(value)) {
      this.initializers.delete(value);
      this.dirty = true;
      this.dropStaleValueInfo();
    }
  }

  /**
   * Removes `candidates` that nobody reads any more, then, backwards, the producers of their
   * inputs that became unread, and initializers only they read. A node with an output that is
   * still read (by a node or as a graph output) is never removed. Returns the removed nodes.
   */
  removeDead(candidates: Iterable<NodeProto>): NodeProto[] {
    const removed: NodeProto[] = [];
    const queue = [...candidates];
    const gone = new Set<NodeProto>();
    while (queue.length > 0) {
      const n = queue.shift()!;
      if (gone.has(n) || !this.nodes.includes(n)) continue;
      if (n.output.some((o) => o && this.isUsed(o))) continue;
      this.nodes.splice(this.nodes.indexOf(n), 1);
      this.dirty = true;
      gone.add(n);
      removed.push(n);
      for (const i of [...n.input, ...(this.implicitReads.get(n) ?? [])]) {
        if (!i) continue;
        const p = this.producer(i);
        if (p) queue.push(p);
        else if (this.initializers.has(i) && !this.isUsed(i) && !this.isGraphInput(i)) this.initializers.delete(i);
      }
    }
    if (removed.length) this.dropStaleValueInfo();
    return removed;
  }

  /**
   * Nodes in an order where every value is produced before it is read (stable: keeps the current
   * order where it is already valid). Throws on a cycle or a value nobody produces.
   *
   * Kahn's algorithm, always taking the ready node that comes first in the current order: an order
   * that is already valid comes back unchanged, and any graph costs O(n log n) — a crafted model
   * with its nodes listed backwards must not cost O(n²).
   */
  topologicalOrder(): NodeProto[] {
    this.index();
    if (this.order) return this.order;
    const given = new Set<string>(['', ...this.sparse, ...this.initializers.keys()]);
    for (const i of this.inputs) if (i.name) given.add(i.name);
    const nodes = this.nodes;
    // For each node, how many of the values it reads are still to come; for each such value, who
    // waits (one node as a number, more as a list: most values have one reader).
    const missing = new Int32Array(nodes.length);
    const waiting = new Map<string, number | number[]>();
    const wait = (n: NodeProto, k: number, i: string): void => {
      if (given.has(i)) return;
      if (!this.producerIndex.has(i)) throw new GraphStructureError(`node '${n.name || n.op_type}' reads '${i}', which no node, input or initializer produces`);
      missing[k]!++;
      const w = waiting.get(i);
      if (w === undefined) waiting.set(i, k);
      else if (typeof w === 'number') waiting.set(i, [w, k]);
      else w.push(k);
    };
    nodes.forEach((n, k) => {
      const implicit = this.implicitReads.get(n);
      for (const i of distinct(n.input, implicit)) wait(n, k, i);
    });
    const ready = new IndexHeap();
    missing.forEach((m, k) => { if (m === 0) ready.push(k); });
    const order: NodeProto[] = [];
    const release = (w: number): void => { if (--missing[w]! === 0) ready.push(w); };
    for (let k = ready.pop(); k !== undefined; k = ready.pop()) {
      const n = nodes[k]!;
      order.push(n);
      for (const o of n.output) {
        const w = o ? waiting.get(o) : undefined;
        if (w === undefined) continue;
        waiting.delete(o);
        if (typeof w === 'number') release(w);
        else w.forEach(release);
      }
    }
    if (order.length < nodes.length) {
      const pending = nodes.filter((_, k) => missing[k]! > 0);
      const names = pending.slice(0, 3).map((n) => `'${n.name || n.op_type}'`).join(', ');
      throw new GraphStructureError(`the graph has a cycle through ${names}${pending.length > 3 ? ', …' : ''}`);
    }
    return (this.order = order);
  }

  /** Sorts `nodes` topologically in place. */
  sort(): void {
    this.nodes = [...this.topologicalOrder()];
    this.dirty = true;
  }

  /** Checks structure the rules rely on: single producer per value, produced before read, no cycle. */
  validate(): void {
    const seen = new Set<string>(this.sparse);
    for (const i of this.inputs) if (i.name) seen.add(i.name);
    for (const n of this.nodes) {
      for (const o of n.output) {
        if (!o) continue;
        if (seen.has(o) && !this.initializers.has(o)) throw new GraphStructureError(`value '${o}' is produced more than once`);
        if (this.initializers.has(o)) throw new GraphStructureError(`value '${o}' is both an initializer and a node output`);
        seen.add(o);
      }
    }
    this.topologicalOrder();
    for (const o of this.outputs) {
      if (o.name && !seen.has(o.name) && !this.initializers.has(o.name)) throw new GraphStructureError(`graph output '${o.name}' is never produced`);
    }
  }

  /** A new GraphProto with the view's contents; untouched fields and messages are the originals. */
  toProto(): GraphProto {
    const initializer = this.original.initializer.filter((t) => t.name && this.initializers.get(t.name) === t);
    const known = new Set(initializer);
    for (const t of this.initializers.values()) if (!known.has(t)) initializer.push(t);
    return {
      ...this.original,
      node: this.nodes,
      initializer,
      input: this.inputs,
      output: this.outputs,
      value_info: this.valueInfo,
    };
  }
}

/** The names in `a` then `b`, each once, without a Set for the few inputs a node usually has. */
function distinct(a: readonly string[], b: readonly string[] = []): readonly string[] {
  const all = b.length ? [...a, ...b] : a;
  if (all.length > 16) return [...new Set(all)];
  return all.every((x, i) => all.indexOf(x) === i) ? all : all.filter((x, i) => all.indexOf(x) === i);
}

/** A min-heap of node indexes (topologicalOrder's ready list). */
class IndexHeap {
  private readonly a: number[] = [];

  push(v: number): void {
    const a = this.a;
    let i = a.push(v) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= v) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = v;
  }

  pop(): number | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= a.length) break;
      if (c + 1 < a.length && a[c + 1]! < a[c]!) c++;
      if (a[c]! >= last) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = last;
    return top;
  }
}
