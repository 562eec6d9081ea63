// The size module: what pins a model's input size and which Reshapes can be freed (analysis.ts,
// unpin.ts), the points compared (plan.ts, stride.ts), and the --dynamic-size / --dynamic-batch
// step of the pipeline (dynamic.ts frees the model, check.ts checks it against its references).

import { UsageError } from '../errors.js';
import type { ModelFile } from '../onnx/model-io.js';
import type { ModelProto } from '../onnx/schema.js';
import { findingsOf } from '../rewrite/index.js';
import { sizeText } from '../text.js';
import type { ResolvedInput } from '../verify/inputs.js';
import { analyzeSize, remainingPins, tailPins, type SizeAnalysis } from './analysis.js';
import { checkSizes, staticFailure, type SizeCheck } from './check.js';
import { declaredImages, makeSizeDynamic, type DynamicModel } from './dynamic.js';
import type { SizePin } from './pin.js';
import { checkPoints, planSizes, pointAt, pointText, type Freedom, type Size, type SizePlan } from './plan.js';
import type { ReshapeFree } from './unpin.js';

export * from './analysis.js';
export * from './check.js';
export * from './dynamic.js';
export * from './pin.js';
export * from './plan.js';
export * from './unpin.js';

/** The size analysis of a rewritten model (no graph-input pins: --dynamic-size frees the inputs). */
export function analyzeRewritten(model: ModelProto, opset: number, plan: SizePlan): SizeAnalysis {
  return analyzeSize(model, opset, plan, tailPins(findingsOf(model, opset, plan.trained.inputs)));
}

/** What --dynamic-size / --dynamic-batch did, for the report. */
export interface SizeReport {
  /** The model was written (or would be) with the free dims symbolic. */
  readonly dynamic: boolean;
  readonly free: Freedom;
  /** The batch was free already (a symbolic dim in the model), not asked for. */
  readonly batchWasSymbolic: boolean;
  readonly trained: Size;
  readonly batch: number;
  /** The network's stride (the check sizes are whole steps of it from the trained size). */
  readonly stride: Size;
  /** The image inputs as written. */
  readonly inputs: DynamicModel['inputs'];
  /** The Reshapes whose targets are now computed from their input's shape. */
  readonly freed: readonly ReshapeFree[];
  /** What pins the size (empty when it is free). */
  readonly pins: readonly SizePin[];
  readonly check:
    | { status: 'passed'; checks: readonly SizeCheck[] }
    | { status: 'failed'; checks: readonly SizeCheck[]; problems: string[] }
    | { status: 'skipped'; reason: string };
  /** Declared shapes whose size-dependent dims were made unknown (or the batch's symbol). */
  readonly cleared: readonly string[];
  /** Why the written model keeps its fixed size (with --allow-fixed-size). */
  readonly note?: string;
}

export interface DynamicSizeOptions {
  /** What to free: --dynamic-size (height and width), --dynamic-batch. */
  free: Freedom;
  /** --also-size: the sizes to check at (default 1.5× and a non-square size, in whole strides). */
  also?: readonly Size[];
  /** Write a fixed-size model instead of refusing when the size is pinned. */
  allowFixed: boolean;
  /** May onnxruntime run the candidate? (false with --no-verify and --dry-run: static analysis only) */
  run: boolean;
  seed: number;
  atol?: number;
  rtol?: number;
  /** Outputs whose spatial dims follow the input (the --cam maps). */
  spatialOutputs?: readonly string[];
  log?: (line: string) => void;
}

export interface DynamicSizeResult {
  /** The model to write: the dynamic one, or `model` unchanged when the size stays fixed. */
  readonly model: ModelProto;
  readonly report: SizeReport;
  /** Set when the size is pinned and a fixed-size model was not allowed: nothing may be written. */
  readonly refused?: string;
}

/** The flag that asked: --dynamic-size (with or without --dynamic-batch) or --dynamic-batch. */
const dynamicFlag = (free: Freedom): string => (free.size ? '--dynamic-size' : '--dynamic-batch');

/** One line naming the pin(s), for errors and the report. */
export function describePins(pins: readonly SizePin[], problems: readonly string[] = [], free: Freedom = { size: true, batch: false }): string {
  if (pins.length === 0) return problems[0] ?? 'the model does not run at another size';
  const [first, ...rest] = pins;
  return `${free.size ? 'the input size is' : 'the batch is'} pinned: ${first!.detail}${rest.length ? ` (and ${rest.length} more)` : ''}`;
}

/** Merges onnxruntime's pin into the static ones (same node: the static reason says more). */
function mergePins(pins: readonly SizePin[], ort: SizePin | undefined): SizePin[] {
  if (!ort || (ort.node && pins.some((p) => p.node === ort.node))) return [...pins];
  return [ort, ...pins];
}

/** `model`, a rewrite of `file`, with a symbolic input size (and/or batch) — or why it can't have one. */
export async function dynamicSizeStep(file: ModelFile, model: ModelProto, inputs: readonly ResolvedInput[], opts: DynamicSizeOptions): Promise<DynamicSizeResult> {
  const flag = dynamicFlag(opts.free);
  const plan = planSizes(model, inputs, opts.free, flag);
  const size = analyzeRewritten(model, file.opset, plan);
  let pins = remainingPins(size);
  const points = checkPoints(plan, size.stride, opts.also);
  if (opts.also?.length && pins.length === 0) {
    for (const s of opts.also) {
      const why = staticFailure(size, pointAt(plan, s, plan.trained.batch));
      if (why) throw new UsageError(`--also-size ${sizeText(s)}: the model does not run at that size: ${why}`);
    }
  }
  const dyn = makeSizeDynamic(model, size);
  let check: SizeReport['check'];
  // Pins that say a node changes meaning stand; a failure found by shape inference alone ('other')
  // is for onnxruntime to confirm.
  const standing = pins.filter((p) => p.kind !== 'other');
  if (!opts.run) {
    check = { status: 'skipped', reason: 'not run (--no-verify or --dry-run): static analysis only' };
  } else if (standing.length) {
    check = { status: 'skipped', reason: 'the size is pinned' };
  } else {
    const checked = await checkSizes(file, model, dyn.model, size, points, {
      seed: opts.seed, spatialOutputs: opts.spatialOutputs ?? [],
      ...(opts.atol !== undefined ? { atol: opts.atol } : {}), ...(opts.rtol !== undefined ? { rtol: opts.rtol } : {}), ...(opts.log ? { log: opts.log } : {}),
    });
    const problems = [...checked.problems, ...checked.checks.flatMap((c) => c.problems.map((p) => `at ${pointText(c, plan.trained.batch)}: ${p}`))];
    if (problems.length === 0 && checked.checks.length === points.length) {
      // The run is the judge: a static failure it contradicts was a limit of shape inference.
      pins = [];
      check = { status: 'passed', checks: checked.checks };
    } else {
      pins = mergePins(pins, checked.pin);
      check = { status: 'failed', checks: checked.checks, problems };
    }
  }
  const pinned = pins.length > 0 || check.status === 'failed';
  const problems = check.status === 'failed' ? check.problems : [];
  const base = { free: plan.free, batchWasSymbolic: plan.batchWasSymbolic, trained: plan.trained.size, batch: plan.trained.batch, stride: size.stride, pins, check };
  if (!pinned) return { model: dyn.model, report: { ...base, dynamic: true, freed: size.frees, inputs: dyn.inputs, cleared: dyn.cleared } };

  const stays = opts.free.size ? `the input size stays fixed at ${sizeText(plan.trained.size)}` : `the batch stays fixed at ${plan.trained.batch}`;
  const report: SizeReport = { ...base, dynamic: false, freed: [], inputs: declaredImages(model, plan), cleared: [], note: stays };
  if (opts.allowFixed) return { model, report };
  return {
    model, report,
    refused: `${flag}: ${describePins(pins, problems, opts.free)} — nothing written (--allow-fixed-size writes it at its fixed size)`,
  };
}
