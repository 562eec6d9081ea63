// Which inputs are images, which of their axes are height and width, and the second size the size
// analysis (lint's fixed-input-size, --dynamic-size, gapify cam --size) compares with the trained one.

import { UsageError } from '../errors.js';
import type { ModelProto } from '../onnx/schema.js';
import { shapeText, sizeText } from '../text.js';
import { declaredInputs, isChannelsLast, type DeclaredInput, type ResolvedInput } from '../verify/inputs.js';

/** [height, width]. */
export type Size = readonly [number, number];

export const DEFAULT_SIZE_FACTOR = 1.5;

/** Names written for the symbolic dims of the (first) image input. */
export const HEIGHT_PARAM = 'height';
export const WIDTH_PARAM = 'width';

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

/** The one second-size rule: what --also-size says, else 1.5× the trained size. */
export function secondSize(trained: Size, also?: Size): Size {
  return also ?? [Math.round(trained[0] * DEFAULT_SIZE_FACTOR), Math.round(trained[1] * DEFAULT_SIZE_FACTOR)];
}

/** Each fed input's shape at the trained size and at the second one. */
export interface SizePlan {
  readonly images: readonly ImageInput[];
  readonly trained: Size;
  readonly also: Size;
  /** Every fed input as verification feeds it (trained size). */
  readonly inputs: readonly ResolvedInput[];
  /** The same inputs at the second size. */
  readonly alsoInputs: readonly ResolvedInput[];
}

/** The plan, or why there is none: no image input, or images of different sizes. */
export function trySizePlan(model: ModelProto, inputs: readonly ResolvedInput[], also?: Size): SizePlan | string {
  const images = imageInputs(model).filter((im) => inputs.some((i) => i.name === im.name));
  if (images.length === 0) {
    const list = inputs.map((i) => `'${i.name}' ${shapeText(i.shape)}`).join(', ') || 'none';
    return `the model has no image input of rank 4 (inputs: ${list})`;
  }
  const sizes = images.map((im): Size => {
    const r = inputs.find((i) => i.name === im.name)!;
    return [r.shape[im.hAxis]!, r.shape[im.wAxis]!];
  });
  const trained = sizes[0]!;
  if (sizes.some((s) => s[0] !== trained[0] || s[1] !== trained[1])) {
    return `the image inputs have different sizes (${sizes.map(sizeText).join(', ')}); gapify scales them together`;
  }
  const second = secondSize(trained, also);
  const alsoInputs = inputs.map((i) => {
    const im = images.find((x) => x.name === i.name);
    if (!im) return i;
    const shape = [...i.shape];
    shape[im.hAxis] = second[0];
    shape[im.wAxis] = second[1];
    return { ...i, shape };
  });
  return { images, trained, also: second, inputs, alsoInputs };
}

/** The plan for --dynamic-size; a UsageError when there is none. */
export function planSizes(model: ModelProto, inputs: readonly ResolvedInput[], also?: Size): SizePlan {
  const plan = trySizePlan(model, inputs, also);
  if (typeof plan === 'string') throw new UsageError(`--dynamic-size: ${plan}`);
  return plan;
}
