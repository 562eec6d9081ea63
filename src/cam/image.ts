// Images in and out, through sharp (libvips): decoding any format it reads, resizing, compositing and
// PNG encoding. gapify writes no codec of its own. sharp is imported on first use only, so the
// rewrite command never loads it.

import type { Sharp, SharpOptions } from 'sharp';
import { UsageError } from '../errors.js';
import { NotARegularFile, readRegularFile } from '../input-file.js';

type SharpFactory = (input?: string | Buffer | Uint8Array | SharpOptions, options?: SharpOptions) => Sharp;
let sharpModule: Promise<SharpFactory> | undefined;

/** Imports sharp once. */
export function loadSharp(): Promise<SharpFactory> {
  sharpModule ??= import('sharp').then((m) => m.default as unknown as SharpFactory);
  return sharpModule;
}

/** 8-bit sRGB pixels, 3 channels, row-major. */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** ImageNet statistics on [0, 1] pixel values (torchvision's transforms.Normalize defaults). */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

export type Triple = readonly [number, number, number];

/** `0.5,0.5,0.5` → a triple; anything else a UsageError naming `flag`. */
export function parseTriple(text: string, flag: string, positive = false): Triple {
  const parts = text.split(',').map((p) => Number(p.trim()));
  if (parts.length !== 3 || parts.some((n, i) => !Number.isFinite(n) || text.split(',')[i]!.trim() === '' || (positive && n <= 0))) {
    throw new UsageError(`${flag} '${text}': expected three ${positive ? 'positive ' : ''}numbers r,g,b (e.g. ${flag === '--std' ? IMAGENET_STD.join(',') : IMAGENET_MEAN.join(',')})`);
  }
  return [parts[0]!, parts[1]!, parts[2]!];
}

/**
 * Pixels `gapify cam` decodes at most (--max-pixels): a classifier sees a few hundred pixels a side,
 * and a photo rarely has more than 40 million. A PNG of 16000×16000 is under 1 MB on disk and
 * takes 3 GB to decode, which sharp's own limit (2^28 pixels) still allows.
 */
export const DEFAULT_MAX_PIXELS = 40_000_000;

export interface ReadImageOptions {
  /** Resize to exactly width×height (stretched, as classifiers are fed). */
  size?: { width: number; height: number };
  /** Refuse images with more pixels than this (default DEFAULT_MAX_PIXELS). */
  maxPixels?: number;
}

/** The image file's bytes: a FIFO or a folder is refused without blocking. */
function readImageFile(path: string): Buffer {
  try {
    return readRegularFile(path);
  } catch (e) {
    if (e instanceof NotARegularFile) throw new UsageError(`${path}: is not a regular file (${e.kind}); give an image file`);
    throw new UsageError(`${path}: cannot read the image (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}

const megapixels = (n: number): string => (n >= 1e6 ? `${+(n / 1e6).toFixed(1)} megapixels` : `${n} pixels`);

/**
 * Decodes an image file (EXIF orientation applied, alpha dropped, grey expanded) to 8-bit RGB,
 * optionally resized. Its size is read from the header first, so an image over the pixel limit
 * is refused before anything is decoded.
 */
export async function readRgb(path: string, options: ReadImageOptions = {}): Promise<RgbImage> {
  const sharp = await loadSharp();
  const bytes = readImageFile(path);
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  let header: { width?: number | undefined; height?: number | undefined };
  try {
    header = await sharp(bytes).metadata();
  } catch (e) {
    throw new UsageError(`${path}: cannot read the image (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
  }
  const pixels = (header.width ?? 0) * (header.height ?? 0);
  if (pixels > maxPixels) {
    throw new UsageError(`${path}: the image is ${header.width}×${header.height} (${megapixels(pixels)}), over gapify cam's limit of ${megapixels(maxPixels)}; pass --max-pixels ${pixels} to allow it`);
  }
  // The header could lie: sharp enforces the limit while decoding too.
  let img = sharp(bytes, { limitInputPixels: maxPixels }).autoOrient().removeAlpha().toColourspace('srgb');
  if (options.size) img = img.resize(options.size.width, options.size.height, { fit: 'fill', kernel: 'linear' });
  let out: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    out = await img.raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new UsageError(`${path}: cannot read the image (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
  }
  const { width, height, channels } = out.info;
  if (channels === 3) return { width, height, data: new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.length) };
  const data = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) data[p * 3 + c] = out.data[p * channels + Math.min(c, channels - 1)]!;
  }
  return { width, height, data };
}

/** NCHW float tensor data [1, 3, H, W] from RGB pixels: (pixel / 255 − mean) / std per channel. */
export function toNchw(img: RgbImage, mean: Triple = IMAGENET_MEAN, std: Triple = IMAGENET_STD): Float32Array {
  const plane = img.width * img.height;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) out[c * plane + p] = (img.data[p * 3 + c]! / 255 - mean[c]!) / std[c]!;
  }
  return out;
}
