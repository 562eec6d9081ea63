// Which inputs are images, which of their axes are height and width (the batch is axis 0), and the
// points the size analysis and --dynamic-size look at: the trained size and batch, the probes
// (one per dim that may change, to tell which dims of each value follow which), and the sizes the
// freed model is checked at.
//
// Other sizes are the trained one plus whole steps of the network's stride (stride.ts): at those,
// every strided Conv and pool scales exactly, so a check fails only where something really pins
// the size, not on a rounding of an odd map.

import { UsageError } from '../errors.js';
import type { ModelProto } from '../onnx/schema.js';
import { shapeText, sizeText } from '../text.js';
import { declaredInputs, isChannelsLast, type DeclaredInput, type ResolvedInput } from '../verify/inputs.js';

/** [height, width]. */
export type Size = readonly [number, number];

/** Names written for the symbolic dims of the (first) image input. */
export const HEIGHT_PARAM = 'height';
export const WIDTH_PARAM = 'width';
export const BATCH_PARAM = 'batch';

/** The batch the freed model is also checked at (2 when it was traced at 3). */
const CHECK_BATCH = 3;

/** Largest input a check feeds (elements), as verification's inputs. */
const MAX_INPUT_ELEMENTS = 2 ** 28;

/** `320x320`, `320×240` or `320` (square) → [h, w]; anything else is a UsageError naming `flag`. */
export function parseSize(text: string, flag: string): Size {
  const m = /^\s*(\d+)\s*(?:[x×X,]\s*(\d+))?\s*$/.exec(text);
  const h = m ? Number(m[1]) : NaN;
  const w = m ? Number(m[2] ?? m[1]) : NaN;
  if (!Number.isSafeInteger(h) || !Number.isSafeInteger(w) || h < 1 || w < 1) {
    throw new UsageError(`${flag} '${text}': expected HxW with positive integers, e.g. 320x320`);
  }
  return [h, w];
}

/** One image input: which of its axes are height and width. */
export interface ImageInput {
  readonly name: string;
  readonly hAxis: number;
  readonly wAxis: number;
}

/** The image axes of an input: rank 4, NCHW unless it looks like NHWC (isChannelsLast); else undefined. */
export function imageAxes(input: DeclaredInput): ImageInput | undefined {
  if (input.dims?.length !== 4) return undefined;
  return isChannelsLast(input.dims) ? { name: input.name, hAxis: 1, wAxis: 2 } : { name: input.name, hAxis: 2, wAxis: 3 };
}

/** The fed inputs that are images. */
export function imageInputs(model: ModelProto): ImageInput[] {
  return declaredInputs(model).flatMap((d) => imageAxes(d) ?? []);
}

/** What may change: the images' height and width, their batch. */
export interface Freedom {
  readonly size: boolean;
  readonly batch: boolean;
}

/** A size and a batch, with every fed input's shape there. */
export interface SizePoint {
  readonly size: Size;
  readonly batch: number;
  readonly inputs: readonly ResolvedInput[];
}

export interface SizePlan {
  readonly images: readonly ImageInput[];
  readonly trained: SizePoint;
  readonly free: Freedom;
  /** The model declares the images' batch symbolic. */
  readonly batchWasSymbolic: boolean;
}

/** What a probe changes: the height, the width, or the batch. */
export type ProbeAxis = 'H' | 'W' | 'N';

export interface Probe {
  readonly axis: ProbeAxis;
  readonly point: SizePoint;
}

/** The plan, or why there is none: no image input, or images of different sizes or batches. */
export function trySizePlan(model: ModelProto, inputs: readonly ResolvedInput[], free: Freedom): SizePlan | string {
  const images = imageInputs(model).filter((im) => inputs.some((i) => i.name === im.name));
  if (images.length === 0) {
    const list = inputs.map((i) => `'${i.name}' ${shapeText(i.shape)}`).join(', ') || 'none';
    return `the model has no image input of rank 4 (inputs: ${list})`;
  }
  const fed = images.map((im) => inputs.find((i) => i.name === im.name)!);
  const sizes = images.map((im, k): Size => [fed[k]!.shape[im.hAxis]!, fed[k]!.shape[im.wAxis]!]);
  const trained = sizes[0]!;
  if (sizes.some((s) => s[0] !== trained[0] || s[1] !== trained[1])) {
    return `the image inputs have different sizes (${sizes.map(sizeText).join(', ')}); gapify scales them together`;
  }
  const batch = fed[0]!.shape[0]!;
  if (fed.some((i) => i.shape[0] !== batch)) return `the image inputs have different batches (${fed.map((i) => i.shape[0]).join(', ')})`;
  const batchWasSymbolic = typeof fed[0]!.declared?.[0] !== 'number';
  return { images, trained: { size: trained, batch, inputs }, free, batchWasSymbolic };
}

/**
 * The plan for --dynamic-size / --dynamic-batch (`flag` names it); a UsageError when there is none.
 * A batch the model declares symbolic is free too: the model claims any batch, and a Reshape freed
 * for the size must not fix it.
 */
export function planSizes(model: ModelProto, inputs: readonly ResolvedInput[], free: Freedom, flag: string): SizePlan {
  const plan = trySizePlan(model, inputs, free);
  if (typeof plan === 'string') throw new UsageError(`${flag}: ${plan}`);
  return withDeclaredBatch(plan);
}

/** A batch the model declares symbolic is free whatever was asked: a freed Reshape must not fix it. */
export function withDeclaredBatch(plan: SizePlan): SizePlan {
  return plan.batchWasSymbolic ? { ...plan, free: { ...plan.free, batch: true } } : plan;
}

/** Every fed input at `size` and `batch` (only the images change). */
export function pointAt(plan: SizePlan, size: Size, batch: number): SizePoint {
  const inputs = plan.trained.inputs.map((i) => {
    const im = plan.images.find((x) => x.name === i.name);
    if (!im) return i;
    const shape = [...i.shape];
    shape[0] = batch;
    shape[im.hAxis] = size[0];
    shape[im.wAxis] = size[1];
    if (shape.reduce((a, b) => a * b, 1) > MAX_INPUT_ELEMENTS) {
      throw new UsageError(`${sizeText(size)} at batch ${batch}: input '${i.name}' would have ${shape.join('×')} elements, more than gapify feeds (${MAX_INPUT_ELEMENTS})`);
    }
    return { ...i, shape };
  });
  return { size, batch, inputs };
}

/** `base` scaled by `factor`, in whole steps of `stride` (at least one step). */
function stepped(base: number, factor: number, stride: number): number {
  return base + Math.max(1, Math.round((base * (factor - 1)) / stride)) * stride;
}

/** A batch other than the trained one. */
const otherBatch = (trained: number): number => (trained === CHECK_BATCH ? 2 : CHECK_BATCH);

/** One probe per free dim: the height alone 1.5× (in whole strides), then the width alone, then the batch. */
export function probePoints(plan: SizePlan, stride: Size): Probe[] {
  const [h, w] = plan.trained.size;
  const { batch } = plan.trained;
  const probes: Probe[] = [];
  if (plan.free.size) {
    probes.push({ axis: 'H', point: pointAt(plan, [stepped(h, 1.5, stride[0]), w], batch) });
    probes.push({ axis: 'W', point: pointAt(plan, [h, stepped(w, 1.5, stride[1])], batch) });
  }
  if (plan.free.batch) probes.push({ axis: 'N', point: pointAt(plan, [h, w], otherBatch(batch)) });
  return probes;
}

/**
 * Where the freed model is compared with its reference: 1.5× and a non-square size (both in whole
 * strides), or the sizes the user gave; with a free batch also the last of them at batch 3 (the
 * trained size when only the batch is free).
 */
export function checkPoints(plan: SizePlan, stride: Size, also: readonly Size[] = []): SizePoint[] {
  const [h, w] = plan.trained.size;
  const { batch } = plan.trained;
  let sizes: Size[] = [];
  if (plan.free.size) {
    if (also.length) sizes = [...also];
    else {
      const wide: Size = [stepped(h, 1.25, stride[0]), stepped(w, 1.75, stride[1])];
      sizes = [[stepped(h, 1.5, stride[0]), stepped(w, 1.5, stride[1])], wide[0] === wide[1] ? [wide[0], wide[1] + stride[1]] : wide];
    }
  }
  const points = sizes.map((s) => pointAt(plan, s, batch));
  if (plan.free.batch) points.push(pointAt(plan, sizes.at(-1) ?? [h, w], otherBatch(batch)));
  return points;
}

/** `352×352`, `224×224 batch 3` when the batch differs from the trained one. */
export function pointText(p: Pick<SizePoint, 'size' | 'batch'>, trainedBatch: number): string {
  return p.batch === trainedBatch ? sizeText(p.size) : `${sizeText(p.size)} batch ${p.batch}`;
}
