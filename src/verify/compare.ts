// Runs two models on the same seeded inputs and compares their outputs by name.
//
// One session at a time: model A is loaded, run, its outputs kept and its session released before
// model B is loaded, so peak memory is one model, not two.
//
// Outputs are matched by NAME (their order may differ); dtypes and shapes must be equal. Values
// compare like numpy.allclose(a, b, rtol, atol): element-wise |a - b| <= atol + rtol * |b| (b, model
// B's value, is the scale, as numpy's second argument), and NaN in the same place on both sides is
// equal. Integer, bool and string outputs must be exactly equal (a tolerance means nothing there).
//
// Reported errors, per output:
//   maxAbsError = max |a - b| over the elements;
//   maxRelError = maxAbsError / max(max |a|, tiny), i.e. relative to the OUTPUT's scale (its largest
//                 magnitude in model A), not element by element — element-wise relative errors blow
//                 up on the near-zero logits every classifier has, and say nothing useful there.

import { RuntimeError } from '../errors.js';
import { dtypeName, halfToFloat } from '../onnx/tensor.js';
import { parseModel, readModelLazy } from '../onnx/model-io.js';
import type { ModelProto } from '../onnx/schema.js';
import { NO_INPUT_SHAPES, type InputShapeSpec } from './input-shapes.js';
import { dimsText, numberText } from '../text.js';
import { declaredInputs, DEFAULT_SEED, inputNotes, makeSeededInputs, ortDType, resolveInputs, type ResolvedInput } from './inputs.js';
import type { InferenceSession } from 'onnxruntime-node';
import { runSession, sourceLabel, withSession, type ModelSource } from './ort.js';

export interface Tolerances {
  readonly atol: number;
  readonly rtol: number;
}

/**
 * For float32/float64 outputs. A gapify rewrite changes the order of summation (e.g. average then
 * dot product instead of dot product then average, or a folded BatchNorm); in float32 that moves
 * logits of magnitude ~1-10 by ~1e-6..1e-5. 1e-4 absolute + 1e-3 relative leaves an order of
 * magnitude of margin for that, while a real bug (wrong weight layout, lost bias, wrong spatial
 * size) moves outputs by O(0.1-1) and is caught.
 */
export const DEFAULT_TOLERANCES: Tolerances = Object.freeze({ atol: 1e-4, rtol: 1e-3 });

/**
 * When any compared output is float16 (or bfloat16). Half precision has a unit roundoff of ~5e-4
 * (bfloat16 ~4e-3), and every op rounds its result, so a reordered reduction over thousands of
 * channels moves values by ~1e-3..1e-2 of their scale: float32's tolerances would fail correct
 * rewrites. 1e-2 (absolute and relative) still catches real bugs.
 */
export const HALF_TOLERANCES: Tolerances = Object.freeze({ atol: 1e-2, rtol: 1e-2 });

/** The smallest normal float32 (numpy's finfo(float32).tiny): the scale floor for maxRelError. */
export const TINY = 1.1754943508222875e-38;

export interface CompareOptions {
  /** Parsed --input-shape specs (resolved against model A). */
  inputShapes?: InputShapeSpec;
  /** Already resolved inputs (then inputShapes is ignored). */
  inputs?: readonly ResolvedInput[];
  seed?: number;
  /** Each overrides the default for the outputs' dtype (DEFAULT_TOLERANCES or HALF_TOLERANCES). */
  atol?: number;
  rtol?: number;
  /**
   * Outputs model B may have that model A lacks, on purpose (gapify --cam adds `<output>_cam`):
   * listed in `allowedExtra`, not compared, and not a failure. Any other extra output still is.
   */
  allowExtra?: readonly string[];
  /**
   * Model B is a candidate (gapify's rewrite): that onnxruntime can't load or run it is a failed
   * comparison (`unrunnable`), not an error about the input.
   */
  candidate?: boolean;
}

export interface OutputComparison {
  readonly name: string;
  /** onnxruntime type names ('float32', ...). */
  readonly dtypeA: string;
  readonly dtypeB: string;
  readonly shapeA: readonly number[];
  readonly shapeB: readonly number[];
  /** max |a - b|; null when dtypes or shapes differ (values not compared) or for string outputs. */
  readonly maxAbsError: number | null;
  /** maxAbsError / max(max |a|, TINY); null like maxAbsError. */
  readonly maxRelError: number | null;
  /** Elements outside the tolerance (NaN mismatches included). */
  readonly mismatched: number;
  /** Some element is NaN on one side only. */
  readonly nanMismatch: boolean;
  readonly ok: boolean;
  /** Why not ok, in words (absent when ok). */
  readonly reason?: string;
}

export interface Comparison {
  /** Labels (paths) of the two models. */
  readonly a: string;
  readonly b: string;
  readonly inputs: readonly ResolvedInput[];
  /** Which input dims were defaulted (one line per input that had any). */
  readonly notes: readonly string[];
  readonly seed: number;
  /** Ways model B's inputs differ from model A's; when non-empty, B was not run. */
  readonly inputMismatches: readonly string[];
  /** Why onnxruntime could not load or run model B (a candidate, CompareOptions.candidate); B's outputs are then missing. */
  readonly unrunnable?: string;
  /** Outputs both models have, in model A's order. */
  readonly outputs: readonly OutputComparison[];
  /** Outputs of A that B lacks. */
  readonly missing: readonly string[];
  /** Outputs of B that A lacks (and that were not allowed). */
  readonly extra: readonly string[];
  /** Outputs of B that A lacks and that CompareOptions.allowExtra allowed (not compared). */
  readonly allowedExtra?: readonly string[];
  readonly tolerances: Tolerances & { readonly source: 'default' | 'half-default' | 'user' };
  /** Same inputs, same output names, and every output ok. */
  readonly ok: boolean;
}

/** An output as kept after its session is gone. */
export interface TensorValue {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}

function modelOf(source: ModelSource): ModelProto {
  if (source.model) return source.model;
  // Only the inputs are needed: the structure, not the weights.
  return 'path' in source ? readModelLazy(source.path, { keepOpen: false }).model : parseModel(source.label, source.bytes).model;
}

/** Runs `a` and `b` on the same seeded inputs (one session at a time) and compares their outputs by name. */
export async function compareModels(a: ModelSource, b: ModelSource, opts: CompareOptions = {}): Promise<Comparison> {
  const labelA = sourceLabel(a);
  const labelB = sourceLabel(b);
  const seed = opts.seed ?? DEFAULT_SEED;
  // Decoded only to resolve the inputs, then dropped (its bytes are not kept while ORT holds the model).
  const inputs = opts.inputs ?? resolveInputs(modelOf(a), opts.inputShapes ?? NO_INPUT_SHAPES, { label: labelA });
  const feeds = await makeSeededInputs(inputs, seed);

  const runA = await withSession(a, async (s) => {
    const out = await runSession(s, labelA, feeds);
    return { names: [...s.outputNames], values: keepOutputs(out) };
  });
  const partial = { a: labelA, b: labelB, inputs, notes: inputNotes(inputs), seed };

  let inputMismatches: string[] = [];
  let runB: { names: string[]; values: Map<string, TensorValue> } | undefined;
  try {
    runB = await withSession(b, async (s) => {
      inputMismatches = b.model ? checkInputs(inputs, declaredFromProto(b.model)) : checkInputs(inputs, declaredFromOrt(s));
      if (inputMismatches.length > 0) return undefined;
      const out = await runSession(s, labelB, feeds);
      return { names: [...s.outputNames], values: keepOutputs(out) };
    });
  } catch (e) {
    if (!opts.candidate || !(e instanceof RuntimeError)) throw e;
    const tol = tolerancesFor([], opts);
    return { ...partial, inputMismatches, unrunnable: e.message, outputs: [], missing: [], extra: [], tolerances: tol, ok: false };
  }
  if (!runB) {
    const tol = tolerancesFor([], opts);
    return { ...partial, inputMismatches, outputs: [], missing: [], extra: [], tolerances: tol, ok: false };
  }

  const namesB = new Set(runB.names);
  const namesA = new Set(runA.names);
  const common = runA.names.filter((n) => namesB.has(n));
  const missing = runA.names.filter((n) => !namesB.has(n));
  const allowed = new Set(opts.allowExtra ?? []);
  const extra = runB.names.filter((n) => !namesA.has(n) && !allowed.has(n));
  const allowedExtra = runB.names.filter((n) => !namesA.has(n) && allowed.has(n));
  const dtypes = common.flatMap((n) => [runA.values.get(n)?.type, runB.values.get(n)?.type]);
  const tolerances = tolerancesFor(dtypes, opts);
  const outputs = common.map((name) => compareTensors(name, runA.values.get(name)!, runB.values.get(name)!, tolerances));
  const ok = missing.length === 0 && extra.length === 0 && outputs.every((o) => o.ok);
  return { ...partial, inputMismatches, outputs, missing, extra, ...(allowedExtra.length ? { allowedExtra } : {}), tolerances, ok };
}

/** Outputs as plain values that outlive their session. */
export function keepOutputs(out: InferenceSession.ReturnType): Map<string, TensorValue> {
  const m = new Map<string, TensorValue>();
  for (const [name, v] of Object.entries(out)) m.set(name, { type: v.type, dims: [...v.dims], data: v.data });
  return m;
}

/** The tolerances to use for outputs of these dtypes: user values override the dtype's defaults. */
export function tolerancesFor(dtypes: readonly (string | undefined)[], opts: { atol?: number; rtol?: number }): Comparison['tolerances'] {
  const half = dtypes.some((t) => t === 'float16' || t === 'bfloat16');
  const base = half ? HALF_TOLERANCES : DEFAULT_TOLERANCES;
  const user = opts.atol !== undefined || opts.rtol !== undefined;
  return { atol: opts.atol ?? base.atol, rtol: opts.rtol ?? base.rtol, source: user ? 'user' : half ? 'half-default' : 'default' };
}

// --- inputs of model B -----------------------------------------------------------------------------

interface InputDecl {
  name: string;
  dtype: string | undefined;
  /** Fixed size, symbol, or null (unknown); undefined: unknown rank. */
  dims: (number | string | null)[] | undefined;
}

function declaredFromProto(model: ModelProto): InputDecl[] {
  return declaredInputs(model).map((d) => ({
    name: d.name,
    dtype: d.elemType === undefined ? undefined : (ortDType(d.elemType) ?? dtypeName(d.elemType)),
    dims: d.dims?.map((x) => x.value ?? x.param ?? null),
  }));
}

function declaredFromOrt(session: InferenceSession): InputDecl[] {
  return session.inputMetadata.map((m) => {
    if (!m.isTensor) return { name: m.name, dtype: 'non-tensor', dims: undefined };
    // onnxruntime reports an unknown rank as [] (like a scalar): don't check the rank then.
    const dims = m.shape.length === 0 ? undefined : m.shape.map((d) => (typeof d === 'number' ? d : d === '' ? null : d));
    return { name: m.name, dtype: m.type, dims };
  });
}

function checkInputs(inputs: readonly ResolvedInput[], declB: readonly InputDecl[]): string[] {
  const problems: string[] = [];
  const byName = new Map(declB.map((d) => [d.name, d]));
  const fed = new Set(inputs.map((i) => i.name));
  for (const input of inputs) {
    const d = byName.get(input.name);
    if (!d) {
      problems.push(`input '${input.name}' of A is not an input of B`);
      continue;
    }
    if (d.dtype !== input.dtype) {
      problems.push(`input '${input.name}' is ${input.dtype} in A but ${d.dtype ?? 'untyped'} in B`);
      continue;
    }
    if (d.dims === undefined) continue;
    if (d.dims.length !== input.shape.length) {
      problems.push(`input '${input.name}' has rank ${input.shape.length} in A but ${d.dims.length} in B`);
      continue;
    }
    d.dims.forEach((v, i) => {
      if (typeof v === 'number' && v !== input.shape[i]) {
        problems.push(`input '${input.name}': B fixes dim ${i} at ${v}, but it is fed as ${input.shape[i]} (shape ${dimsText(input.shape)})`);
      }
    });
  }
  for (const d of declB) if (!fed.has(d.name)) problems.push(`input '${d.name}' of B is not an input of A`);
  return problems;
}

// --- element-wise comparison -------------------------------------------------------------------------

const FLOAT_TYPES = new Set(['float32', 'float64', 'float16', 'bfloat16']);

let halfTable: Float32Array | undefined;
function halfLookup(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) halfTable[i] = halfToFloat(i);
  }
  return halfTable;
}

/** An element accessor returning numbers (float16 bit patterns decoded, int64 as Number). */
function numeric(v: TensorValue): (i: number) => number {
  const data = v.data as ArrayLike<number | bigint>;
  if (v.type === 'float16' && data instanceof Uint16Array) {
    const t = halfLookup();
    return (i) => t[data[i]!]!;
  }
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return (i) => Number(data[i]!);
  return (i) => data[i] as number;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Compares one output of A with the same-named output of B. */
export function compareTensors(name: string, a: TensorValue, b: TensorValue, tol: Tolerances): OutputComparison {
  const head = { name, dtypeA: a.type, dtypeB: b.type, shapeA: [...a.dims], shapeB: [...b.dims] };
  const skipped = { maxAbsError: null, maxRelError: null, mismatched: 0, nanMismatch: false, ok: false };
  if (a.type !== b.type) return { ...head, ...skipped, reason: `dtype ${a.type} vs ${b.type}` };
  if (!sameShape(a.dims, b.dims)) return { ...head, ...skipped, reason: `shape ${dimsText(a.dims)} vs ${dimsText(b.dims)}` };

  const da = a.data as ArrayLike<unknown>;
  const db = b.data as ArrayLike<unknown>;
  const n = da.length;
  if (db.length !== n) return { ...head, ...skipped, reason: `${n} vs ${db.length} elements` };

  if (a.type === 'string' || !(ArrayBuffer.isView(da) && ArrayBuffer.isView(db))) {
    let mismatched = 0;
    for (let i = 0; i < n; i++) if (da[i] !== db[i]) mismatched++;
    const ok = mismatched === 0;
    return { ...head, maxAbsError: null, maxRelError: null, mismatched, nanMismatch: false, ok, ...(ok ? {} : { reason: `${mismatched} of ${n} elements differ` }) };
  }

  const exact = !FLOAT_TYPES.has(a.type);
  const ga = numeric(a);
  const gb = numeric(b);
  const bigA = da instanceof BigInt64Array || da instanceof BigUint64Array;
  let maxAbs = 0;
  let scale = 0;
  let mismatched = 0;
  let nanMismatch = false;
  for (let i = 0; i < n; i++) {
    const x = ga(i);
    const y = gb(i);
    if (Number.isFinite(x)) scale = Math.max(scale, Math.abs(x));
    if (Number.isNaN(x) || Number.isNaN(y)) {
      if (!(Number.isNaN(x) && Number.isNaN(y))) {
        nanMismatch = true;
        mismatched++;
      }
      continue;
    }
    if (bigA ? da[i] === db[i] : x === y) continue; // x === y: also equal infinities
    const d = Math.abs(x - y); // Infinity for an infinity against anything else
    if (d > maxAbs) maxAbs = d;
    if (exact || !(d <= tol.atol + tol.rtol * Math.abs(y))) mismatched++;
  }
  const maxRel = maxAbs / Math.max(scale, TINY);
  const ok = mismatched === 0;
  let reason: string | undefined;
  if (!ok) {
    const parts = [`${mismatched} of ${n} elements differ`];
    if (nanMismatch) parts.push('NaN on one side only');
    if (maxAbs > 0) parts.push(`max abs error ${numberText(maxAbs)}`, `max rel error ${numberText(maxRel)}`);
    reason = exact ? parts.join(', ') : `${parts.join(', ')} (atol ${tol.atol}, rtol ${tol.rtol})`;
  }
  return { ...head, maxAbsError: maxAbs, maxRelError: maxRel, mismatched, nanMismatch, ok, ...(reason === undefined ? {} : { reason }) };
}

/** One line per reason `c` is not ok (empty when it is). */
export function comparisonFailures(c: Comparison): string[] {
  const lines = [...(c.unrunnable ? [c.unrunnable] : []), ...c.inputMismatches];
  for (const name of c.missing) lines.push(`output '${name}' of ${c.a} is missing from ${c.b}`);
  for (const name of c.extra) lines.push(`output '${name}' of ${c.b} is not an output of ${c.a}`);
  for (const o of c.outputs) if (!o.ok) lines.push(`output '${o.name}': ${o.reason ?? 'differs'}`);
  return lines;
}
