// What pins a model to the input size it was exported at. One analysis for `gapify lint`
// (fixed-input-size) and `gapify --dynamic-size` (which then confirms it with onnxruntime).
//
// Pins come from three places:
//   - the graph inputs: declared fixed height/width dims of an image input;
//   - the tails the rules found (a spatial tail's weight fits one map size, an AveragePool as big
//     as its map is global at this size only): each rule says what its tails pin;
//   - static shape inference run twice, at the trained size and at the second size (plan.ts), on a
//     copy of the graph without declared shapes (a stale declared dim must not hide a failure):
//       - a Reshape whose input changes with the size pins it when its constant target has no -1
//         and does not copy (0) the spatial dims — its element count is fixed, which is found even
//         downstream of an earlier pin, where the second inference knows no shapes — or when it
//         fails at the second size, or folds the larger map into the batch dim;
//       - any other node that resolves at the trained size and fails at the second, unless it is
//         downstream of a pin, which explains it (the Gemm after a fixed pool's Flatten).
// The checks read shapes and small int constants only: no weights, no onnxruntime.

import { GraphView } from '../graph/graph.js';
import { inferShapes, type Dim, type Shape, type ShapeInference } from '../graph/shapes.js';
import type { ModelProto, NodeProto, ValueInfoProto } from '../onnx/schema.js';
import type { Finding } from '../rewrite/rule.js';
import { dimsText, nodeLabel, shapeText } from '../text.js';
import type { DeclaredInput } from '../verify/inputs.js';
import type { SizePin } from './pin.js';
import { imageAxes, type SizePlan } from './plan.js';

export interface SizeAnalysis {
  /** Shapes at the trained and at the second size (declared shapes ignored). */
  readonly trained: ShapeInference;
  readonly also: ShapeInference;
  /** The bare copy of the graph both were inferred on (its nodes are the model's own). */
  readonly graph: GraphView;
  readonly pins: SizePin[];
}

/** Image inputs declared with a fixed height or width. */
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
    pins.push({ kind: 'input', node: null, input: input.name, detail: `input '${input.name}' is declared ${shape}: ${what} fixed`, fixedByRewrite: false, found: 'static' });
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

const dimsMap = (inputs: SizePlan['inputs']): Map<string, Dim[]> => new Map(inputs.map((i) => [i.name, [...i.shape]]));

const sameShape = (a: Shape | undefined, b: Shape | undefined): boolean => !!a && !!b && a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * Every pin of `model` at `plan`'s two sizes. `known`: pins found before (input and tail pins, see
 * inputPins and tailPins), listed first; the inference pins skip their nodes and what they explain.
 */
export function analyzeSize(model: ModelProto, opset: number, plan: SizePlan, known: readonly SizePin[]): SizeAnalysis {
  const graph = bareGraph(model, opset);
  const base = inferShapes(graph, dimsMap(plan.inputs));
  const other = inferShapes(graph, dimsMap(plan.alsoInputs));
  const pins: SizePin[] = [...known];
  const pinned = new Set<NodeProto>(known.flatMap((p) => (p.node ? [p.node] : [])));
  const failedBefore = new Set(base.unresolved.map((u) => u.node));
  const failedNow = new Map(other.unresolved.filter((u) => u.node && !failedBefore.has(u.node)).map((u) => [u.node!, u]));
  const values = base.values;

  for (const n of graph.nodes) {
    if (n.op_type !== 'Reshape' || (n.domain && n.domain !== 'ai.onnx') || pinned.has(n)) continue;
    const x = n.input[0];
    const y = n.output[0];
    if (!x || !y) continue;
    const in1 = base.shapes.get(x);
    const in2 = other.shapes.get(x);
    if (!in1 || in1.length < 3) continue;
    if (in2 && sameShape(in1, in2)) continue; // the Reshape does not see the size
    const out1 = base.shapes.get(y);
    const out2 = other.shapes.get(y);
    const constTarget = n.input[1] && graph.constant(n.input[1]) ? values.get(n.input[1]) : undefined;
    const fixedCount = !!constTarget && !constTarget.includes(-1) && in1.slice(2).some((d, i) => d !== 1 && constTarget[i + 2] !== 0);
    const fails = fixedCount || failedNow.has(n) || (!!in2 && !!out1 && !out2);
    const intoBatch = !!in2 && !!out1 && !!out2 && out1[0] !== out2[0] && in1[0] === in2[0];
    if (!fails && !intoBatch) continue;
    pinned.add(n);
    const target = n.input[1] ? values.get(n.input[1]) : undefined;
    const what = target ? `the fixed target [${target.join(', ')}]` : 'a target';
    pins.push({
      kind: 'reshape', node: n, found: 'static', fixedByRewrite: false,
      detail: `Reshape '${nodeLabel(n)}' has ${what} that holds the ${dimsText(in1.slice(2))} map size: at other sizes it ${fails ? 'fails' : 'folds the map into the batch dim'}`,
    });
  }

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
  for (const n of pinned) mark(n);
  for (const n of graph.nodes) {
    const u = failedNow.get(n);
    if (!u || pinned.has(n) || n.input.some((i) => i && downstream.has(i))) continue;
    pinned.add(n);
    mark(n);
    pins.push({ kind: 'other', node: n, found: 'static', fixedByRewrite: false, detail: `${n.op_type} '${nodeLabel(n)}' fails at other input sizes (${u.reason})` });
  }
  return { trained: base, also: other, graph, pins };
}

/**
 * Reshapes with a constant target holding a -1, upstream of `output`, whose input changes with the
 * size: they fold the change into the dim the -1 stands for. The suspects when onnxruntime ran every
 * node at the second size but an output changed shape.
 */
export function foldingReshapes(size: SizeAnalysis, output: string): SizePin[] {
  const { graph, trained, also } = size;
  const seen = new Set<string>();
  const pins: SizePin[] = [];
  const stack = [output];
  while (stack.length) {
    const v = stack.pop()!;
    if (seen.has(v)) continue;
    seen.add(v);
    const p = graph.producer(v);
    if (!p) continue;
    if (p.op_type === 'Reshape') {
      const target = trained.values.get(p.input[1] ?? '');
      const xa = trained.shapes.get(p.input[0] ?? '');
      const xb = also.shapes.get(p.input[0] ?? '');
      const same = target && also.values.get(p.input[1] ?? '')?.join() === target.join();
      if (same && target.includes(-1) && shapeText(xa) !== shapeText(xb)) {
        pins.push({
          kind: 'reshape', node: p, found: 'static', fixedByRewrite: false,
          detail: `Reshape '${nodeLabel(p)}' has the fixed target [${target.join(', ')}], which folds the larger map (${shapeText(xb)} instead of ${shapeText(xa)}) into the -1`,
        });
      }
    }
    for (const i of p.input) if (i) stack.push(i);
  }
  return pins;
}
