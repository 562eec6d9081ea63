// What pins a model to the input size it was exported at (the `fixed-input-size` rule).
//
// Four kinds of pin, all found without running the model:
//   - input:        a graph input declares fixed height/width dims (onnxruntime enforces them);
//   - spatial-tail: a Flatten/Reshape feeds fully-connected layers from a C×H×W map, whose weight
//                   only fits one H×W (VGG, AlexNet) — gapify's rewrite removes it when it can;
//   - fixed-pool:   an AveragePool whose kernel equals the map: global only at this size (NIN) —
//                   the rewrite makes it a GlobalAveragePool;
//   - reshape:      a Reshape whose target holds the map size (ShuffleNet's channel shuffle,
//                   [1, 2, 58, 28, 28]);
//   - other:        any other node that stops fitting at another size.
//
// Reshapes and "other" come from running static shape inference a second time with every spatial
// input dim made ~1.5× larger (not a multiple: so a -1 in a target can't silently absorb the change):
// a node that was fine at the analysed size and fails at the larger one, or a Reshape that moves
// the growth into the batch dim, pins the size. A Reshape with a constant target without -1 that
// does not copy the spatial dims (0) pins it too: its element count is fixed. That one is found even
// downstream of an earlier pin, where the second inference knows no shapes. The checks read shapes
// and small int constants only.

import type { NodeProto } from '../onnx/schema.js';
import { isDefaultDomain, nodeLabel } from '../graph/graph.js';
import { inferShapes, type Dim, type Shape } from '../graph/shapes.js';
import type { Analysis } from '../rewrite/index.js';
import { isChannelsLast, type DeclaredInput } from '../verify/inputs.js';

export const PIN_KINDS = ['input', 'spatial-tail', 'fixed-pool', 'reshape', 'other'] as const;
export type PinKind = (typeof PIN_KINDS)[number];

export interface Pin {
  readonly kind: PinKind;
  /** The node that pins the size; null for a graph input. */
  readonly node: string | null;
  /** The graph input, for kind 'input'. */
  readonly input?: string;
  /** One sentence. */
  readonly detail: string;
  /** gapify's rewrite removes this pin. */
  readonly fixedByRewrite: boolean;
}

export { nodeLabel };
/** The key shape inference uses for a node in `unresolved`. */
const inferenceKey = (n: NodeProto): string => n.name || n.output[0] || '';

/** Dims as `64×7×7`, unknown ones as `?`. */
export const fmtDims = (dims: readonly (number | string | null | undefined)[]): string => dims.map((d) => d ?? '?').join('×');

/** Spatial axes of an input: NCHW (2, 3, …) unless it looks like NHWC (last dim 1, 3 or 4 channels). */
export function spatialAxes(dims: readonly { value?: number }[]): number[] {
  const rank = dims.length;
  if (rank < 3) return [];
  if (isChannelsLast(dims)) return [1, 2];
  return Array.from({ length: rank - 2 }, (_, i) => i + 2);
}

/** A size ~1.5× `d`, rounded to a multiple of 16 (strided nets), never a multiple of `d`. */
function grow(d: number): number {
  if (d <= 1) return d;
  const g = Math.max(d + 1, Math.round((d * 1.5) / 16) * 16);
  return g % d === 0 ? g + 1 : g;
}

function inputPins(inputs: readonly DeclaredInput[]): Pin[] {
  const pins: Pin[] = [];
  for (const input of inputs) {
    if (!input.dims) continue;
    const axes = spatialAxes(input.dims);
    const fixed = axes.filter((a) => input.dims![a]!.value !== undefined);
    if (fixed.length === 0) continue;
    const shape = fmtDims(input.dims.map((d) => d.value ?? d.param));
    const what = fixed.length === axes.length ? (axes.length === 2 ? 'height and width are' : 'its spatial dims are') : `spatial dim${fixed.length > 1 ? 's' : ''} ${fixed.join(', ')} ${fixed.length > 1 ? 'are' : 'is'}`;
    pins.push({ kind: 'input', node: null, input: input.name, detail: `input '${input.name}' is declared ${shape}: ${what} fixed`, fixedByRewrite: false });
  }
  return pins;
}

const sameShape = (a: Shape | undefined, b: Shape | undefined): boolean => !!a && !!b && a.length === b.length && a.every((d, i) => d === b[i]);

/** Every pin of the analysed model. `dims`: the input dims the analysis used (undefined: declared only, no probe). */
export function findPins(analysis: Analysis, inputs: readonly DeclaredInput[], dims: ReadonlyMap<string, readonly Dim[]> | undefined): Pin[] {
  const { graph } = analysis;
  const pins: Pin[] = inputPins(inputs);
  const pinnedNodes = new Set<NodeProto>();
  const refusedAt = new Set<string>();

  for (const f of analysis.findings) {
    if (f.kind === 'refused' && f.tailKind === 'spatial') {
      refusedAt.add(f.at);
      pins.push({ kind: 'spatial-tail', node: f.at, detail: `'${f.at}' flattens a spatial map into a fully-connected layer, whose weight fits one map size (not rewritable: ${f.code})`, fixedByRewrite: false });
    }
    if (f.kind !== 'tail') continue;
    const t = f.tail;
    if (t.kind === 'spatial') {
      pinnedNodes.add(t.flatten);
      const first = t.layers[0]!;
      pins.push({
        kind: 'spatial-tail', node: nodeLabel(t.flatten),
        detail: `${t.flatten.op_type} '${nodeLabel(t.flatten)}' feeds ${first.nodes[0]!.op_type} '${nodeLabel(first.nodes[0]!)}' from a ${fmtDims(t.featureShape.slice(1))} map, a weight that fits this map size only (gapify's rewrite makes it a convolution)`,
        fixedByRewrite: true,
      });
    } else if (t.pool.disguised) {
      pinnedNodes.add(t.pool.node);
      pins.push({
        kind: 'fixed-pool', node: nodeLabel(t.pool.node),
        detail: `${t.pool.node.op_type} '${nodeLabel(t.pool.node)}' has a kernel equal to its ${fmtDims(t.featureShape.slice(2))} map: a global average only at this size (gapify's rewrite makes it a GlobalAveragePool)`,
        fixedByRewrite: true,
      });
    }
  }
  for (const n of graph.nodes) if (refusedAt.has(nodeLabel(n))) pinnedNodes.add(n);

  // Probe: the same inference at a larger size.
  if (!dims) return pins;
  const probe = new Map<string, Dim[]>();
  let grew = false;
  for (const [name, d] of dims) {
    const decl = inputs.find((i) => i.name === name);
    const axes = spatialAxes(decl?.dims ?? d.map((x) => (typeof x === 'number' ? { value: x } : {})));
    probe.set(name, d.map((x, i) => {
      if (!axes.includes(i) || typeof x !== 'number' || grow(x) === x) return x;
      grew = true;
      return grow(x);
    }));
  }
  if (!grew) return pins;
  const base = analysis.shapes;
  const other = inferShapes(graph, probe);
  const failedBefore = new Set(base.unresolved.map((u) => u.node));
  const failedNow = new Map(other.unresolved.filter((u) => !failedBefore.has(u.node)).map((u) => [u.node, u]));
  const values = base.values;

  for (const n of graph.nodes) {
    if (n.op_type !== 'Reshape' || !isDefaultDomain(n) || pinnedNodes.has(n)) continue;
    const x = n.input[0];
    const y = n.output[0];
    if (!x || !y) continue;
    const in1 = base.shapes.get(x);
    const in2 = other.shapes.get(x);
    if (!in1 || in1.length < 3) continue;
    if (in2 && sameShape(in1, in2)) continue; // the Reshape does not see the size
    const out1 = base.shapes.get(y);
    const out2 = other.shapes.get(y);
    // A constant target without -1 fixes the element count: it fails at any other size, even
    // where the probe can't tell (downstream of an earlier pin).
    const constTarget = n.input[1] && graph.constant(n.input[1]) ? values.get(n.input[1]) : undefined;
    const fixedCount = !!constTarget && !constTarget.includes(-1) && in1.slice(2).some((d, i) => d !== 1 && constTarget[i + 2] !== 0);
    const fails = fixedCount || failedNow.has(inferenceKey(n)) || (!!in2 && !!out1 && !out2);
    const intoBatch = !!in2 && !!out1 && !!out2 && out1[0] !== out2[0] && in1[0] === in2[0];
    if (!fails && !intoBatch) continue;
    pinnedNodes.add(n);
    const target = n.input[1] ? values.get(n.input[1]) : undefined;
    const what = target ? `the fixed target [${target.join(', ')}]` : 'a target';
    pins.push({
      kind: 'reshape', node: nodeLabel(n),
      detail: `Reshape '${nodeLabel(n)}' has ${what} that holds the ${fmtDims(in1.slice(2))} map size: at other sizes it ${fails ? 'fails' : 'folds the map into the batch dim'}`,
      fixedByRewrite: false,
    });
  }

  // Anything else that stops fitting, unless it is downstream of a pin, which explains it (the
  // Gemm after a fixed pool's Flatten gets the wrong feature count).
  const downstream = new Set<string>();
  const mark = (n: NodeProto): void => {
    const queue = n.output.filter((o) => o && !downstream.has(o));
    for (const o of queue) downstream.add(o);
    while (queue.length) {
      for (const c of graph.consumers(queue.pop()!)) {
        for (const o of c.output) {
          if (o && !downstream.has(o)) {
            downstream.add(o);
            queue.push(o);
          }
        }
      }
    }
  };
  for (const n of pinnedNodes) mark(n);
  for (const n of graph.nodes) {
    const u = failedNow.get(inferenceKey(n));
    if (!u || pinnedNodes.has(n) || n.input.some((i) => i && downstream.has(i))) continue;
    pinnedNodes.add(n);
    mark(n);
    pins.push({ kind: 'other', node: nodeLabel(n), detail: `${n.op_type} '${nodeLabel(n)}' fails at other input sizes (${u.reason})`, fixedByRewrite: false });
  }
  return pins;
}
