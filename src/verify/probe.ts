// Learning the concrete shapes of intermediate values by running the model once, for when static
// shape inference can't tell (e.g. the spatial size reaching a classifier tail behind a Reshape).
//
// The named values are exposed as extra graph outputs. Their ValueInfoProto carries only a name:
// onnxruntime (checked with 1.30) infers an untyped graph output's type from its producer, while a
// guessed elem_type that is wrong (say float for a Shape's int64 output) makes it refuse the model.

import { randomBytes } from 'node:crypto';
import { unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { RuntimeError } from '../errors.js';
import { encode } from '../onnx/codec.js';
import { isExternal } from '../onnx/external-data.js';
import type { ModelProto, ValueInfoProto } from '../onnx/schema.js';
import { NO_INPUT_SHAPES, type InputShapeSpec } from './input-shapes.js';
import { DEFAULT_SEED, makeSeededInputs, resolveInputs, type ResolvedInput } from './inputs.js';
import { runSession, sourceLabel, withSession, type ModelSource } from './ort.js';

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
}

/**
 * Runs `model` (the decoded form of `source`) once on seeded inputs with `valueNames` exposed as
 * outputs, and returns each one's concrete dims and dtype. `source` names the model in messages and,
 * for a file whose weights are external data, says where that data is.
 */
export async function probeValues(
  source: ModelSource,
  model: ModelProto,
  valueNames: readonly string[],
  opts: ProbeOptions = {},
): Promise<Map<string, ProbedValue>> {
  const label = sourceLabel(source);
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

  const outputs = new Set(graph.output.map((o) => o.name ?? ''));
  const extra: ValueInfoProto[] = names.filter((n) => !outputs.has(n)).map((name) => ({ name, metadata_props: [] }));
  const probeModel: ModelProto = extra.length === 0 ? model : { ...model, graph: { ...graph, output: [...graph.output, ...extra] } };
  const inputs = opts.inputs ?? resolveInputs(model, opts.inputShapes ?? NO_INPUT_SHAPES, { label });
  const feeds = await makeSeededInputs(inputs, opts.seed ?? DEFAULT_SEED);

  const bytes = encode('onnx.ModelProto', probeModel);
  // External data is found relative to the model file: a model that has some must be loaded from a
  // file in the same folder (a hidden temp file, deleted as soon as onnxruntime has read it... or on
  // the way out).
  let temp: string | undefined;
  let probeSource: ModelSource = { bytes, label };
  if ('path' in source && graph.initializer.some(isExternal)) {
    temp = join(dirname(source.path), `.${basename(source.path)}.probe.${process.pid}.${randomBytes(4).toString('hex')}.onnx`);
    try {
      writeFileSync(temp, bytes, { flag: 'wx' });
    } catch (e) {
      throw new RuntimeError(`${label}: cannot write a temporary probe model next to it (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    probeSource = { path: temp };
  }
  try {
    return await withSession(probeSource, async (s) => {
      const out = await runSession(s, label, feeds, names);
      for (const name of names) {
        const v = out[name];
        if (!v) throw new RuntimeError(`onnxruntime did not return '${name}' when probing ${label}`);
        result.set(name, { dims: [...v.dims], dtype: v.type });
      }
      return result;
    });
  } catch (e) {
    // Errors name the temp file; name the user's model instead.
    if (temp !== undefined && e instanceof RuntimeError) throw new RuntimeError(e.message.split(temp).join(label), { cause: e });
    throw e;
  } finally {
    if (temp !== undefined) {
      try { unlinkSync(temp); } catch { /* already gone */ }
    }
  }
}
