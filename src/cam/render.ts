// Heatmap pictures of class activation maps: the map of a class, upsampled to the image, coloured
// with a jet-like colormap and alpha-blended over the image, with a legend (class, score,
// probability, a low→high colour bar) drawn as SVG text and composited by sharp (librsvg renders it).
//
//   out = alpha · jet(v) + (1 − alpha) · image        v = (m − min m) / (max m − min m), upsampled
//
// Several classes (--top N) give one panel per class, side by side, left to right by score.

import { loadSharp, type RgbImage } from './image.js';

/** Opacity of the heatmap over the image. */
export const DEFAULT_ALPHA = 0.5;

/** One class's map and what the legend says about it. */
export interface PanelSpec {
  /** Class map, row-major h×w (raw values; normalised here). */
  readonly map: Float32Array | readonly number[];
  readonly mapHeight: number;
  readonly mapWidth: number;
  /** Legend lines, e.g. ['#1 class 281 tabby', 'score 9.12 · p 0.873']. */
  readonly legend: readonly string[];
}

/** Jet-like colormap: dark blue → blue → cyan → yellow → red → dark red, for v in [0, 1]. */
export function jet(v: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, v));
  const ch = (c: number): number => Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * x - c))));
  return [ch(3), ch(2), ch(1)];
}

/** The map scaled to [0, 1] (min → 0, max → 1); all zeros when it is flat. */
export function normalizeMap(map: ArrayLike<number>): Float32Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < map.length; i++) {
    const v = map[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const out = new Float32Array(map.length);
  const span = hi - lo;
  if (!(span > 0) || !Number.isFinite(span)) return out;
  for (let i = 0; i < map.length; i++) out[i] = (map[i]! - lo) / span;
  return out;
}

/** The normalised map, upsampled to width×height by sharp (bilinear), as 8-bit values. */
export async function upsampleMap(spec: Pick<PanelSpec, 'map' | 'mapHeight' | 'mapWidth'>, width: number, height: number): Promise<Uint8Array> {
  const sharp = await loadSharp();
  const norm = normalizeMap(spec.map);
  const bytes = Uint8Array.from(norm, (v) => Math.round(v * 255));
  const buf = await sharp(bytes, { raw: { width: spec.mapWidth, height: spec.mapHeight, channels: 1 } })
    .resize(width, height, { fit: 'fill', kernel: 'linear' })
    .extractChannel(0) // libvips hands a resized one-band raw image back as sRGB: keep one band
    .raw()
    .toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

const escapeXml = (s: string): string => s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);

/** The legend as an SVG the size of the panel: a dark box at the top left with the lines and a colour bar. */
export function legendSvg(width: number, height: number, lines: readonly string[]): string {
  const fs = Math.max(9, Math.min(32, Math.round(Math.min(width, height) / 18)));
  const pad = Math.round(fs * 0.5);
  const lineH = Math.round(fs * 1.3);
  const barH = Math.max(4, Math.round(fs * 0.6));
  const longest = Math.max(...lines.map((l) => l.length), 8);
  const boxW = Math.min(width - 2, Math.round(longest * fs * 0.62) + 2 * pad);
  const barY = 1 + pad + lines.length * lineH + Math.round(fs * 0.2);
  const boxH = Math.min(height - 2, barY + barH + pad - 1);
  const stops = [0, 0.25, 0.5, 0.75, 1].map((v) => {
    const [r, g, b] = jet(v);
    return `<stop offset="${v}" stop-color="rgb(${r},${g},${b})"/>`;
  }).join('');
  const text = lines.map((l, i) => `<text x="${1 + pad}" y="${1 + pad + (i + 1) * lineH - Math.round(fs * 0.3)}">${escapeXml(l)}</text>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">`
    + `<defs><linearGradient id="jet" x1="0" x2="1" y1="0" y2="0">${stops}</linearGradient></defs>`
    + `<rect x="1" y="1" width="${boxW}" height="${boxH}" rx="${Math.round(fs / 4)}" fill="black" fill-opacity="0.6"/>`
    + `<g font-family="DejaVu Sans, Arial, Helvetica, sans-serif" font-size="${fs}" fill="white">${text}</g>`
    + `<rect x="${1 + pad}" y="${barY}" width="${boxW - 2 * pad}" height="${barH}" fill="url(#jet)"/>`
    + '</svg>';
}

/** One panel: the heatmap of `spec` over `image`, legend on top, as raw RGB. */
export async function renderPanel(image: RgbImage, spec: PanelSpec, alpha = DEFAULT_ALPHA): Promise<RgbImage> {
  const sharp = await loadSharp();
  const { width, height } = image;
  const v = await upsampleMap(spec, width, height);
  const heat = new Uint8Array(width * height * 4);
  const a = Math.round(Math.min(1, Math.max(0, alpha)) * 255);
  for (let p = 0; p < width * height; p++) {
    const [r, g, b] = jet(v[p]! / 255);
    heat[p * 4] = r;
    heat[p * 4 + 1] = g;
    heat[p * 4 + 2] = b;
    heat[p * 4 + 3] = a;
  }
  const out = await sharp(image.data, { raw: { width, height, channels: 3 } })
    .composite([
      { input: Buffer.from(heat.buffer, heat.byteOffset, heat.length), raw: { width, height, channels: 4 }, blend: 'over' },
      { input: Buffer.from(legendSvg(width, height, spec.legend)), blend: 'over' },
    ])
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: out.info.width, height: out.info.height, data: new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.length) };
}

/** Panels for each spec, side by side (left to right), encoded as one PNG. */
export async function renderCamPng(image: RgbImage, specs: readonly PanelSpec[], alpha = DEFAULT_ALPHA): Promise<Buffer> {
  const sharp = await loadSharp();
  const panels: RgbImage[] = [];
  for (const s of specs) panels.push(await renderPanel(image, s, alpha));
  if (panels.length === 1) {
    const p = panels[0]!;
    return sharp(p.data, { raw: { width: p.width, height: p.height, channels: 3 } }).png().toBuffer();
  }
  return sharp({ create: { width: image.width * panels.length, height: image.height, channels: 3, background: { r: 0, g: 0, b: 0 } } })
    .composite(panels.map((p, i) => ({ input: Buffer.from(p.data.buffer, p.data.byteOffset, p.data.length), raw: { width: p.width, height: p.height, channels: 3 as const }, left: i * image.width, top: 0 })))
    .removeAlpha()
    .png()
    .toBuffer();
}
