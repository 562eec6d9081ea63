// --dynamic-size: give the rewritten model a symbolic input height and width, and prove it runs at
// another size, or name what pins it.
//
// After the rewrite, a NIN head (Conv → GlobalAveragePool) no longer cares how large the map is;
// what may still pin the size is the backbone. A model that *claims* to accept any size must:
//   1. run at a second size (plan.ts) — only the rewritten model can, the original's input is
//      fixed — and
//   2. give outputs with the same names, dtypes and shapes there as at the trained size (class
//      scores [N, K] stay [N, K]; a Reshape that folds a bigger map into the batch would not).
// The size analysis (analysis.ts) names the pins statically; the run at the second size confirms
// them, and onnxruntime's error names the failing node where static inference could not.
//
// Declared shapes that would contradict the new dims are not kept: a declared dim of a value_info
// entry or graph output survives only when inference at the second size gives the same number (a
// dim_param is kept as is); any other dim becomes unknown. Unknown is always true; a stale 7 is not.

import { RuntimeError } from '../errors.js';
import type { ShapeInference } from '../graph/shapes.js';
import type { ModelFile } from '../onnx/model-io.js';
import type { ModelProto, TensorShapeProto_Dimension, ValueInfoProto } from '../onnx/schema.js';
import { printable, shapeText, sizeText } from '../text.js';
import type { ResolvedInput } from '../verify/inputs.js';
import { probeValues } from '../verify/probe.js';
import type { SizeAnalysis } from './analysis.js';
import type { SizePin } from './pin.js';
import { HEIGHT_PARAM, WIDTH_PARAM, type Size, type SizePlan } from './plan.js';

export interface DynamicModel {
  readonly model: ModelProto;
  /** The image inputs as written, e.g. [1, 3, 'height', 'width']. */
  readonly inputs: { name: string; dims: (number | string | null)[] }[];
  /** value_info entries and graph outputs whose declared dims depended on the size (now unknown). */
  readonly cleared: string[];
}

function dimsOf(v: ValueInfoProto): (number | string | null)[] {
  return (v.type?.tensor_type?.shape?.dim ?? []).map((d) => (d.dim_value !== undefined ? Number(d.dim_value) : d.dim_param || null));
}

function unknownDim(d: TensorShapeProto_Dimension): TensorShapeProto_Dimension {
  const { dim_value: _v, dim_param: _p, ...rest } = d;
  return rest;
}

/** Keeps a declared dim only when inference at the second size confirms it (see the top of the file). */
function confirmShape(v: ValueInfoProto, also: ShapeInference): { v: ValueInfoProto; changed: boolean } {
  const shape = v.type?.tensor_type?.shape;
  if (!shape || !v.name) return { v, changed: false };
  const inferred = also.shapes.get(v.name);
  let changed = false;
  const dim = shape.dim.map((d, i) => {
    if (d.dim_value === undefined) return d;
    if (inferred?.length === shape.dim.length && inferred[i] === Number(d.dim_value)) return d;
    changed = true;
    return unknownDim(d);
  });
  if (!changed) return { v, changed };
  return { v: { ...v, type: { ...v.type, tensor_type: { ...v.type!.tensor_type, shape: { ...shape, dim } } } }, changed };
}

/** The model with symbolic height and width on its image inputs and no declared dim that depends on them. */
export function makeSizeDynamic(model: ModelProto, plan: SizePlan, size: SizeAnalysis): DynamicModel {
  const g = model.graph!;
  const cleared: string[] = [];
  const written: DynamicModel['inputs'] = [];
  const input = g.input.map((v) => {
    const k = plan.images.findIndex((im) => im.name === v.name);
    const im = plan.images[k];
    const shape = v.type?.tensor_type?.shape;
    if (!im || !shape) return v;
    const suffix = k === 0 ? '' : `_${k}`;
    const dim = shape.dim.map((d, i) => {
      if (i !== im.hAxis && i !== im.wAxis) return d;
      if (d.dim_param) return d; // already symbolic: keep its name
      return { ...unknownDim(d), dim_param: `${i === im.hAxis ? HEIGHT_PARAM : WIDTH_PARAM}${suffix}` };
    });
    const out: ValueInfoProto = { ...v, type: { ...v.type, tensor_type: { ...v.type!.tensor_type, shape: { ...shape, dim } } } };
    written.push({ name: v.name ?? '', dims: dimsOf(out) });
    return out;
  });
  const confirm = (v: ValueInfoProto): ValueInfoProto => {
    const r = confirmShape(v, size.also);
    if (r.changed) cleared.push(v.name ?? '');
    return r.v;
  };
  const value_info = g.value_info.map(confirm);
  const output = g.output.map(confirm);
  return { model: { ...model, graph: { ...g, input, output, value_info } }, inputs: written, cleared };
}

/** An output as one run gave it. */
export interface RunOutput {
  readonly name: string;
  readonly dtype: string;
  readonly dims: readonly number[];
}

export interface SizeRun {
  /** Outputs at the trained and at the second size (undefined: the run failed). */
  readonly trained?: readonly RunOutput[];
  readonly also?: readonly RunOutput[];
  /** Why the check failed, in words (empty: passed). */
  readonly problems: string[];
  /** The failing node as onnxruntime names it. */
  readonly pin?: SizePin;
}

/** `…while running Reshape node. Name:'/stage2/stage2.0/Reshape' Status Message: …` → the node. */
export function nodeFromOrtError(message: string): { op: string; node: string; detail: string } | undefined {
  const m = /running (\S+) node\. Name:'([^']*)'(?:\s*Status Message:\s*(.*))?/s.exec(message);
  if (!m) return undefined;
  // Drop the source location and the failed check onnxruntime puts first ("/…/reshape_helper.h:91
  // onnxruntime::ReshapeHelper::ReshapeHelper(…) input_shape_size == requested_shape_size was false.").
  let detail = (m[3] ?? '').split('\n')[0]!.trim();
  const plain = /\bwas false\.\s*(.+)$/.exec(detail)?.[1] ?? detail.replace(/^\S+:\d+\s+\S+\(.*?\)\s*/, '');
  if (plain) detail = plain.trim();
  return { op: m[1]!, node: m[2]!, detail };
}

function fullMessage(e: unknown): string {
  const cause = e instanceof Error ? e.cause : undefined;
  const msg = cause instanceof Error ? cause.message : e instanceof Error ? e.message : String(e);
  return msg;
}

/** The pin onnxruntime names: the node of that name when there is exactly one. */
function ortPin(model: ModelProto, named: { op: string; node: string; detail: string }, also: Size): SizePin {
  const nodes = model.graph!.node.filter((n) => n.name === named.node);
  return {
    kind: named.op === 'Reshape' ? 'reshape' : 'other', node: nodes.length === 1 ? nodes[0]! : null, found: 'onnxruntime', fixedByRewrite: false,
    detail: `${named.op} '${printable(named.node)}' fails at ${sizeText(also)} (onnxruntime: ${named.detail || 'failed'})`,
  };
}

/**
 * Runs `model` (the dynamic candidate, a rewrite of `file`) at both sizes and compares the outputs'
 * names, dtypes and shapes. `spatialOutputs` (the --cam maps) may change their last dims with the
 * size; their other dims must stay.
 */
export async function runAtSizes(file: ModelFile, model: ModelProto, plan: SizePlan, opts: { seed?: number; spatialOutputs?: readonly string[] } = {}): Promise<SizeRun> {
  const names = model.graph!.output.map((o) => o.name ?? '').filter((n) => n !== '');
  const run = async (inputs: readonly ResolvedInput[]): Promise<RunOutput[]> => {
    const got = await probeValues(file, model, names, { inputs, seed: opts.seed ?? 0 });
    return names.map((name) => ({ name, dtype: got.get(name)!.dtype, dims: got.get(name)!.dims }));
  };
  let trained: RunOutput[];
  try {
    trained = await run(plan.inputs);
  } catch (e) {
    if (!(e instanceof RuntimeError)) throw e;
    return { problems: [`the rewritten model did not run at the trained size ${sizeText(plan.trained)} (${fullMessage(e).split('\n')[0]})`] };
  }
  let also: RunOutput[];
  try {
    also = await run(plan.alsoInputs);
  } catch (e) {
    if (!(e instanceof RuntimeError)) throw e;
    const msg = fullMessage(e);
    const named = nodeFromOrtError(msg);
    const problem = `onnxruntime failed${named ? ` in ${named.op} '${named.node}': ${named.detail}` : `: ${msg.split('\n')[0]}`}`;
    return {
      trained, problems: [problem],
      ...(named ? { pin: ortPin(model, named, plan.also) } : {}),
    };
  }
  const spatial = new Set(opts.spatialOutputs ?? []);
  const problems: string[] = [];
  for (const t of trained) {
    const b = also.find((o) => o.name === t.name)!;
    if (b.dtype !== t.dtype) problems.push(`output '${t.name}' is ${b.dtype} at ${sizeText(plan.also)} but ${t.dtype} at ${sizeText(plan.trained)}`);
    const keep = spatial.has(t.name) ? 2 : t.dims.length;
    const same = b.dims.length === t.dims.length && t.dims.slice(0, keep).every((d, i) => d === b.dims[i]);
    if (!same) problems.push(`output '${t.name}' is ${shapeText(b.dims)} at ${sizeText(plan.also)} but ${shapeText(t.dims)} at ${sizeText(plan.trained)}`);
  }
  return { trained, also, problems };
}

/** What --dynamic-size did, for the report. */
export interface SizeReport {
  /** The model was written (or would be) with symbolic height and width. */
  readonly dynamic: boolean;
  readonly trained: Size;
  readonly also: Size;
  /** The image inputs as written. */
  readonly inputs: { name: string; dims: (number | string | null)[] }[];
  /** Nodes that pin the size (empty when it is free). */
  readonly pins: SizePin[];
  readonly check:
    | { status: 'passed'; outputs: { name: string; dtype: string; trained: readonly number[]; also: readonly number[] }[] }
    | { status: 'failed'; problems: string[] }
    | { status: 'skipped'; reason: string };
  /** Declared shapes whose size-dependent dims were made unknown. */
  readonly cleared: string[];
  /** Why the written model keeps its fixed size (with --allow-fixed-size). */
  readonly note?: string;
}

/** One line naming the pin(s), for errors and the report. */
export function describePins(pins: readonly SizePin[], problems: readonly string[] = []): string {
  if (pins.length === 0) return problems[0] ?? 'the model does not run at another size';
  const [first, ...rest] = pins;
  return `the input size is pinned: ${first!.detail}${rest.length ? ` (and ${rest.length} more)` : ''}`;
}
