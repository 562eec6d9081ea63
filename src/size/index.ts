// The size module: what pins a model's input size (analysis.ts), the sizes compared (plan.ts), and
// the --dynamic-size step of the pipeline (dynamic.ts frees the size and checks it with onnxruntime).

import type { ModelFile } from '../onnx/model-io.js';
import type { ModelProto } from '../onnx/schema.js';
import { findingsOf } from '../rewrite/index.js';
import { sizeText } from '../text.js';
import type { ResolvedInput } from '../verify/inputs.js';
import { analyzeSize, foldingReshapes, tailPins, type SizeAnalysis } from './analysis.js';
import { describePins, makeSizeDynamic, runAtSizes, type SizeReport } from './dynamic.js';
import type { SizePin } from './pin.js';
import { planSizes, type Size, type SizePlan } from './plan.js';

export * from './analysis.js';
export * from './dynamic.js';
export * from './pin.js';
export * from './plan.js';

/** The size analysis of a rewritten model (no graph-input pins: --dynamic-size frees the inputs). */
export function analyzeRewritten(model: ModelProto, opset: number, plan: SizePlan): SizeAnalysis {
  return analyzeSize(model, opset, plan, tailPins(findingsOf(model, opset, plan.inputs)));
}

export interface DynamicSizeOptions {
  /** The second size (default 1.5× the trained one). */
  also?: Size;
  /** Write a fixed-size model instead of refusing when the size is pinned. */
  allowFixed: boolean;
  /** May onnxruntime run the candidate? (false with --no-verify and --dry-run: static check only) */
  run: boolean;
  seed?: number;
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

/** Merges onnxruntime's pin into the static ones (same node: the static reason says more). */
function mergePins(pins: SizePin[], ort: SizePin | undefined): SizePin[] {
  if (!ort) return pins;
  if (ort.node && pins.some((p) => p.node === ort.node)) return pins;
  return [ort, ...pins];
}

/** `model`, a rewrite of `file`, with a symbolic input size — or why it can't have one. */
export async function dynamicSizeStep(file: ModelFile, model: ModelProto, inputs: readonly ResolvedInput[], opts: DynamicSizeOptions): Promise<DynamicSizeResult> {
  const plan = planSizes(model, inputs, opts.also);
  const size = analyzeRewritten(model, file.opset, plan);
  const dyn = makeSizeDynamic(model, plan, size);
  let pins = size.pins;
  let check: SizeReport['check'];
  if (!opts.run) {
    check = { status: 'skipped', reason: 'not run (--no-verify or --dry-run): static shape inference only' };
  } else {
    opts.log?.(`running the rewritten model at ${sizeText(plan.also)} (--dynamic-size)`);
    const run = await runAtSizes(file, dyn.model, plan, { ...(opts.seed !== undefined ? { seed: opts.seed } : {}), spatialOutputs: opts.spatialOutputs ?? [] });
    if (!run.trained) {
      check = { status: 'skipped', reason: run.problems.join('; ') };
    } else if (run.problems.length === 0 && run.also) {
      // The run is the judge: a static pin it contradicts was a limit of shape inference.
      pins = [];
      const also = run.also;
      check = { status: 'passed', outputs: run.trained.map((t) => ({ name: t.name, dtype: t.dtype, trained: t.dims, also: also.find((o) => o.name === t.name)!.dims })) };
    } else {
      pins = mergePins(pins, run.pin);
      if (pins.length === 0) {
        // Every node ran, yet an output changed shape: look for a Reshape folding the size into a -1.
        const changed = run.trained.filter((t) => run.problems.some((p) => p.startsWith(`output '${t.name}'`)));
        pins = changed.flatMap((t) => foldingReshapes(size, t.name));
      }
      check = { status: 'failed', problems: run.problems };
    }
  }
  const pinned = pins.length > 0 || check.status === 'failed';
  const problems = check.status === 'failed' ? check.problems : [];
  const base = { trained: plan.trained, also: plan.also, pins, check };
  if (!pinned) return { model: dyn.model, report: { ...base, dynamic: true, inputs: dyn.inputs, cleared: dyn.cleared } };

  const fixedInputs = plan.images.map((im) => ({ name: im.name, dims: [...(inputs.find((i) => i.name === im.name)?.declared ?? [])] }));
  const report: SizeReport = { ...base, dynamic: false, inputs: fixedInputs, cleared: [], note: `the input size stays fixed at ${sizeText(plan.trained)}` };
  if (opts.allowFixed) return { model, report };
  return {
    model, report,
    refused: `--dynamic-size: ${describePins(pins, problems)} — nothing written (pass --allow-fixed-size to write the model with its fixed input size)`,
  };
}
