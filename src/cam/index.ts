// `gapify cam`: class activation maps of a classifier on one image, as numbers and as a picture.
//
//   model.onnx ─ gapify in memory (conv-first, --cam) ─┐
//   image ─ decode ─ resize to H×W ─ (x/255 − mean)/std ─ NCHW ─ onnxruntime ─ scores [K], maps [K, h, w]
//                                                                 └─ heatmap of the chosen class(es) over the image → PNG
//
// A model that is already a GAP head (SqueezeNet, or a model gapify rewrote) is not rewritten: the
// map its global pool averages is exposed. Either way the scores are exactly the maps' spatial means.
// At the model's own size the original model is run on the same image too, and its outputs must
// match the in-memory rewrite's (so a wrong map can't hide behind a plausible picture).

import type { Tensor } from 'onnxruntime-node';
import { ModelError, RuntimeError, UsageError, VerificationError } from '../errors.js';
import { readModel, withModelSource, type ModelFile } from '../onnx/model-io.js';
import { NotARegularFile, readRegularFile } from '../input-file.js';
import type { ModelProto } from '../onnx/schema.js';
import { floatToHalf, halfToFloat } from '../onnx/tensor.js';
import { alreadyGapOf, analyzeWithProbe, refusalsOf, rewriteModel } from '../rewrite/index.js';
import { analyzeRewritten, describePins, imageInputs, makeSizeDynamic, nodeFromOrtError, parseSize, planSizes, remainingPins, type Size } from '../size/index.js';
import { nodeLabel, scoreText, shapeText, sizeText } from '../text.js';
import { compareTensors, keepOutputs, tolerancesFor, type TensorValue } from '../verify/compare.js';
import { NO_INPUT_SHAPES } from '../verify/input-shapes.js';
import { resolveInputs } from '../verify/inputs.js';
import { firstLine, loadOrt, runSession, withSession } from '../verify/ort.js';
import { withOutputs } from '../verify/probe.js';
import { addCamOutputs, type CamOutput } from './outputs.js';
import { IMAGENET_MEAN, IMAGENET_STD, readRgb, toNchw, type Triple } from './image.js';
import { DEFAULT_ALPHA, renderCamPng, type PanelSpec } from './render.js';

export { addCamOutputs, type CamOutput, type CamOutputs, type CamSkip } from './outputs.js';
export { DEFAULT_MAX_PIXELS, IMAGENET_MEAN, IMAGENET_STD, parseTriple, readRgb, toNchw, type ReadImageOptions, type RgbImage, type Triple } from './image.js';
export { DEFAULT_ALPHA, jet, legendSvg, normalizeMap, renderCamPng, upsampleMap, type PanelSpec } from './render.js';

export interface CamOptions {
  /** Show this class (--class K). */
  classIndex?: number;
  /** Show the N best-scoring classes (--top N; default 1 when no class is given). */
  top?: number;
  mean?: Triple;
  std?: Triple;
  /** Input size (--size HxW); default: the model's (224×224 where it is symbolic). */
  size?: Size | string;
  /** Class names, one per class index (--labels). */
  labels?: readonly string[];
  /** May onnxruntime probe shapes static inference can't tell (default true). */
  probe?: boolean;
  /** Refuse images with more pixels (--max-pixels; default DEFAULT_MAX_PIXELS). */
  maxPixels?: number;
  log?: (line: string) => void;
}

export interface ClassScore {
  readonly index: number;
  readonly label?: string;
  /** The model's score (logit): the mean of the class map. */
  readonly score: number;
  /** softmax of the scores. */
  readonly prob: number;
}

export interface ClassActivation extends ClassScore {
  /** 1 for the best class. */
  readonly rank: number;
  /** Raw class map, row-major mapHeight × mapWidth. */
  readonly map: Float32Array;
  readonly mapHeight: number;
  readonly mapWidth: number;
}

export interface CamResult {
  readonly model: string;
  readonly image: string;
  readonly imageWidth: number;
  readonly imageHeight: number;
  readonly inputName: string;
  /** The size the image was resized to, [h, w]. */
  readonly inputSize: Size;
  readonly mean: Triple;
  readonly std: Triple;
  /** The scores value (the maps' mean) and the class-map output. */
  readonly scores: string;
  readonly camOutput: string;
  /** 'rewritten': gapified in memory; 'gap-head': the model already pooled class maps. */
  readonly source: CamOutput['source'];
  /** The original model run on the same image (at its own size only). */
  readonly check: { status: 'passed'; outputs: { name: string; maxAbsError: number | null }[] } | { status: 'skipped'; reason: string };
  /** The best classes (at least 5, or all there are), best first. */
  readonly top: ClassScore[];
  /** The classes shown, with their maps. */
  readonly classes: ClassActivation[];
  readonly notes: string[];
}

type Feeds = Record<string, Tensor>;

/**
 * Runs `model` (`file`'s model, rewritten) on `feeds` and returns the `fetches`, which need not be
 * graph outputs: they are added, name only, as onnxruntime infers their types.
 */
async function runModel(file: ModelFile, model: ModelProto, feeds: Feeds, fetches: readonly string[]): Promise<Map<string, TensorValue>> {
  return withModelSource(file, withOutputs(model, fetches), (source) => withSession(source, async (s) => keepOutputs(await runSession(s, file.path, feeds, fetches))));
}

/** Float values of a float32/float16/float64 output. */
function floats(v: TensorValue): Float32Array {
  const d = v.data as ArrayLike<number>;
  if (v.type === 'float16' && d instanceof Uint16Array) return Float32Array.from(d, halfToFloat);
  if (v.type === 'float32' || v.type === 'float64') return Float32Array.from(d);
  throw new RuntimeError(`the class scores are ${v.type}; gapify cam needs a float output`);
}

function softmax(x: Float32Array): Float32Array {
  let m = -Infinity;
  for (const v of x) m = Math.max(m, v);
  const e = Float32Array.from(x, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Scores, probabilities and maps of one image: everything but the picture. */
export async function classActivationMaps(modelPath: string, imagePath: string, opts: CamOptions = {}): Promise<CamResult> {
  const log = opts.log ?? (() => {});
  if (opts.classIndex !== undefined && opts.top !== undefined) throw new UsageError('--class and --top exclude each other');
  const mean = opts.mean ?? IMAGENET_MEAN;
  const std = opts.std ?? IMAGENET_STD;
  const notes: string[] = [];

  const file = readModel(modelPath);
  const resolved = resolveInputs(file.model, NO_INPUT_SHAPES, { label: file.path });
  if (resolved.length !== 1) throw new UsageError(`gapify cam feeds one image; ${file.path} has ${resolved.length} inputs (${resolved.map((i) => `'${i.name}'`).join(', ')})`);
  const input = resolved[0]!;
  const declared = input.declared;
  const nchw = imageInputs(file.model).find((i) => i.name === input.name)?.hAxis === 2;
  if (!nchw || input.shape[1] !== 3) {
    throw new UsageError(`gapify cam feeds a [1, 3, H, W] (NCHW, RGB) image; input '${input.name}' of ${file.path} is ${shapeText(declared ?? input.shape)}`);
  }
  if (input.shape[0] !== 1) throw new UsageError(`gapify cam feeds one image; input '${input.name}' of ${file.path} has a fixed batch of ${input.shape[0]}`);
  if (input.dtype !== 'float32' && input.dtype !== 'float16') throw new UsageError(`gapify cam feeds float images; input '${input.name}' of ${file.path} is ${input.dtype}`);
  const trained: Size = [input.shape[2]!, input.shape[3]!];
  const size = typeof opts.size === 'string' ? parseSize(opts.size, '--size') : (opts.size ?? trained);
  const atTrained = size[0] === trained[0] && size[1] === trained[1];
  // Where the original accepts this size as it is (symbolic H and W), its outputs can be checked too.
  const originalRuns = atTrained || (typeof declared?.[2] !== 'number' && typeof declared?.[3] !== 'number');

  // Gapify in memory as --cam does: conv-first where a layer yields the class scores, the maps as outputs.
  log(`analysing ${file.path}`);
  const { analysis, inputs } = await analyzeWithProbe(file, NO_INPUT_SHAPES, opts.probe ?? true, log);
  const { model: rewritten, changes } = rewriteModel(analysis, { order: 'auto', cam: true });
  const cams = addCamOutputs(rewritten, file.opset, changes, alreadyGapOf(analysis));
  const cam = cams.cams[0];
  if (!cam) {
    const why = cams.skipped.map((s) => `tail at '${nodeLabel(s.at)}': ${s.reason}`).join('; ')
      || refusalsOf(analysis).map((f) => f.reason).join('; ')
      || 'no classifier tail found';
    throw new ModelError(file.path, `no class activation map: ${why}`);
  }
  if (cams.cams.length > 1) notes.push(`the model has ${cams.cams.length} class-map outputs; showing '${cam.name}'`);
  let model = cams.model;

  if (!atTrained && (typeof declared?.[2] === 'number' || typeof declared?.[3] === 'number')) {
    const plan = planSizes(model, inputs, { size: true, batch: false }, `--size ${sizeText(size)}`);
    const analysed = analyzeRewritten(model, file.opset, plan);
    const pins = remainingPins(analysed);
    if (pins.length) throw new UsageError(`--size ${sizeText(size)}: ${describePins(pins)}; the model runs at ${sizeText(trained)} only`);
    model = makeSizeDynamic(model, analysed).model;
  }

  // The image, as the network sees it.
  const { maxPixels } = opts;
  const img = await readRgb(imagePath, { maxPixels });
  const net = await readRgb(imagePath, { size: { width: size[1], height: size[0] }, maxPixels });
  const data = toNchw(net, mean, std);
  const ort = await loadOrt();
  const shape = [1, 3, size[0], size[1]];
  const feeds: Feeds = {
    [input.name]: input.dtype === 'float16'
      ? new ort.Tensor('float16', Uint16Array.from(data, floatToHalf), shape)
      : new ort.Tensor('float32', data, shape),
  };

  const originals = file.model.graph!.output.map((o) => o.name ?? '').filter((n) => n !== '');
  log(`running ${changes.length ? 'the rewritten model' : 'the model'} at ${sizeText(size)}`);
  let out: Map<string, TensorValue>;
  try {
    out = await runModel(file, model, feeds, [...new Set([cam.scores, cam.name, ...originals])]);
  } catch (e) {
    const named = e instanceof RuntimeError ? nodeFromOrtError(e.cause instanceof Error ? e.cause.message : e.message) : undefined;
    if (named && !atTrained) throw new UsageError(`--size ${sizeText(size)}: ${named.op} '${named.node}' pins the input size (onnxruntime: ${named.detail}); the model runs at ${sizeText(trained)}`);
    throw e;
  }

  let check: CamResult['check'] = { status: 'skipped', reason: `the original model is fixed at ${sizeText(trained)}` };
  if (originalRuns) {
    log('running the original model on the same image');
    const orig = await withSession({ path: file.path }, async (s) => keepOutputs(await runSession(s, file.path, feeds)));
    const tol = tolerancesFor([...orig.values()].map((v) => v.type), {});
    const compared = originals.map((name) => compareTensors(name, orig.get(name)!, out.get(name)!, tol));
    const bad = compared.filter((c) => !c.ok);
    if (bad.length) throw new VerificationError(`the in-memory rewrite of ${file.path} does not match the original on ${imagePath}: ${bad.map((c) => `'${c.name}' ${c.reason ?? 'differs'}`).join('; ')}`);
    check = { status: 'passed', outputs: compared.map((c) => ({ name: c.name, maxAbsError: c.maxAbsError })) };
  }

  const scoresT = out.get(cam.scores)!;
  const camT = out.get(cam.name)!;
  const scores = floats(scoresT);
  const maps = floats(camT);
  const [, k = 0, h = 1, w = 1] = camT.dims;
  if (camT.dims.length !== 4 || scores.length !== k) throw new RuntimeError(`class maps '${cam.name}' are ${shapeText(camT.dims)} for ${scores.length} scores; expected [1, ${scores.length}, h, w]`);
  if (h * w === 1) notes.push(`the class maps are 1×1 at ${sizeText(size)}: every pixel has the same heat; a larger --size shows where (the head is evaluated densely there)`);
  const probs = softmax(scores);
  const label = (i: number): { label?: string } => (opts.labels?.[i] !== undefined ? { label: opts.labels[i]! } : {});
  if (opts.labels && opts.labels.length !== k) notes.push(`${opts.labels.length} labels for ${k} classes`);
  const order = Array.from({ length: k }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  const rankOf = new Map(order.map((c, r) => [c, r + 1]));
  const score = (i: number): ClassScore => ({ index: i, ...label(i), score: scores[i]!, prob: probs[i]! });

  let chosen: number[];
  if (opts.classIndex !== undefined) {
    if (!Number.isInteger(opts.classIndex) || opts.classIndex < 0 || opts.classIndex >= k) throw new UsageError(`--class ${opts.classIndex}: the model has classes 0 to ${k - 1}`);
    chosen = [opts.classIndex];
  } else {
    const n = opts.top ?? 1;
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--top ${n}: expected a positive integer`);
    chosen = order.slice(0, Math.min(n, k));
  }
  const classes = chosen.map((i): ClassActivation => ({
    ...score(i), rank: rankOf.get(i)!, map: maps.slice(i * h * w, (i + 1) * h * w), mapHeight: h, mapWidth: w,
  }));
  return {
    model: file.path, image: imagePath, imageWidth: img.width, imageHeight: img.height,
    inputName: input.name, inputSize: size, mean, std,
    scores: cam.scores, camOutput: cam.name, source: cam.source, check,
    top: order.slice(0, Math.max(5, chosen.length)).map(score), classes, notes,
  };
}

/** Legend lines of one class. */
export function legendLines(c: ClassActivation): string[] {
  return [`#${c.rank} class ${c.index}${c.label ? ` ${c.label}` : ''}`, `score ${scoreText(c.score)}  p ${scoreText(c.prob)}`];
}

/** The heatmap PNG of `result` (one panel per class, side by side), at the image's own size. */
export async function renderCams(result: CamResult, opts: { alpha?: number; maxPixels?: number } = {}): Promise<Buffer> {
  const img = await readRgb(result.image, { maxPixels: opts.maxPixels });
  const specs: PanelSpec[] = result.classes.map((c) => ({ map: c.map, mapHeight: c.mapHeight, mapWidth: c.mapWidth, legend: legendLines(c) }));
  return renderCamPng(img, specs, opts.alpha ?? DEFAULT_ALPHA);
}

/** Reads a labels file: one class name per line (blank lines count). */
export function readLabels(path: string): string[] {
  let text: string;
  try {
    text = readRegularFile(path).toString('utf8');
  } catch (e) {
    if (e instanceof NotARegularFile) throw new UsageError(`--labels ${path}: is not a regular file (${e.kind})`);
    throw new UsageError(`--labels ${path}: ${(e as NodeJS.ErrnoException).code ?? firstLine(e)}`);
  }
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  return lines;
}
