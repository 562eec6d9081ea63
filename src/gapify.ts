// The main job: read a model, rewrite its classifier tails, prove the result with onnxruntime, and
// only then put it at the output path. A model file is someone's work: the input is never written,
// and the output appears (atomically) only once it is complete and verified.

import { basename, dirname, extname, join, resolve } from 'node:path';
import { ModelError, UsageError, VerificationError } from './errors.js';
import { checkOutputPath } from './output-path.js';
import { readModelLazy, releaseModel, stageModel, type ModelFile } from './onnx/model-io.js';
import type { Dim, Shape } from './graph/shapes.js';
import { modelMacs } from './rewrite/cost.js';
import { analyzeModel, missingShapes, rewriteModel, type AlreadyGap, type Analysis, type OrderOption, type Refusal, type TailChange } from './rewrite/index.js';
import { NO_INPUT_SHAPES, parseInputShapes, type InputShapeSpec } from './verify/input-shapes.js';
import { resolveInputs, type ResolvedInput } from './verify/inputs.js';
import { compareModels, comparisonFailures, type Comparison } from './verify/compare.js';
import { probeValues } from './verify/probe.js';
import { addCamOutputs, type CamOutput, type CamSkip } from './cam/outputs.js';
import { dynamicSizeStep, parseSize, type Size, type SizeReport } from './size/index.js';

export interface GapifyOptions {
  /** Output path; default `<input without .onnx>.gap.onnx` beside the input. */
  output?: string;
  /** Allow the output to be the input file itself. */
  inPlace?: boolean;
  /** Verify with onnxruntime before writing (default true). */
  verify?: boolean;
  /** Analyse and report, write nothing. */
  dryRun?: boolean;
  order?: OrderOption;
  /** --input-shape specs, e.g. ['input:1,3,224,224']. */
  inputShapes?: readonly string[];
  atol?: number;
  rtol?: number;
  seed?: number;
  /** May onnxruntime be run to learn shapes static inference can't? (default true) */
  probe?: boolean;
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
  /** --cam: add a `<output>_cam` graph output with the class maps of each conv-first / spatial tail. */
  cam?: boolean;
  /** --dynamic-size: symbolic input height and width, checked at a second size. */
  dynamicSize?: boolean;
  /** --also-size: the second size (default 1.5× the trained size), `HxW` or [h, w]. */
  alsoSize?: string | Size;
  /** --allow-fixed-size: when the size is pinned, write the model with its fixed input size instead of failing. */
  allowFixedSize?: boolean;
}

export type Verification =
  | { status: 'passed' | 'failed'; comparison: Comparison; failures: string[] }
  | { status: 'skipped'; reason: string };

export interface GapifyReport {
  input: string;
  /** Where the model was (or would have been) written. */
  output: string;
  written: boolean;
  /** Why nothing was written, when nothing was. */
  nothingWritten?: string;
  /** Input shapes the analysis and verification used, and where each came from. */
  inputs: readonly ResolvedInput[];
  rewritten: TailChange[];
  refused: Refusal[];
  alreadyGap: AlreadyGap[];
  verification: Verification;
  /** Multiply-accumulates per sample of the whole model (Conv/Gemm/MatMul) before and after, when the shapes are known. */
  modelMacs?: { before: number; after: number };
  /** --cam: the class-map outputs added, and the tails that have none. */
  cam?: { outputs: CamOutput[]; skipped: CamSkip[] };
  /** --dynamic-size: the symbolic input size and its check at a second size. */
  size?: SizeReport;
}

export function defaultOutputPath(input: string): string {
  const ext = extname(input);
  const stem = ext.toLowerCase() === '.onnx' ? basename(input, ext) : basename(input);
  return join(dirname(resolve(input)), `${stem}.gap.onnx`);
}

/** Concrete input dims for shape inference: the same ones verification feeds. */
export function analysisInputs(file: ModelFile, spec: InputShapeSpec): { inputs: ResolvedInput[]; dims: Map<string, Dim[]> } {
  const inputs = resolveInputs(file.model, spec, { label: file.path });
  return { inputs, dims: new Map(inputs.map((i) => [i.name, [...i.shape]])) };
}

/**
 * Analysis with onnxruntime's help where static shape inference is stuck (an op it doesn't know
 * upstream of the tail): the model is run once with those values exposed as extra outputs.
 */
export async function analyzeWithProbe(file: ModelFile, spec: InputShapeSpec, probe: boolean, log?: (l: string) => void): Promise<{ analysis: Analysis; inputs: ResolvedInput[] }> {
  const { inputs, dims } = analysisInputs(file, spec);
  let analysis = analyzeModel(file, dims);
  const missing = missingShapes(analysis);
  const needsProbe = analysis.findings.some((f) => f.kind === 'refused' && f.code === 'unknown-dims');
  if (probe && needsProbe && missing.length > 0) {
    log?.(`probing ${missing.length} shape(s) with onnxruntime`);
    file.lazy?.ensureAll(); // the probe runs an in-memory copy of the model: it needs the real weights
    const probed = await probeValues({ path: file.path, model: file.model }, file.model, missing, { inputs });
    const extra = new Map<string, Shape>([...probed].map(([k, v]) => [k, v.dims]));
    analysis = analyzeModel(file, dims, extra);
  }
  return { analysis, inputs };
}

export async function gapify(inputPath: string, options: GapifyOptions = {}): Promise<GapifyReport> {
  const log = options.log ?? (() => {});
  const input = resolve(inputPath);
  const output = resolve(options.output ?? defaultOutputPath(input));
  checkOutputPath(output, [input], { renamed: true, sameAsInput: { allowed: !!options.inPlace, flag: '--in-place' } });
  const spec = options.inputShapes?.length ? parseInputShapes(options.inputShapes) : NO_INPUT_SHAPES;
  if (!options.dynamicSize && (options.alsoSize !== undefined || options.allowFixedSize)) {
    throw new UsageError(`${options.alsoSize !== undefined ? '--also-size' : '--allow-fixed-size'} needs --dynamic-size`);
  }
  const alsoSize = typeof options.alsoSize === 'string' ? parseSize(options.alsoSize, '--also-size') : options.alsoSize;
  log(`reading ${input}`);
  // Structure only: the weights a rule folds are loaded on demand, the rest is copied file to file.
  const file = readModelLazy(input, { keepOpen: true });
  try {
    return await rewriteFile(file, input, output, spec, alsoSize, options, log);
  } finally {
    releaseModel(file);
  }
}

async function rewriteFile(file: ModelFile, input: string, output: string, spec: InputShapeSpec, alsoSize: Size | undefined, options: GapifyOptions, log: (line: string) => void): Promise<GapifyReport> {
  const { analysis, inputs } = await analyzeWithProbe(file, spec, options.probe ?? true, log);
  const refused = analysis.findings.filter((f): f is Refusal => f.kind === 'refused');
  const alreadyGap = analysis.findings.filter((f): f is AlreadyGap => f.kind === 'already-gap');
  const base: Pick<GapifyReport, 'input' | 'output' | 'inputs' | 'refused' | 'alreadyGap' | 'cam' | 'size' | 'modelMacs'> = { input, output, inputs, refused, alreadyGap };

  const tails = analysis.findings.flatMap((f) => (f.kind === 'tail' ? [f.tail] : []));
  // --cam wants conv-first wherever the layer yields the class scores (pool-first has no map); where
  // it doesn't (an MLP head's first layer), 'auto' keeps pool-first and the report says so.
  const camOrder = options.cam && (options.order ?? 'auto') === 'auto' && tails.every((t) => t.kind !== 'global' || t.finalScores) ? 'conv-first' : undefined;
  const macsBefore = modelMacs(analysis.graph, analysis.shapes.shapes); // before the rewrite edits the view
  const rewrite = rewriteModel(analysis, { order: camOrder ?? options.order ?? 'auto' });
  const { changes } = rewrite;
  if (macsBefore !== null && changes.length && changes.every((c) => c.macsBefore !== undefined && c.macsAfter !== undefined)) {
    base.modelMacs = { before: macsBefore, after: changes.reduce((m, c) => m - c.macsBefore! + c.macsAfter!, macsBefore) };
  }
  let model = rewrite.model;
  const cam = options.cam ? addCamOutputs(model, file.opset, changes, tails, alreadyGap) : undefined;
  if (cam) {
    model = cam.model;
    base.cam = { outputs: cam.cams, skipped: cam.skipped };
  }
  const camNames = cam?.cams.map((c) => c.name) ?? [];
  if (changes.length === 0 && camNames.length === 0 && !options.dynamicSize) {
    const why = alreadyGap.length ? 'the model already has a global-average-pool head'
      : refused.length ? 'no tail can be rewritten exactly'
        : 'no classifier tail found';
    return { ...base, written: false, nothingWritten: why, rewritten: [], verification: { status: 'skipped', reason: 'nothing was rewritten' } };
  }
  if (options.dynamicSize) {
    // Checked (and, if pinned, refused) before anything is staged. The candidate runs from memory.
    file.lazy?.ensureAll();
    const step = await dynamicSizeStep({ path: input }, model, file.opset, inputs, {
      ...(alsoSize ? { also: alsoSize } : {}), allowFixed: !!options.allowFixedSize,
      run: options.verify !== false && !options.dryRun, seed: options.seed ?? 0, spatialOutputs: camNames, log,
    });
    model = step.model;
    base.size = step.report;
    // The class maps' declared dims follow the input now: report them as the written model declares them.
    if (base.cam) {
      const declared = new Map(model.graph!.output.map((o) => [o.name, o.type?.tensor_type?.shape?.dim.map((d) => (d.dim_value !== undefined ? Number(d.dim_value) : d.dim_param ?? null))]));
      base.cam = { ...base.cam, outputs: base.cam.outputs.map((o) => ({ ...o, shape: declared.get(o.name) ?? o.shape })) };
    }
    const skipped: Verification = { status: 'skipped', reason: 'nothing was written' };
    if (step.refused) throw new SizeLocked(step.refused, { ...base, written: false, nothingWritten: 'the input size is pinned', rewritten: changes, verification: skipped });
    if (changes.length === 0 && camNames.length === 0 && !step.report.dynamic) {
      return { ...base, written: false, nothingWritten: 'nothing was rewritten and the input size stays fixed', rewritten: [], verification: skipped };
    }
  }
  if (options.dryRun) {
    return { ...base, written: false, nothingWritten: 'dry run', rewritten: changes, verification: { status: 'skipped', reason: 'dry run' } };
  }

  log(`writing ${output}`);
  const staged = stageModel(output, model, file, log);
  // The input's bytes are no longer needed (everything below works on files): free them, so that
  // while onnxruntime verifies, memory holds its copy of one model and not ours too.
  releaseModel(file);
  try {
    let verification: Verification;
    if (options.verify === false) {
      verification = { status: 'skipped', reason: '--no-verify' };
    } else {
      log('verifying with onnxruntime');
      const comparison = await compareModels({ path: input }, { path: staged.tempPath }, {
        inputs, seed: options.seed ?? 0, allowExtra: camNames,
        ...(options.atol !== undefined ? { atol: options.atol } : {}),
        ...(options.rtol !== undefined ? { rtol: options.rtol } : {}),
      });
      const failures = comparisonFailures(comparison);
      verification = { status: comparison.ok ? 'passed' : 'failed', comparison, failures };
      if (!comparison.ok) {
        staged.discard();
        const report: GapifyReport = { ...base, written: false, nothingWritten: 'verification failed', rewritten: changes, verification };
        throw new VerificationFailed(report);
      }
    }
    staged.commit();
    return { ...base, written: true, rewritten: changes, verification };
  } catch (e) {
    staged.discard();
    throw e;
  }
}

/** Verification failed: carries the full report so the CLI can still print it. */
export class VerificationFailed extends VerificationError {
  constructor(readonly report: GapifyReport) {
    const v = report.verification;
    super(`verification failed: ${v.status === 'failed' ? v.failures.join('; ') : 'outputs differ'} — nothing written`);
  }
}

/** --dynamic-size on a model whose input size is pinned (without --allow-fixed-size): nothing was written. */
export class SizeLocked extends VerificationError {
  constructor(message: string, readonly report: GapifyReport) {
    super(message);
  }
}

export { ModelError };
