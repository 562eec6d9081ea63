// --dynamic-size: give the rewritten model a symbolic input height and width, and prove it runs at
// another size, or name the node that pins it.
//
// After the rewrite, a NIN head (Conv → GlobalAveragePool) no longer cares how large the map is;
// what may still pin the size is the backbone. A model that *claims* to accept any size must:
//   1. run at a second size (default 1.5× the trained one) — only the rewritten model can, the
//      original's input is fixed — and
//   2. give outputs with the same names, dtypes and shapes there as at the trained size (class
//      scores [N, K] stay [N, K]; a Reshape that folds a bigger map into the batch would not).
// The pinning node is found statically first: shape inference (src/graph/shapes.ts) is run at both
// sizes on a copy of the graph without declared shapes, and a node it can resolve at the trained
// size but not at the second one (ShuffleNet's channel-shuffle Reshape with the constant target
// [1, 2, 24, 28, 28]; a Gemm still expecting C·7·7 features) is where the size is pinned. The run at
// the second size confirms it; onnxruntime's error names the failing node, which is taken from it.
//
// Declared shapes that would contradict the new dims are not kept: a declared dim of a value_info
// entry or graph output survives only when inference at the second size gives the same number (a
// dim_param is kept as is); any other dim becomes unknown. Unknown is always true; a stale 7 is not.

import { RuntimeError, UsageError } from '../errors.js';
import { GraphView } from '../graph/graph.js';
import { inferShapes, type Dim, type ShapeInference } from '../graph/shapes.js';
import type { ModelProto, TensorShapeProto_Dimension, ValueInfoProto } from '../onnx/schema.js';
import { declaredInputs, isChannelsLast, type ResolvedInput } from '../verify/inputs.js';
import { probeValues } from '../verify/probe.js';
import type { ModelSource } from '../verify/ort.js';

/** [height, width]. */
export type Size = readonly [number, number];

export const DEFAULT_SIZE_FACTOR = 1.5;

/** Names written for the symbolic dims of the (first) image input. */
export const HEIGHT_PARAM = 'height';
export const WIDTH_PARAM = 'width';

/** `320x320`, `320×240` or `320` (square) → [h, w]; anything else is a UsageError naming `flag`. */
export function parseSize(text: string, flag: string): Size {
  const m = /^\s*(\d+)\s*(?:[x×X,]\s*(\d+))?\s*$/.exec(text);
  const h = m ? Number(m[1]) : NaN;
  const w = m ? Number(m[2] ?? m[1]) : NaN;
  if (!Number.isSafeInteger(h) || !Number.isSafeInteger(w) || h < 1 || w < 1) {
    throw new UsageError(`${flag} '${text}': expected HxW with positive integers, e.g. 320x320`);
  }
  return [h, w];
}

export function formatSize(s: Size): string {
  return `${s[0]}×${s[1]}`;
}

/** One image input: which of its axes are height and width (NCHW unless it looks like NHWC). */
export interface ImageInput {
  readonly name: string;
  readonly hAxis: number;
  readonly wAxis: number;
}

/**
 * The fed inputs of rank 4, taken as images, in the layout isChannelsLast (src/verify/inputs.ts) says.
 */
export function imageInputs(model: ModelProto): ImageInput[] {
  return declaredInputs(model).flatMap((d): ImageInput[] => {
    if (d.dims?.length !== 4) return [];
    return [isChannelsLast(d.dims) ? { name: d.name, hAxis: 1, wAxis: 2 } : { name: d.name, hAxis: 2, wAxis: 3 }];
  });
}

/** What --dynamic-size works with: each fed input's shape at the trained size and at the second one. */
export interface SizePlan {
  readonly images: readonly ImageInput[];
  readonly trained: Size;
  readonly also: Size;
  /** Every fed input as verification feeds it (trained size). */
  readonly inputs: readonly ResolvedInput[];
  /** The same inputs at the second size. */
  readonly alsoInputs: readonly ResolvedInput[];
}

/** Plans the size check; UsageError when the model has no image input or its images differ in size. */
export function planSizes(model: ModelProto, inputs: readonly ResolvedInput[], also?: Size): SizePlan {
  const images = imageInputs(model);
  if (images.length === 0) {
    const list = inputs.map((i) => `'${i.name}' [${i.shape.join(', ')}]`).join(', ') || 'none';
    throw new UsageError(`--dynamic-size: the model has no image input of rank 4 (inputs: ${list})`);
  }
  const sizes = images.map((im): Size => {
    const r = inputs.find((i) => i.name === im.name)!;
    return [r.shape[im.hAxis]!, r.shape[im.wAxis]!];
  });
  const trained = sizes[0]!;
  if (sizes.some((s) => s[0] !== trained[0] || s[1] !== trained[1])) {
    throw new UsageError(`--dynamic-size: the image inputs have different sizes (${sizes.map(formatSize).join(', ')}); gapify scales them together`);
  }
  const second: Size = also ?? [Math.round(trained[0] * DEFAULT_SIZE_FACTOR), Math.round(trained[1] * DEFAULT_SIZE_FACTOR)];
  const alsoInputs = inputs.map((i) => {
    const im = images.find((x) => x.name === i.name);
    if (!im) return i;
    const shape = [...i.shape];
    shape[im.hAxis] = second[0];
    shape[im.wAxis] = second[1];
    return { ...i, shape };
  });
  return { images, trained, also: second, inputs, alsoInputs };
}

/** A node that fixes the input size. */
export interface SizePin {
  readonly node: string;
  readonly op: string;
  readonly reason: string;
  /** 'static': found by shape inference; 'onnxruntime': named by onnxruntime's error at the second size. */
  readonly found: 'static' | 'onnxruntime';
}

const label = (n: { name?: string; op_type?: string; output: readonly string[] }, i: number): string => n.name || n.output[0] || `#${i}`;

function withoutShape(v: ValueInfoProto): ValueInfoProto {
  const tt = v.type?.tensor_type;
  if (!tt?.shape) return v;
  const { shape: _dropped, ...rest } = tt;
  return { ...v, type: { ...v.type, tensor_type: rest } };
}

/** Shape inference on `model` with every declared shape but the inputs' forgotten, so nothing stale leaks in. */
function inferBare(model: ModelProto, opset: number, inputs: readonly ResolvedInput[]): { graph: GraphView; shapes: ShapeInference } {
  const g = model.graph!;
  const graph = new GraphView({ ...g, value_info: [], output: g.output.map(withoutShape) }, opset);
  const dims = new Map<string, Dim[]>(inputs.map((i) => [i.name, [...i.shape]]));
  return { graph, shapes: inferShapes(graph, dims) };
}

export interface SizeInference {
  readonly trained: ShapeInference;
  readonly also: ShapeInference;
  /** Nodes static inference resolves at the trained size but not at the second. */
  readonly pins: SizePin[];
}

const fmtDims = (s: readonly Dim[] | undefined): string => (s ? `[${s.map((d) => d ?? '?').join(', ')}]` : '[?]');

/** Static half of the check: where does shape inference at the second size break? */
export function inferAtSizes(model: ModelProto, opset: number, plan: SizePlan): SizeInference {
  const a = inferBare(model, opset, plan.inputs);
  const b = inferBare(model, opset, plan.alsoInputs);
  const failedAtTrained = new Set(a.shapes.unresolved.map((u) => u.node));
  const byLabel = new Map(a.graph.nodes.map((n, i) => [label(n, i), n]));
  const pins: SizePin[] = [];
  for (const u of b.shapes.unresolved) {
    if (failedAtTrained.has(u.node) || !u.node) continue;
    const node = byLabel.get(u.node);
    let reason = `${u.reason} at ${formatSize(plan.also)}`;
    if (node?.op_type === 'Reshape') {
      const target = a.shapes.values.get(node.input[1] ?? '');
      const x = a.shapes.shapes.get(node.input[0] ?? '');
      const spatial = x && x.length >= 3 ? x.slice(2) : [];
      if (target) {
        const holds = spatial.length > 0 && spatial.every((d) => typeof d === 'number' && target.includes(d));
        reason = holds
          ? `its constant target shape [${target.join(', ')}] holds the trained map size ${spatial.join('×')} (input ${fmtDims(x)} at ${formatSize(plan.trained)}): ${u.reason} at ${formatSize(plan.also)}`
          : `its constant target shape [${target.join(', ')}] was computed for ${formatSize(plan.trained)}: ${u.reason} at ${formatSize(plan.also)}`;
      }
    } else if (node && (node.op_type === 'Gemm' || node.op_type === 'MatMul')) {
      reason = `its weight expects the features of a ${formatSize(plan.trained)} input: ${u.reason} at ${formatSize(plan.also)}`;
    }
    pins.push({ node: u.node, op: u.op, reason, found: 'static' });
  }
  return { trained: a.shapes, also: b.shapes, pins };
}

/**
 * Reshapes with a constant target holding a -1, upstream of `output`, whose input changes with the
 * size: they fold the change into the dim the -1 stands for (the batch, say). The suspects when an
 * output's shape changes with the size although every node ran.
 */
export function foldingReshapes(model: ModelProto, opset: number, inf: SizeInference, output: string): SizePin[] {
  const graph = new GraphView(model.graph!, opset);
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
      const target = inf.trained.values.get(p.input[1] ?? '');
      const xa = inf.trained.shapes.get(p.input[0] ?? '');
      const xb = inf.also.shapes.get(p.input[0] ?? '');
      const same = target && inf.also.values.get(p.input[1] ?? '')?.join() === target.join();
      if (same && target.includes(-1) && fmtDims(xa) !== fmtDims(xb)) {
        const i = graph.nodes.indexOf(p);
        pins.push({ node: label(p, i), op: 'Reshape', reason: `its constant target shape [${target.join(', ')}] folds the larger map (${fmtDims(xb)} instead of ${fmtDims(xa)}) into the -1`, found: 'static' });
      }
    }
    for (const i of p.input) if (i) stack.push(i);
  }
  return pins;
}

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
export function makeSizeDynamic(model: ModelProto, plan: SizePlan, inf: SizeInference): DynamicModel {
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
    const r = confirmShape(v, inf.also);
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

/**
 * Runs `model` (the dynamic candidate) at both sizes and compares the outputs' names, dtypes and
 * shapes. `spatialOutputs` (the --cam maps) may change their last dims with the size; their other
 * dims must stay. `source` anchors external data (see probeValues).
 */
export async function runAtSizes(source: ModelSource, model: ModelProto, plan: SizePlan, opts: { seed?: number; spatialOutputs?: readonly string[] } = {}): Promise<SizeRun> {
  const names = model.graph!.output.map((o) => o.name ?? '').filter((n) => n !== '');
  const run = async (inputs: readonly ResolvedInput[]): Promise<RunOutput[]> => {
    const got = await probeValues(source, model, names, { inputs, seed: opts.seed ?? 0 });
    return names.map((name) => ({ name, dtype: got.get(name)!.dtype, dims: got.get(name)!.dims }));
  };
  let trained: RunOutput[];
  try {
    trained = await run(plan.inputs);
  } catch (e) {
    if (!(e instanceof RuntimeError)) throw e;
    return { problems: [`the rewritten model did not run at the trained size ${formatSize(plan.trained)} (${fullMessage(e).split('\n')[0]})`] };
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
      ...(named ? { pin: { node: named.node, op: named.op, reason: `onnxruntime: ${named.detail || 'failed'} at ${formatSize(plan.also)}`, found: 'onnxruntime' as const } } : {}),
    };
  }
  const spatial = new Set(opts.spatialOutputs ?? []);
  const problems: string[] = [];
  for (const t of trained) {
    const b = also.find((o) => o.name === t.name)!;
    if (b.dtype !== t.dtype) problems.push(`output '${t.name}' is ${b.dtype} at ${formatSize(plan.also)} but ${t.dtype} at ${formatSize(plan.trained)}`);
    const keep = spatial.has(t.name) ? 2 : t.dims.length;
    const same = b.dims.length === t.dims.length && t.dims.slice(0, keep).every((d, i) => d === b.dims[i]);
    if (!same) problems.push(`output '${t.name}' is [${b.dims.join(', ')}] at ${formatSize(plan.also)} but [${t.dims.join(', ')}] at ${formatSize(plan.trained)}`);
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
  return `${first!.op} '${first!.node}' pins the input size — ${first!.reason}${rest.length ? ` (and ${rest.length} more node${rest.length === 1 ? '' : 's'})` : ''}`;
}
