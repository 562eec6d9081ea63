// Learning the concrete shapes of intermediate values by running the model once, for when static
// shape inference can't tell (e.g. the spatial size reaching a classifier tail behind a Reshape).
//
// The named values are exposed as extra graph outputs (withOutputs).

import { RuntimeError } from '../errors.js';
import { withModelSource, type ModelFile } from '../onnx/model-io.js';
import type { ModelProto, ValueInfoProto } from '../onnx/schema.js';
import { NO_INPUT_SHAPES, type InputShapeSpec } from './input-shapes.js';
import { DEFAULT_SEED, makeSeededInputs, resolveInputs, type ResolvedInput } from './inputs.js';
import { keepOutputs, type TensorValue } from './compare.js';
import { runSession, withSession } from './ort.js';

export interface ProbeOptions {
  inputShapes?: InputShapeSpec;
  /** Already resolved inputs (then inputShapes is ignored). */
  inputs?: readonly ResolvedInput[];
  seed?: number;
}

export interface ProbedValue {
  readonly dims: number[];
  /** onnxruntime type name ('float32', 'int64', ...). */
  readonly dtype: string;
  /** The values, as onnxruntime returned them (a typed array). */
  readonly data: unknown;
}

/**
 * Runs `model` — `file`'s model, or a rewrite of it — once on seeded inputs with `valueNames`
 * exposed as outputs, and returns each one's concrete dims, dtype and values. The I/O layer makes the
 * runnable copy (withModelSource), so weights a lazy read skipped are there.
 */
export async function probeValues(
  file: ModelFile,
  model: ModelProto,
  valueNames: readonly string[],
  opts: ProbeOptions = {},
): Promise<Map<string, ProbedValue>> {
  const label = file.path;
  const graph = model.graph;
  if (!graph) throw new RuntimeError(`${label}: model has no graph`);
  const names = [...new Set(valueNames)];
  const result = new Map<string, ProbedValue>();
  if (names.length === 0) return result;

  const known = new Set<string>();
  for (const v of graph.input) if (v.name) known.add(v.name);
  for (const t of graph.initializer) if (t.name) known.add(t.name);
  for (const n of graph.node) for (const o of n.output) if (o) known.add(o);
  for (const name of names) {
    if (!known.has(name)) throw new RuntimeError(`${label}: no value named '${name}' to probe`);
  }

  const inputs = opts.inputs ?? resolveInputs(model, opts.inputShapes ?? NO_INPUT_SHAPES, { label });
  const out = await runModel(file, model, inputs, opts.seed ?? DEFAULT_SEED, names);
  for (const name of names) {
    const v = out.get(name);
    if (!v) throw new RuntimeError(`onnxruntime did not return '${name}' when probing ${label}`);
    result.set(name, { dims: [...v.dims], dtype: v.type, data: v.data });
  }
  return result;
}

/**
 * `model` with `names` exposed as graph outputs too. Their ValueInfoProto carries only a name:
 * onnxruntime (checked with 1.30) infers an untyped graph output's type from its producer, while a
 * guessed elem_type that is wrong (say float for a Shape's int64 output) makes it refuse the model.
 */
export function withOutputs(model: ModelProto, names: readonly string[]): ModelProto {
  const graph = model.graph!;
  const outputs = new Set(graph.output.map((o) => o.name ?? ''));
  const extra: ValueInfoProto[] = names.filter((n) => !outputs.has(n)).map((name) => ({ name, metadata_props: [] }));
  return extra.length === 0 ? model : { ...model, graph: { ...graph, output: [...graph.output, ...extra] } };
}

/**
 * Runs `model` — `file`'s model or a rewrite of it — once on seeded `inputs` and returns its
 * outputs, kept after the session is released. Given `fetches`, returns those values instead: they
 * need not be graph outputs (they are exposed as outputs, see withOutputs).
 */
export async function runModel(file: ModelFile, model: ModelProto, inputs: readonly ResolvedInput[], seed = DEFAULT_SEED, fetches?: readonly string[]): Promise<Map<string, TensorValue>> {
  const feeds = await makeSeededInputs(inputs, seed);
  const runnable = fetches ? withOutputs(model, fetches) : model;
  return withModelSource(file, runnable, (source) => withSession(source, async (s) => keepOutputs(await runSession(s, file.path, feeds, fetches))));
}
