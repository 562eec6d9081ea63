// Analyse a model for classifier tails, and rewrite the ones that can be rewritten exactly.

import { GraphStructureError, GraphView } from '../graph/graph.js';
import { inferShapes, type Dim, type Shape, type ShapeInference } from '../graph/shapes.js';
import { ModelError } from '../errors.js';
import { TensorError } from '../onnx/tensor.js';
import type { ModelFile } from '../onnx/model-io.js';
import type { ModelProto } from '../onnx/schema.js';
import { applyGlobalTail, applyPoolOnly, applySpatialTail, type Order, type OrderOption, type TailChange } from './apply.js';
import { findClassifierTails, type AlreadyGap, type Finding, type Refusal, type Tail } from './match.js';

export type { AlreadyGap, Finding, Refusal, Tail, TailChange, Order, OrderOption };
export { ORDERS } from './apply.js';
export { REFUSALS, type RefusalCode } from './reasons.js';

export interface Analysis {
  readonly file: ModelFile;
  readonly graph: GraphView;
  readonly shapes: ShapeInference;
  readonly findings: readonly Finding[];
}

/** Values whose shape a rule may need: what pools, flattens and reshapes read and write. */
const SHAPE_SENSITIVE = new Set(['GlobalAveragePool', 'GlobalMaxPool', 'ReduceMean', 'ReduceMax', 'AveragePool', 'MaxPool', 'Flatten', 'Reshape', 'Squeeze']);

/** Builds the graph view (checking its structure) and finds every classifier tail. */
export function analyzeModel(file: ModelFile, inputShapes?: ReadonlyMap<string, readonly Dim[]>, extraShapes?: ReadonlyMap<string, Shape>): Analysis {
  const graph = new GraphView(file.model.graph!, file.opset);
  try {
    graph.validate();
  } catch (e) {
    if (e instanceof GraphStructureError) throw new ModelError(file.path, e.message);
    throw e;
  }
  const shapes = inferShapes(graph, inputShapes);
  if (extraShapes) for (const [k, v] of extraShapes) if (!isConcrete(shapes.shapes.get(k))) shapes.shapes.set(k, [...v]);
  return { file, graph, shapes, findings: findClassifierTails(graph, shapes.shapes) };
}

function isConcrete(s: Shape | undefined): boolean {
  return !!s && s.every((d) => typeof d === 'number');
}

/** Values whose shapes static inference could not pin down but a rule would like to know. */
export function missingShapes(analysis: Analysis): string[] {
  const wanted = new Set<string>();
  for (const n of analysis.graph.nodes) {
    if (!SHAPE_SENSITIVE.has(n.op_type ?? '')) continue;
    for (const v of [n.input[0], n.output[0]]) {
      if (v && !isConcrete(analysis.shapes.shapes.get(v)) && !analysis.graph.initializers.has(v)) wanted.add(v);
    }
  }
  return [...wanted];
}

export interface RewriteOptions {
  order: OrderOption;
}

export interface Rewrite {
  readonly model: ModelProto;
  readonly changes: TailChange[];
}

export function chooseOrder(tail: Tail, option: OrderOption): Order {
  if (option !== 'auto') return option;
  // Class maps exist only where the layer yields the final scores; elsewhere (first layer of an
  // MLP head) conv-first would only cost H·W times the multiply-accumulates.
  return tail.kind === 'global' && !tail.finalScores ? 'pool-first' : 'conv-first';
}

/** Applies every rewritable tail of `analysis`; the model is untouched when there are none. */
export function rewriteModel(analysis: Analysis, options: RewriteOptions): Rewrite {
  const { graph, file } = analysis;
  const changes: TailChange[] = [];
  for (const f of analysis.findings) {
    if (f.kind !== 'tail') continue;
    const tail = f.tail;
    try {
      if (tail.kind === 'global') changes.push(applyGlobalTail(graph, tail, chooseOrder(tail, options.order), file.tensorBytes));
      else if (tail.kind === 'spatial') changes.push(applySpatialTail(graph, tail, file.tensorBytes));
      else changes.push(applyPoolOnly(graph, tail));
    } catch (e) {
      // A weight whose data contradicts its dims is a broken model, not a bug of the rule.
      if (e instanceof TensorError) throw new ModelError(file.path, e.message);
      throw e;
    }
  }
  if (changes.length === 0) return { model: file.model, changes };
  graph.sort();
  return { model: { ...file.model, graph: graph.toProto() }, changes };
}
