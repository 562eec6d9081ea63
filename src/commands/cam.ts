// `gapify cam <model> <image>`: class activation maps of a classifier on an image, as a heatmap PNG.

import { basename, dirname, extname, join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { UsageError } from '../errors.js';
import { inputFilesOf, readModelLazy, stageChunks } from '../onnx/model-io.js';
import { checkOutputPath } from '../output-path.js';
import { classActivationMaps, DEFAULT_MAX_PIXELS, IMAGENET_MEAN, IMAGENET_STD, parseTriple, readLabels, renderCams, type CamResult } from '../cam/index.js';
import { DEFAULT_ALPHA } from '../cam/render.js';
import { errorText, jsonText, printLines, scoreText, shapeText, sizeText } from '../text.js';
import type { CliIO } from './io.js';

interface CamFlags {
  output?: string;
  class?: number;
  top?: number;
  mean?: string;
  std?: string;
  size?: string;
  labels?: string;
  alpha: number;
  maxPixels: number;
  json?: boolean;
}

const EXAMPLES = `
Examples:
  $ gapify cam resnet50.onnx cat.jpg                    writes cat.cam.png: heatmap of the top class
  $ gapify cam resnet50.onnx cat.jpg --top 3 -o top3.png   three panels side by side, best first
  $ gapify cam vgg16.onnx cat.jpg --class 281 --size 448x448 --labels imagenet.txt

The model is gapified in memory (conv-first) unless it already pools class maps (SqueezeNet, or a
model gapify wrote). Pixels are scaled to [0, 1], then (x − mean) / std, fed as [1, 3, H, W] RGB.
Exit codes: 0 done, 1 the in-memory rewrite did not match the original, 2 bad input or usage.`;

function parseIndex(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

function parsePositive(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function parseAlpha(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0 && n <= 1)) throw new InvalidArgumentError('expected a number from 0 to 1');
  return n;
}

export function defaultCamPath(image: string): string {
  const ext = extname(image);
  return join(dirname(resolve(image)), `${basename(image, ext)}.cam.png`);
}

export function formatCam(r: CamResult, output: string): string {
  const lines = [`gapify cam ${r.model} ${r.image}`];
  lines.push(`  image ${r.imageWidth}×${r.imageHeight} → input '${r.inputName}' ${shapeText([1, 3, ...r.inputSize])}, mean ${r.mean.join(',')}, std ${r.std.join(',')}`);
  const c = r.classes[0];
  const mapSize = c ? sizeText([c.mapHeight, c.mapWidth]) : '?';
  lines.push(`  class maps: '${r.camOutput}' ${mapSize} per class, ${r.source === 'gap-head' ? 'the GAP head\'s own' : 'from the rewrite in memory (conv-first)'}; '${r.scores}' is their mean`);
  lines.push(r.check.status === 'passed'
    ? `  check: the original model gives the same outputs on this image (${r.check.outputs.map((o) => `${o.name} max abs ${errorText(o.maxAbsError)}`).join(', ')})`
    : `  check: skipped (${r.check.reason})`);
  lines.push('  top classes:');
  for (const [i, t] of r.top.entries()) lines.push(`    ${String(i + 1).padStart(2)}. class ${String(t.index).padEnd(5)} score ${scoreText(t.score).padStart(8)}  p ${t.prob.toFixed(3)}${t.label ? `  ${t.label}` : ''}`);
  for (const n of r.notes) lines.push(`  note: ${n}`);
  const shown = r.classes.map((k) => `class ${k.index}`).join(', ');
  lines.push(`  wrote ${output} (${shown}${r.classes.length > 1 ? ', one panel each, left to right' : ''})`);
  return printLines(lines);
}

export function camCommand(io: CliIO): Command {
  return new Command('cam')
    .description('class activation maps of a classifier on an image: print the top classes, write a heatmap PNG')
    .argument('<model>', 'ONNX classifier (any tail gapify rewrites, or a GAP head)')
    .argument('<image>', 'image file (JPEG, PNG, WebP, …)')
    .option('-o, --output <path>', 'PNG to write (default: <image>.cam.png beside the image)')
    .option('--class <k>', 'show the map of class k', parseIndex)
    .option('--top <n>', 'show the n best classes, one panel each, side by side (default 1)', parsePositive)
    .option('--mean <r,g,b>', `per-channel mean on [0, 1] pixels (default ${IMAGENET_MEAN.join(',')})`)
    .option('--std <r,g,b>', `per-channel std on [0, 1] pixels (default ${IMAGENET_STD.join(',')})`)
    .option('--size <HxW>', "input size to resize the image to (default: the model's)")
    .option('--labels <file>', 'class names, one per line')
    .option('--alpha <a>', 'heatmap opacity over the image', parseAlpha, DEFAULT_ALPHA)
    .option('--max-pixels <n>', 'refuse images with more pixels than this (a guard against decompression bombs)', parsePositive, DEFAULT_MAX_PIXELS)
    .option('--json', 'print the result as JSON on stdout (maps included)')
    .addHelpText('after', EXAMPLES)
    .action(async (model: string, image: string, flags: CamFlags) => {
      if (flags.class !== undefined && flags.top !== undefined) throw new UsageError('--class and --top exclude each other');
      const output = resolve(flags.output ?? defaultCamPath(image));
      // The PNG may be none of the files read: the model, its data files, the image.
      const inputs = [...inputFilesOf(readModelLazy(model, { keepOpen: false }), 'the model'), { path: resolve(image), role: `the image (${image})` }];
      checkOutputPath(output, { inputs });
      const result = await classActivationMaps(model, image, {
        ...(flags.class !== undefined ? { classIndex: flags.class } : {}),
        ...(flags.top !== undefined ? { top: flags.top } : {}),
        ...(flags.mean !== undefined ? { mean: parseTriple(flags.mean, '--mean') } : {}),
        ...(flags.std !== undefined ? { std: parseTriple(flags.std, '--std', true) } : {}),
        ...(flags.size !== undefined ? { size: flags.size } : {}),
        ...(flags.labels !== undefined ? { labels: readLabels(flags.labels) } : {}),
        maxPixels: flags.maxPixels,
        log: io.progress,
      });
      const png = await renderCams(result, { alpha: flags.alpha, maxPixels: flags.maxPixels });
      (await stageChunks(output, [png], undefined, inputs)).commit(); // temp file + rename: never a half-written picture
      if (flags.json) {
        const classes = result.classes.map(({ map, ...rest }) => ({
          ...rest,
          map: Array.from({ length: rest.mapHeight }, (_, y) => Array.from(map.subarray(y * rest.mapWidth, (y + 1) * rest.mapWidth))),
        }));
        io.out(jsonText({ ...result, classes, output }));
      } else {
        io.out(formatCam(result, output));
      }
    });
}
