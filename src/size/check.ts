// The freed model, run with onnxruntime at the check points (plan.ts checkPoints) and compared
// value for value with its reference there (dynamic.ts referenceModel). The reference is built
// from the original model where that runs at the point; where the original's own tail fits the
// trained size only (a spatial tail, a pool as big as the map), from its verified rewrite.

import { RuntimeError } from '../errors.js';
import { inferShapes, type ShapeInference } from '../graph/shapes.js';
import type { ModelFile } from '../onnx/model-io.js';
import type { ModelProto, NodeProto } from '../onnx/schema.js';
import { nodeLabel, printable, shapeText } from '../text.js';
import { compareTensors, tolerancesFor, type TensorValue } from '../verify/compare.js';
import { runModel, withOutputs } from '../verify/probe.js';
import { bareGraph, pointDims, type SizeAnalysis } from './analysis.js';
import { referenceModel } from './dynamic.js';
import type { SizePin } from './pin.js';
import { pointText, type Size, type SizePoint } from './plan.js';

/** One output of the freed model at a check point, against the reference's. */
export interface CheckedOutput {
  readonly name: string;
  readonly dims: readonly number[];
  readonly maxAbsError: number | null;
  readonly maxRelError: number | null;
  readonly ok: boolean;
}

export interface SizeCheck {
  readonly size: Size;
  readonly batch: number;
  /** What the freed model was compared with (see the top of the file); none when it could not be run. */
  readonly reference: 'original' | 'rewritten' | 'none';
  /** The graph outputs. */
  readonly outputs: readonly CheckedOutput[];
  /**
   * The freed Reshapes' outputs, compared too: what the freeing changes, seen where it happens —
   * a classifier's scores may hardly depend on its input (random weights) and hide a wrong target.
   */
  readonly reshapes: { readonly count: number; readonly of: number; readonly maxAbsError: number | null; readonly ok: boolean };
  /** Why the check failed, in words (empty: passed). */
  readonly problems: readonly string[];
}

export interface SizeChecks {
  readonly checks: readonly SizeCheck[];
  /** Problems not tied to one point (the freed model did not run at the trained size). */
  readonly problems: readonly string[];
  /** The node onnxruntime named when the freed model failed somewhere. */
  readonly pin?: SizePin;
}

export interface CheckOptions {
  seed: number;
  atol?: number;
  rtol?: number;
  /** Outputs whose last two dims follow the input (the --cam maps). */
  spatialOutputs?: readonly string[];
  log?: (line: string) => void;
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

/** The whole message onnxruntime gave (RuntimeError keeps it as its cause). */
function ortMessage(e: RuntimeError): string {
  return e.cause instanceof Error ? e.cause.message : e.message;
}

/** The pin onnxruntime names: the node of that name when there is exactly one. */
function ortPin(model: ModelProto, named: { op: string; node: string; detail: string }, where: string): SizePin {
  const nodes = model.graph!.node.filter((n) => n.name === named.node);
  return {
    kind: named.op === 'Reshape' ? 'reshape' : 'other', node: nodes.length === 1 ? nodes[0]! : null, found: 'onnxruntime', fixedByRewrite: false,
    detail: `${named.op} '${printable(named.node)}' fails at ${where} (onnxruntime: ${named.detail || 'failed'})`,
  };
}

/** Elements of freed Reshape outputs kept from one run (×4 bytes, ×2 models): enough for a backbone's shuffles at twice the size. */
const MAX_COMPARED_ELEMENTS = 2 ** 25;

/** The freed Reshape outputs to compare at a point: those that fit MAX_COMPARED_ELEMENTS together, in graph order. */
function withinBudget(values: readonly string[], shapes: ShapeInference): string[] {
  const kept: string[] = [];
  let total = 0;
  for (const v of values) {
    const n = (shapes.shapes.get(v) ?? []).reduce<number>((a, d) => a * (typeof d === 'number' ? d : Infinity), 1);
    if (total + n > MAX_COMPARED_ELEMENTS) continue;
    total += n;
    kept.push(v);
  }
  return kept;
}

/** Nodes that fail in `at` but not in `before`. */
function newFailures(at: ShapeInference, before: ShapeInference): { node: NodeProto; reason: string }[] {
  const failed = new Set(before.unresolved.map((u) => u.node));
  return at.unresolved.flatMap((u) => (u.node && !failed.has(u.node) ? [{ node: u.node, reason: u.reason }] : []));
}

/** Why static inference says the freed model can't run at `point` (undefined: it can, as far as it knows). */
export function staticFailure(size: SizeAnalysis, point: SizePoint): string | undefined {
  const f = newFailures(inferShapes(size.graph, pointDims(point)), size.trained)[0];
  return f && `${f.node.op_type} '${nodeLabel(f.node)}' fails there (${f.reason})`;
}

/**
 * Runs the freed model `dynamic` at the trained point (for its output dims) and at each of
 * `points` with its reference (see the top of the file). `rewritten`: the verified rewrite
 * `dynamic` was made from; `file`: the original.
 */
export async function checkSizes(file: ModelFile, rewritten: ModelProto, dynamic: ModelProto, size: SizeAnalysis, points: readonly SizePoint[], opts: CheckOptions): Promise<SizeChecks> {
  const trainedBatch = size.plan.trained.batch;
  const where = (p: SizePoint): string => pointText(p, trainedBatch);
  const run = (model: ModelProto, p: SizePoint): Promise<Map<string, TensorValue>> => runModel(file, model, p.inputs, opts.seed);
  let atTrained: Map<string, TensorValue>;
  try {
    atTrained = await run(dynamic, size.plan.trained);
  } catch (e) {
    if (!(e instanceof RuntimeError)) throw e;
    return { checks: [], problems: [`the freed model did not run at the trained size ${where(size.plan.trained)} (${ortMessage(e).split('\n')[0]})`] };
  }
  const original = inferShapes(bareGraph(file.model, file.opset), pointDims(size.plan.trained));
  const spatial = new Set(opts.spatialOutputs ?? []);
  const outputNames = [...atTrained.keys()];
  const freedBy = new Map(size.frees.map((f) => [f.node.output[0]!, f.node]));
  const freedValues = [...freedBy.keys()].filter((v) => !atTrained.has(v));
  const checks: SizeCheck[] = [];
  let pin: SizePin | undefined;

  for (const p of points) {
    const problems: string[] = [];
    const record = (reference: SizeCheck['reference'], outputs: CheckedOutput[] = [], reshapes = { count: 0, of: freedValues.length, maxAbsError: null as number | null, ok: false }): void => {
      checks.push({ size: p.size, batch: p.batch, reference, outputs, reshapes, problems });
    };
    // onnxruntime is the judge of whether the freed model runs; the reference needs its shapes.
    const freed = inferShapes(size.graph, pointDims(p));
    const compared = withinBudget(freedValues, freed);
    opts.log?.(`running the freed model at ${where(p)}`);
    let got: Map<string, TensorValue>;
    try {
      got = await run(withOutputs(dynamic, compared), p);
    } catch (e) {
      if (!(e instanceof RuntimeError)) throw e;
      const message = ortMessage(e);
      const named = nodeFromOrtError(message);
      problems.push(named ? `onnxruntime failed in ${named.op} '${printable(named.node)}': ${named.detail}` : `onnxruntime failed: ${message.split('\n')[0]}`);
      if (named && !pin) pin = ortPin(dynamic, named, where(p));
      record('none');
      continue;
    }
    // Dims follow the size where they should (the batch, the class maps) and nowhere else.
    for (const name of outputNames) {
      const have = got.get(name)!;
      const t = atTrained.get(name)?.dims;
      if (!t) continue;
      const ok = have.dims.length === t.length && t.every((d, i) => {
        const b = have.dims[i];
        if (b === d) return true;
        if (i === 0 && d === trainedBatch && b === p.batch) return true;
        return spatial.has(name) && i >= t.length - 2;
      });
      if (!ok) problems.push(`output '${name}' is ${shapeText(have.dims)} here but ${shapeText(t)} at ${where(size.plan.trained)}`);
    }
    // The reference: the original where it runs at this point, else the rewrite (its tail was the only difference).
    const fromOriginal = referenceModel(file.model, size, p, freed);
    const originalRuns = !!fromOriginal && newFailures(inferShapes(bareGraph(fromOriginal, file.opset), pointDims(p)), original).length === 0;
    const reference = originalRuns ? fromOriginal : referenceModel(rewritten, size, p, freed);
    const basis = originalRuns ? 'original' : 'rewritten';
    if (!reference) {
      problems.push("no reference: static inference does not know a freed Reshape's input here");
      record('none');
      continue;
    }
    opts.log?.(`running its reference at ${where(p)}: the ${basis} model with its Reshape targets set for that size`);
    const produced = new Set(reference.graph!.node.flatMap((n) => n.output));
    let expected: Map<string, TensorValue>;
    try {
      expected = await run(withOutputs(reference, compared.filter((v) => produced.has(v))), p);
    } catch (e) {
      if (!(e instanceof RuntimeError)) throw e;
      problems.push(`the reference did not run (${ortMessage(e).split('\n')[0]})`);
      record('none');
      continue;
    }
    const tolerances = tolerancesFor([...expected.values()].map((v) => v.type), opts);
    const outputs: CheckedOutput[] = [];
    const reshapes = { count: 0, of: freedValues.length, maxAbsError: 0 as number | null, ok: true };
    for (const [name, want] of expected) {
      const have = got.get(name);
      if (!have) {
        problems.push(`output '${name}' of the reference is missing from the freed model`);
        continue;
      }
      const c = compareTensors(name, want, have, tolerances);
      if (freedValues.includes(name)) {
        reshapes.count++;
        reshapes.maxAbsError = c.maxAbsError === null || reshapes.maxAbsError === null ? null : Math.max(reshapes.maxAbsError, c.maxAbsError);
        reshapes.ok &&= c.ok;
        if (!c.ok) problems.push(`the output of Reshape '${nodeLabel(freedBy.get(name)!)}' differs from the reference's: ${c.reason ?? 'values differ'}`);
        continue;
      }
      outputs.push({ name, dims: [...have.dims], maxAbsError: c.maxAbsError, maxRelError: c.maxRelError, ok: c.ok });
      if (!c.ok) problems.push(`output '${name}' differs from the reference: ${c.reason ?? 'values differ'}`);
    }
    record(basis, outputs, reshapes);
  }
  return { checks, problems: [], ...(pin ? { pin } : {}) };
}
