// --dynamic-size / --dynamic-batch: the model with symbolic input dims and its size-carrying Reshape
// targets computed at run time, and the *reference* each other size is checked against.
//
// A model that claims to accept any size must, at every size it is checked at (check.ts):
//   1. run;
//   2. match, value for value, its reference: a copy of the model as exported, with each freed
//      Reshape's constant target set to what the exporter would have traced at that size;
//   3. give outputs whose dims follow the size only where they should (the batch, the --cam maps).
//
// Declared shapes that would contradict the new dims are not kept: a declared dim of a value_info
// entry or graph output survives only when inference at every probe gives the same number; one that
// follows the batch becomes the batch's symbol; any other becomes unknown. Unknown is always true; a
// stale 7 is not.

import { GraphView } from '../graph/graph.js';
import type { ShapeInference } from '../graph/shapes.js';
import { makeConstantNode, makeTensor } from '../onnx/builder.js';
import { DataType, type ModelProto, type TensorShapeProto_Dimension, type ValueInfoProto } from '../onnx/schema.js';
import type { SizeAnalysis } from './analysis.js';
import { BATCH_PARAM, HEIGHT_PARAM, WIDTH_PARAM, type SizePlan, type SizePoint } from './plan.js';
import { evalDims, freeReshape, referenceTarget } from './unpin.js';

export interface DynamicModel {
  readonly model: ModelProto;
  /** The image inputs as written, e.g. [1, 3, 'height', 'width']. */
  readonly inputs: { name: string; dims: (number | string | null)[] }[];
  /** value_info entries and graph outputs whose declared dims depended on the size (now unknown or symbolic). */
  readonly cleared: string[];
}

function dimsOf(v: ValueInfoProto): (number | string | null)[] {
  return (v.type?.tensor_type?.shape?.dim ?? []).map((d) => (d.dim_value !== undefined ? Number(d.dim_value) : d.dim_param || null));
}

function unknownDim(d: TensorShapeProto_Dimension): TensorShapeProto_Dimension {
  const { dim_value: _v, dim_param: _p, ...rest } = d;
  return rest;
}

function withDims(v: ValueInfoProto, dim: TensorShapeProto_Dimension[]): ValueInfoProto {
  const tt = v.type!.tensor_type!;
  return { ...v, type: { ...v.type, tensor_type: { ...tt, shape: { ...tt.shape!, dim } } } };
}

/** A declared dim kept where every inference agrees; the batch's symbol where it follows the batch (see the top). */
function confirmShape(v: ValueInfoProto, size: SizeAnalysis, batchParam: string | undefined): { v: ValueInfoProto; changed: boolean } {
  const shape = v.type?.tensor_type?.shape;
  if (!shape || !v.name) return { v, changed: false };
  const all: ShapeInference[] = [size.trained, ...size.atProbes];
  const batches = [size.plan.trained.batch, ...size.probes.map((p) => p.point.batch)];
  const inferred = all.map((s) => s.shapes.get(v.name!));
  let changed = false;
  const dim = shape.dim.map((d, i) => {
    if (d.dim_value === undefined) return d;
    const at = inferred.map((s) => (s?.length === shape.dim.length ? s[i] : undefined));
    if (at.every((x) => x === Number(d.dim_value))) return d;
    changed = true;
    if (batchParam && size.plan.free.batch && at.every((x, k) => x === batches[k])) return { ...unknownDim(d), dim_param: batchParam };
    return unknownDim(d);
  });
  return changed ? { v: withDims(v, dim), changed } : { v, changed };
}

/** The model with symbolic image dims (what `plan.free` frees), its Reshapes freed, and no declared dim that is stale. */
export function makeSizeDynamic(model: ModelProto, size: SizeAnalysis): DynamicModel {
  const { plan } = size;
  const graph = new GraphView(model.graph!, size.graph.opset);
  for (const free of size.frees) freeReshape(graph, free);
  const cleared: string[] = [];
  const written: DynamicModel['inputs'] = [];
  let batchParam: string | undefined;
  graph.inputs = graph.inputs.map((v) => {
    const k = plan.images.findIndex((im) => im.name === v.name);
    const im = plan.images[k];
    const shape = v.type?.tensor_type?.shape;
    if (!im || !shape) return v;
    const suffix = k === 0 ? '' : `_${k}`;
    const param = (i: number): string | undefined => {
      if (i === 0 && plan.free.batch) return BATCH_PARAM;
      if (plan.free.size && i === im.hAxis) return `${HEIGHT_PARAM}${suffix}`;
      if (plan.free.size && i === im.wAxis) return `${WIDTH_PARAM}${suffix}`;
      return undefined;
    };
    const dim = shape.dim.map((d, i) => {
      const name = param(i);
      if (name === undefined || d.dim_param) return d; // fixed on purpose, or already symbolic: keep its name
      return { ...unknownDim(d), dim_param: name };
    });
    if (k === 0) batchParam = dim[0]?.dim_param;
    const out = withDims(v, dim);
    written.push({ name: v.name ?? '', dims: dimsOf(out) });
    return out;
  });
  const confirm = (v: ValueInfoProto): ValueInfoProto => {
    const r = confirmShape(v, size, batchParam);
    if (r.changed) cleared.push(v.name ?? '');
    return r.v;
  };
  graph.valueInfo = graph.valueInfo.map(confirm);
  graph.outputs = graph.outputs.map(confirm);
  graph.invalidate();
  return { model: { ...model, graph: graph.toProto() }, inputs: written, cleared };
}

/**
 * The reference at `point`: `basis` (the original model, or its rewrite) with each freed Reshape's
 * target set to its values there, its image inputs declared at the point's shape, and no declared
 * shape inside (they hold the trained size). `freed`: shapes of the freed graph at the point.
 * Undefined when a freed Reshape's input is not known there.
 */
export function referenceModel(basis: ModelProto, size: SizeAnalysis, point: SizePoint, freed: ShapeInference): ModelProto | undefined {
  const graph = new GraphView(basis.graph!, size.graph.opset);
  for (const free of size.frees) {
    if (!graph.nodes.includes(free.node)) continue;
    const x = freed.shapes.get(free.node.input[0] ?? '');
    if (!x?.every((d): d is number => typeof d === 'number')) return undefined;
    const values = referenceTarget(free, x, evalDims(free.dims, x));
    const name = graph.uniqueName(`${free.node.name || 'Reshape'}/reference/Constant`);
    const out = graph.uniqueName(`${name}_output_0`);
    graph.insertBefore(free.node, [makeConstantNode(out, makeTensor('', DataType.INT64, [values.length], values), name)]);
    graph.replace(free.node, { ...free.node, input: [free.node.input[0]!, out] });
  }
  graph.inputs = graph.inputs.map((v) => {
    const fed = point.inputs.find((i) => i.name === v.name);
    const shape = v.type?.tensor_type?.shape;
    if (!fed || !shape || !size.plan.images.some((im) => im.name === v.name)) return v;
    return withDims(v, fed.shape.map((n) => ({ dim_value: n })));
  });
  graph.outputs = graph.outputs.map((v) => (v.type?.tensor_type?.shape ? withDims(v, v.type.tensor_type.shape.dim.map(unknownDim)) : v));
  graph.valueInfo = [];
  graph.invalidate();
  return { ...basis, graph: graph.toProto() };
}

/** The plan's image inputs as declared in `model` (for a report that keeps them fixed). */
export function declaredImages(model: ModelProto, plan: SizePlan): DynamicModel['inputs'] {
  return plan.images.map((im) => {
    const v = model.graph!.input.find((i) => i.name === im.name);
    return { name: im.name, dims: v ? dimsOf(v) : [] };
  });
}
