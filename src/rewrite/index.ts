// Analyse a model for classifier tails, and rewrite the ones that can be rewritten exactly. The
// forms are rules (rules/*.ts, one file each); this module knows none of them.

import { GraphStructureError, GraphView } from '../graph/graph.js';
import { inferShapes, type Dim, type ShapeInference } from '../graph/shapes.js';
import { ModelError } from '../errors.js';
import { TensorError } from '../onnx/tensor.js';
import type { ModelFile } from '../onnx/model-io.js';
import type { ModelProto } from '../onnx/schema.js';
import type { InputShapeSpec } from '../verify/input-shapes.js';
import { resolveInputs, type ResolvedInput } from '../verify/inputs.js';
import { probeValues } from '../verify/probe.js';
import { findClassifierTails } from './find.js';
import { knownDims } from './read.js';
import { decideOrder, type AlreadyGap, type Finding, type OrderOption, type Refusal, type Tail, type TailChange } from './rule.js';

export { ORDERS, decideOrder, type AlreadyGap, type Finding, type Order, type OrderOption, type Refusal, type Tail, type TailChange, type TailCost, type TailMatch, type TailRule } from './rule.js';
export { REFUSALS, type RefusalCode } from './reasons.js';
export { TAIL_RULES } from './rules/index.js';

export interface Analysis {
  readonly file: ModelFile;
  readonly graph: GraphView;
  readonly shapes: ShapeInference;
  readonly findings: readonly Finding[];
}

/** The findings of each kind. */
export const tailsOf = (a: Pick<Analysis, 'findings'>): Tail[] => a.findings.flatMap((f) => (f.kind === 'tail' ? [f.tail] : []));
export const refusalsOf = (a: Pick<Analysis, 'findings'>): Refusal[] => a.findings.filter((f): f is Refusal => f.kind === 'refused');
export const alreadyGapOf = (a: Pick<Analysis, 'findings'>): AlreadyGap[] => a.findings.filter((f): f is AlreadyGap => f.kind === 'already-gap');

/** Values whose shape a rule may need: what pools, flattens and reshapes read and write. */
const SHAPE_SENSITIVE = new Set(['GlobalAveragePool', 'GlobalMaxPool', 'ReduceMean', 'ReduceMax', 'AveragePool', 'MaxPool', 'Flatten', 'Reshape', 'Squeeze']);

/** Builds the graph view (checking its structure) and finds every classifier tail. */
export function analyzeModel(file: ModelFile, inputShapes?: ReadonlyMap<string, readonly Dim[]>): Analysis {
  const graph = new GraphView(file.model.graph!, file.opset);
  try {
    graph.validate();
  } catch (e) {
    if (e instanceof GraphStructureError) throw new ModelError(file.path, e.message);
    throw e;
  }
  const shapes = inferShapes(graph, inputShapes);
  return { file, graph, shapes, findings: findClassifierTails(graph, shapes.shapes) };
}

/** Values whose shapes static inference could not pin down but a rule would like to know. */
export function missingShapes(analysis: Analysis): string[] {
  const wanted = new Set<string>();
  for (const n of analysis.graph.nodes) {
    if (!SHAPE_SENSITIVE.has(n.op_type ?? '')) continue;
    for (const v of [n.input[0], n.output[0]]) {
      if (v && knownDims(analysis.shapes.shapes.get(v)) === undefined && !analysis.graph.initializers.has(v)) wanted.add(v);
    }
  }
  return [...wanted];
}

/** The findings of a model that is no file of its own (a rewrite, say), at these input dims. */
export function findingsOf(model: ModelProto, opset: number, inputs: readonly ResolvedInput[]): Finding[] {
  const graph = new GraphView(model.graph!, opset);
  const shapes = inferShapes(graph, inputDims(inputs));
  return findClassifierTails(graph, shapes.shapes);
}

/** Concrete input dims for shape inference: the same ones verification feeds. */
export function analysisInputs(file: ModelFile, spec: InputShapeSpec): { inputs: ResolvedInput[]; dims: Map<string, Dim[]> } {
  const inputs = resolveInputs(file.model, spec, { label: file.path });
  return { inputs, dims: inputDims(inputs) };
}

/** Each input's dims by name, as shape inference takes them. */
const inputDims = (inputs: readonly ResolvedInput[]): Map<string, Dim[]> => new Map(inputs.map((i) => [i.name, [...i.shape]]));

/**
 * Analysis with onnxruntime's help where static shape inference is stuck (an op it doesn't know
 * upstream of the tail): the model is run once with those values exposed as extra outputs.
 */
export async function analyzeWithProbe(file: ModelFile, spec: InputShapeSpec, probe: boolean, log?: (l: string) => void): Promise<{ analysis: Analysis; inputs: ResolvedInput[] }> {
  const { inputs, dims } = analysisInputs(file, spec);
  const analysis = analyzeModel(file, dims);
  const needsProbe = refusalsOf(analysis).some((f) => f.code === 'unknown-dims');
  if (!probe || !needsProbe) return { analysis, inputs };
  const missing = missingShapes(analysis);
  if (missing.length === 0) return { analysis, inputs };
  log?.(`probing ${missing.length} shape(s) with onnxruntime`);
  const probed = await probeValues(file, file.model, missing, { inputs });
  // The probed shapes fill in what inference left open (never what it knew); the graph and the
  // rest of the inference stand, so only the search runs again.
  const { graph, shapes } = analysis;
  for (const [k, v] of probed) if (knownDims(shapes.shapes.get(k)) === undefined) shapes.shapes.set(k, [...v.dims]);
  return { analysis: { ...analysis, findings: findClassifierTails(graph, shapes.shapes) }, inputs };
}

export interface RewriteOptions {
  order: OrderOption;
  /** Class maps are asked for (--cam, gapify cam): the order policy weighs that. */
  cam?: boolean;
}

export interface Rewrite {
  readonly model: ModelProto;
  readonly changes: TailChange[];
  /** Tails that can't be written in the order asked for (--order conv-first on a quantized tail). */
  readonly refused: Refusal[];
}

/** Applies every rewritable tail of `analysis`; the model is untouched when there are none. */
export function rewriteModel(analysis: Analysis, options: RewriteOptions): Rewrite {
  const { graph, file } = analysis;
  const changes: TailChange[] = [];
  const refused: Refusal[] = [];
  for (const tail of tailsOf(analysis)) {
    const order = decideOrder(options.order, tail, !!options.cam);
    const why = order && tail.refuseOrder(order);
    if (why) {
      refused.push({ kind: 'refused', rule: tail.kind, at: tail.match.at, ...why });
      continue;
    }
    try {
      changes.push(tail.apply(graph, order, file.tensorBytes));
    } catch (e) {
      // A weight whose data contradicts its dims is a broken model, not a bug of the rule.
      if (e instanceof TensorError) throw new ModelError(file.path, e.message);
      throw e;
    }
  }
  if (changes.length === 0) return { model: file.model, changes, refused };
  graph.sort();
  return { model: { ...file.model, graph: graph.toProto() }, changes, refused };
}
