// The --dynamic-size step of the pipeline (see dynamic.ts for how the size is freed and checked).

import type { ModelProto } from '../onnx/schema.js';
import type { ResolvedInput } from '../verify/inputs.js';
import type { ModelSource } from '../verify/ort.js';
import {
  describePins,
  foldingReshapes,
  formatSize,
  inferAtSizes,
  makeSizeDynamic,
  planSizes,
  runAtSizes,
  type Size,
  type SizePin,
  type SizeReport,
} from './dynamic.js';

export * from './dynamic.js';

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
  if (pins.some((p) => p.node === ort.node)) return pins;
  return [ort, ...pins];
}

export async function dynamicSizeStep(source: ModelSource, model: ModelProto, opset: number, inputs: readonly ResolvedInput[], opts: DynamicSizeOptions): Promise<DynamicSizeResult> {
  const plan = planSizes(model, inputs, opts.also);
  const inf = inferAtSizes(model, opset, plan);
  const dyn = makeSizeDynamic(model, plan, inf);
  let pins = inf.pins;
  let check: SizeReport['check'];
  if (!opts.run) {
    check = { status: 'skipped', reason: 'not run (--no-verify or --dry-run): static shape inference only' };
  } else {
    opts.log?.(`running the rewritten model at ${formatSize(plan.also)} (--dynamic-size)`);
    const run = await runAtSizes(source, dyn.model, plan, { ...(opts.seed !== undefined ? { seed: opts.seed } : {}), spatialOutputs: opts.spatialOutputs ?? [] });
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
        pins = changed.flatMap((t) => foldingReshapes(dyn.model, opset, inf, t.name));
      }
      check = { status: 'failed', problems: run.problems };
    }
  }
  const pinned = pins.length > 0 || check.status === 'failed';
  const problems = check.status === 'failed' ? check.problems : [];
  const base = { trained: plan.trained, also: plan.also, pins, check };
  if (!pinned) return { model: dyn.model, report: { ...base, dynamic: true, inputs: dyn.inputs, cleared: dyn.cleared } };

  const why = describePins(pins, problems);
  const fixedInputs = plan.images.map((im) => ({ name: im.name, dims: [...(inputs.find((i) => i.name === im.name)?.declared ?? [])] }));
  const report: SizeReport = { ...base, dynamic: false, inputs: fixedInputs, cleared: [], note: `the input size stays fixed at ${formatSize(plan.trained)}` };
  if (opts.allowFixed) return { model, report };
  return {
    model, report,
    refused: `--dynamic-size: ${why} — nothing written (pass --allow-fixed-size to write the model with its fixed input size)`,
  };
}
