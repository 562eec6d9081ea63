// The main job: read a model, rewrite its classifier tails, prove the result with onnxruntime, and
// only then put it at the output path. A model file is someone's work: the input is never written,
// and the output appears (atomically) only once it is complete and verified.

import { basename, dirname, extname, join, resolve } from 'node:path';
import { SizeLocked, UsageError, VerificationFailed } from './errors.js';
import { checkOutputPath } from './output-path.js';
import { readModelLazy, releaseModel, stageModel, type ModelFile } from './onnx/model-io.js';
import type { ModelProto } from './onnx/schema.js';
import type { GapifyReport, Verification } from './result.js';
import { modelMacs } from './rewrite/cost.js';
import { alreadyGapOf, analyzeWithProbe, refusalsOf, rewriteModel, type OrderOption } from './rewrite/index.js';
import { NO_INPUT_SHAPES, parseInputShapes, type InputShapeSpec } from './verify/input-shapes.js';
import { compareModels, comparisonFailures } from './verify/compare.js';
import { addCamOutputs } from './cam/outputs.js';
import { dynamicSizeStep, parseSize, type Size } from './size/index.js';

export type { GapifyReport, Verification };

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
  /** --dynamic-size: symbolic input height and width, size-carrying Reshape targets computed at run time, checked at other sizes. */
  dynamicSize?: boolean;
  /** --dynamic-batch: the same for the batch (checked at batch 3). */
  dynamicBatch?: boolean;
  /** --also-size (repeatable): the sizes checked (default 1.5× and a non-square size, in whole strides), `HxW` or [h, w]. */
  alsoSizes?: readonly (string | Size)[];
  /** --allow-fixed-size: when the size is pinned, write the model with its fixed input size instead of failing. */
  allowFixedSize?: boolean;
}

/** The graph inputs, as declared, of two models are the same (names, types, dims). */
function sameInputs(a: ModelProto, b: ModelProto): boolean {
  const dims = (m: ModelProto): string => JSON.stringify(m.graph!.input.map((v) => [v.name, v.type?.tensor_type?.elem_type, v.type?.tensor_type?.shape?.dim.map((d) => (d.dim_value !== undefined ? String(d.dim_value) : d.dim_param ?? null))]));
  return dims(a) === dims(b);
}

export function defaultOutputPath(input: string): string {
  const ext = extname(input);
  const stem = ext.toLowerCase() === '.onnx' ? basename(input, ext) : basename(input);
  return join(dirname(resolve(input)), `${stem}.gap.onnx`);
}

export async function gapify(inputPath: string, options: GapifyOptions = {}): Promise<GapifyReport> {
  const log = options.log ?? (() => {});
  const input = resolve(inputPath);
  const output = resolve(options.output ?? defaultOutputPath(input));
  checkOutputPath(output, { inputs: [{ path: input, role: 'the input file' }], sameAsInput: { allowed: !!options.inPlace, flag: '--in-place' } });
  const spec = options.inputShapes?.length ? parseInputShapes(options.inputShapes) : NO_INPUT_SHAPES;
  if (!options.dynamicSize && options.alsoSizes?.length) throw new UsageError('--also-size needs --dynamic-size');
  if (!options.dynamicSize && !options.dynamicBatch && options.allowFixedSize) throw new UsageError('--allow-fixed-size needs --dynamic-size or --dynamic-batch');
  const alsoSizes = options.alsoSizes?.map((s) => (typeof s === 'string' ? parseSize(s, '--also-size') : s));
  log(`reading ${input}`);
  // Structure only: the weights a rule folds are loaded on demand, the rest is copied file to file.
  const file = readModelLazy(input, { keepOpen: true });
  try {
    return await rewriteFile(file, input, output, spec, alsoSizes, options, log);
  } finally {
    releaseModel(file);
  }
}

async function rewriteFile(file: ModelFile, input: string, output: string, spec: InputShapeSpec, alsoSizes: readonly Size[] | undefined, options: GapifyOptions, log: (line: string) => void): Promise<GapifyReport> {
  const { analysis, inputs } = await analyzeWithProbe(file, spec, options.probe ?? true, log);
  const alreadyGap = alreadyGapOf(analysis);
  const macsBefore = modelMacs(analysis.graph, analysis.shapes.shapes); // before the rewrite edits the view
  const rewrite = rewriteModel(analysis, { order: options.order ?? 'auto', cam: !!options.cam });
  const refused = [...refusalsOf(analysis), ...rewrite.refused];
  const base: Pick<GapifyReport, 'input' | 'output' | 'inputs' | 'refused' | 'alreadyGap' | 'cam' | 'size' | 'modelMacs'> = { input, output, inputs, refused, alreadyGap };

  const { changes } = rewrite;
  if (macsBefore !== null && changes.length && changes.every((c) => c.macsBefore !== undefined && c.macsAfter !== undefined)) {
    base.modelMacs = { before: macsBefore, after: changes.reduce((m, c) => m - c.macsBefore! + c.macsAfter!, macsBefore) };
  }
  let model = rewrite.model;
  const cam = options.cam ? addCamOutputs(model, file.opset, changes, alreadyGap) : undefined;
  if (cam) {
    model = cam.model;
    base.cam = { outputs: cam.cams, skipped: cam.skipped };
  }
  const camNames = cam?.cams.map((c) => c.name) ?? [];
  /** No tail rewritten and no class map added: only a freed input size could still change the model. */
  const unchanged = changes.length === 0 && camNames.length === 0;
  const dynamic = !!options.dynamicSize || !!options.dynamicBatch;
  if (unchanged && !dynamic) {
    const why = alreadyGap.length ? 'the model already has a global-average-pool head'
      : refused.length ? 'no tail can be rewritten exactly'
        : 'no classifier tail found';
    return { ...base, written: false, nothingWritten: why, rewritten: [], verification: { status: 'skipped', reason: 'nothing was rewritten' } };
  }
  if (dynamic) {
    // Checked (and, if pinned, refused) before anything is staged.
    const step = await dynamicSizeStep(file, model, inputs, {
      free: { size: !!options.dynamicSize, batch: !!options.dynamicBatch },
      ...(alsoSizes?.length ? { also: alsoSizes } : {}), allowFixed: !!options.allowFixedSize,
      run: options.verify !== false && !options.dryRun, seed: options.seed ?? 0, spatialOutputs: camNames, log,
      ...(options.atol !== undefined ? { atol: options.atol } : {}), ...(options.rtol !== undefined ? { rtol: options.rtol } : {}),
    });
    model = step.model;
    base.size = step.report;
    // The class maps' declared dims follow the input now: report them as the written model declares them.
    if (base.cam) {
      const declared = new Map(model.graph!.output.map((o) => [o.name, o.type?.tensor_type?.shape?.dim.map((d) => (d.dim_value !== undefined ? Number(d.dim_value) : d.dim_param ?? null))]));
      base.cam = { ...base.cam, outputs: base.cam.outputs.map((o) => ({ ...o, shape: declared.get(o.name) ?? o.shape })) };
    }
    const skipped: Verification = { status: 'skipped', reason: 'nothing was written' };
    if (step.refused) throw new SizeLocked<GapifyReport>(step.refused, { ...base, written: false, nothingWritten: 'the input size is pinned', rewritten: changes, verification: skipped });
    if (unchanged && !step.report.dynamic) {
      return { ...base, written: false, nothingWritten: `nothing was rewritten and the ${options.dynamicSize ? 'input size' : 'batch'} stays fixed`, rewritten: [], verification: skipped };
    }
    // A model that already takes any size (gapify's own output, say): a copy would be no rewrite.
    if (unchanged && !step.report.freed.length && !step.report.cleared.length && sameInputs(file.model, model)) {
      return { ...base, written: false, nothingWritten: 'nothing to change: no tail to rewrite, and the input already takes any size', rewritten: [], verification: skipped };
    }
  }
  if (options.dryRun) {
    return { ...base, written: false, nothingWritten: 'dry run', rewritten: changes, verification: { status: 'skipped', reason: 'dry run' } };
  }

  log(`writing ${output}`);
  const staged = await stageModel(output, model, file, log);
  // The input's bytes are no longer needed (everything below works on files): free them, so that
  // while onnxruntime verifies, memory holds its copy of one model and not ours too.
  releaseModel(file);
  try {
    let verification: Verification;
    if (options.verify === false) {
      verification = { status: 'skipped', reason: '--no-verify' };
    } else {
      log('verifying with onnxruntime');
      const comparison = await compareModels({ path: input }, { path: staged.tempPath, label: output }, {
        inputs, seed: options.seed ?? 0, allowExtra: camNames, candidate: true,
        ...(options.atol !== undefined ? { atol: options.atol } : {}),
        ...(options.rtol !== undefined ? { rtol: options.rtol } : {}),
      });
      const failures = comparisonFailures(comparison);
      verification = { status: comparison.ok ? 'passed' : 'failed', comparison, failures };
      if (!comparison.ok) {
        staged.discard();
        const report: GapifyReport = { ...base, written: false, nothingWritten: 'verification failed', rewritten: changes, verification };
        throw new VerificationFailed<GapifyReport>(`verification failed: ${failures.join('; ')} — nothing written`, report);
      }
    }
    staged.commit();
    return { ...base, written: true, rewritten: changes, verification };
  } catch (e) {
    staged.discard();
    throw e;
  }
}
