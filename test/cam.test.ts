// `gapify cam` and --cam against real onnxruntime and real sharp (no mocks), on a classifier built
// in code whose classes can only look at one half of the test image:
//
//   input [N,3,32,32] ─ Conv 4×4 stride 4 (3→3) ─ Relu ─ [N,3,8,8] ─ GlobalAveragePool ─ Flatten ─ Gemm (3→3) ─ logits [N,3]
//     channel 0 = ReLU(R − B): fires on red pixels     → class 0 = 2·channel 0   ("red")
//     channel 1 = ReLU(B − R): fires on blue pixels    → class 1 = 2·channel 1   ("blue")
//     channel 2 = ReLU(G):     never fires here        → class 2 = channel 2 + 0.5
//
// The test image (made with sharp from raw pixels) is red on the left half and blue on the right,
// so class 0's map must be hot on the left and class 1's on the right.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { classActivationMaps, jet, normalizeMap, renderCams } from '../src/cam/index.js';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/onnx/builder.js';
import { encode } from '../src/onnx/codec.js';
import { readModel } from '../src/onnx/model-io.js';
import { DataType, type ModelProto } from '../src/onnx/schema.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../../fixtures/cam/', import.meta.url));
const IMAGE_W = 160;
const IMAGE_H = 120;

let dir = '';
before(() => { dir = mkdtempSync(join(tmpdir(), 'gapify-cam-')); });
after(() => rmSync(dir, { recursive: true, force: true }));

function gapify(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The red/blue classifier above. */
export function redBlueModel(): ModelProto {
  const k = 16; // 4×4 taps
  const w = new Array<number>(3 * 3 * k).fill(0);
  const tap = (o: number, c: number, v: number): void => { for (let t = 0; t < k; t++) w[(o * 3 + c) * k + t] = v / k; };
  tap(0, 0, 1); tap(0, 2, -1); // R − B
  tap(1, 2, 1); tap(1, 0, -1); // B − R
  tap(2, 1, 1); // G
  const fc = [2, 0, 0, 0, 2, 0, 0, 0, 1];
  const graph = makeGraph(
    [
      makeNode('Conv', ['input', 'conv.weight'], ['/conv/Conv_output_0'], { kernel_shape: [4, 4], strides: [4, 4] }, '/conv/Conv'),
      makeNode('Relu', ['/conv/Conv_output_0'], ['/relu/Relu_output_0'], {}, '/relu/Relu'),
      makeNode('GlobalAveragePool', ['/relu/Relu_output_0'], ['/avgpool/GlobalAveragePool_output_0'], {}, '/avgpool/GlobalAveragePool'),
      makeNode('Flatten', ['/avgpool/GlobalAveragePool_output_0'], ['/Flatten_output_0'], { axis: 1 }, '/Flatten'),
      makeNode('Gemm', ['/Flatten_output_0', 'fc.weight', 'fc.bias'], ['logits'], { transB: 1 }, '/fc/Gemm'),
    ],
    'red_blue',
    [makeValueInfo('input', DataType.FLOAT, ['N', 3, 32, 32])],
    [makeValueInfo('logits', DataType.FLOAT, ['N', 3])],
    [makeTensor('conv.weight', DataType.FLOAT, [3, 3, 4, 4], w), makeTensor('fc.weight', DataType.FLOAT, [3, 3], fc), makeTensor('fc.bias', DataType.FLOAT, [3], [0, 0, 0.5])],
  );
  return makeModel(graph, { opset: 13 });
}

/** Red on the left half, blue on the right, as raw RGB. */
function redBluePixels(): Buffer {
  const d = Buffer.alloc(IMAGE_W * IMAGE_H * 3);
  for (let y = 0; y < IMAGE_H; y++) {
    for (let x = 0; x < IMAGE_W; x++) d[(y * IMAGE_W + x) * 3 + (x < IMAGE_W / 2 ? 0 : 2)] = 255;
  }
  return d;
}

async function redBlueImage(path: string): Promise<void> {
  await sharp(redBluePixels(), { raw: { width: IMAGE_W, height: IMAGE_H, channels: 3 } }).png().toFile(path);
}

let modelPath = '';
let imagePath = '';
before(async () => {
  modelPath = join(dir, 'red_blue.onnx');
  writeFileSync(modelPath, encode('onnx.ModelProto', redBlueModel()));
  imagePath = join(dir, 'red_left_blue_right.png');
  await redBlueImage(imagePath);
  // GAPIFY_WRITE_FIXTURES=1 regenerates the committed copies (the README's example).
  if (process.env.GAPIFY_WRITE_FIXTURES === '1') {
    writeFileSync(join(FIXTURES, 'red_blue.onnx'), readFileSync(modelPath));
    writeFileSync(join(FIXTURES, 'red_left_blue_right.png'), readFileSync(imagePath));
  }
});

const meanOf = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** Mean of `map` (row-major h×w) over the left and the right half of its columns. */
function halves(map: ArrayLike<number>, h: number, w: number): { left: number; right: number } {
  const left: number[] = [];
  const right: number[] = [];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) (x < w / 2 ? left : right).push(map[y * w + x]!);
  return { left: meanOf(left), right: meanOf(right) };
}

/**
 * The heat the overlay shows, per pixel: the blend is out = a·jet + (1 − a)·image, so
 * jet = (out − (1 − a)·image) / a; its red minus blue is +128 where hot, −128 where cold.
 * Only rows below the legend (the bottom half) are measured.
 */
async function overlayHeat(png: Buffer, panel: number, alpha = Math.round(0.5 * 255) / 255): Promise<{ left: number; right: number }> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const img = redBluePixels();
  const left: number[] = [];
  const right: number[] = [];
  for (let y = Math.ceil(IMAGE_H / 2); y < IMAGE_H; y++) {
    for (let x = 0; x < IMAGE_W; x++) {
      const o = (y * info.width + panel * IMAGE_W + x) * 3;
      const i = (y * IMAGE_W + x) * 3;
      const r = (data[o]! - (1 - alpha) * img[i]!) / alpha;
      const b = (data[o + 2]! - (1 - alpha) * img[i + 2]!) / alpha;
      (x < IMAGE_W / 2 ? left : right).push(r - b);
    }
  }
  return { left: meanOf(left), right: meanOf(right) };
}

describe('class activation maps (library)', () => {
  test('class 0 (red) is hot on the left, class 1 (blue) on the right; each score is its map\'s mean', async () => {
    const red = await classActivationMaps(modelPath, imagePath, { classIndex: 0, probe: false });
    const c0 = red.classes[0]!;
    assert.equal(red.source, 'rewritten');
    assert.equal(red.camOutput, 'logits_cam');
    assert.deepEqual([c0.mapHeight, c0.mapWidth], [8, 8]);
    const h0 = halves(c0.map, 8, 8);
    assert.ok(h0.left > 1 && h0.right === 0, `class 0: left ${h0.left}, right ${h0.right}`);
    assert.ok(Math.abs(meanOf([...c0.map]) - c0.score) < 1e-4, 'the score is the mean of the map');
    assert.equal(red.check.status, 'passed', 'the original model agrees on the image');

    const blue = await classActivationMaps(modelPath, imagePath, { classIndex: 1, probe: false });
    const h1 = halves(blue.classes[0]!.map, 8, 8);
    assert.ok(h1.right > 1 && h1.left === 0, `class 1: left ${h1.left}, right ${h1.right}`);
    // Blue's activation (|B − R| on blue pixels) is larger than red's after ImageNet normalisation.
    assert.deepEqual(blue.top.slice(0, 3).map((t) => t.index), [1, 0, 2]);
    const p = blue.top.reduce((s, t) => s + t.prob, 0);
    assert.ok(Math.abs(p - 1) < 1e-5, 'probabilities are a softmax over all classes');
  });

  test('the rendered overlay is hot (red) on the left for class 0, at the image size', async () => {
    const result = await classActivationMaps(modelPath, imagePath, { classIndex: 0, probe: false });
    const png = await renderCams(result);
    const meta = await sharp(png).metadata();
    assert.equal(meta.format, 'png');
    assert.deepEqual([meta.width, meta.height], [IMAGE_W, IMAGE_H]);
    const heat = await overlayHeat(png, 0);
    assert.ok(heat.left > 100 && heat.right < -100, `overlay heat: left ${heat.left}, right ${heat.right}`);
  });

  test('--size runs a fixed-size model at another size (in memory, made dynamic): bigger maps', async () => {
    const r = await classActivationMaps(modelPath, imagePath, { classIndex: 0, size: '64x64', probe: false });
    const c = r.classes[0]!;
    assert.deepEqual([c.mapHeight, c.mapWidth], [16, 16]);
    assert.equal(r.check.status, 'skipped');
    const h = halves(c.map, 16, 16);
    assert.ok(h.left > 1 && h.right === 0);
  });

  test('normalizeMap and jet: min → deep blue, max → deep red, flat → zeros', () => {
    assert.deepEqual([...normalizeMap([2, 4, 6])], [0, 0.5, 1]);
    assert.deepEqual([...normalizeMap([3, 3])], [0, 0]);
    assert.deepEqual(jet(0), [0, 0, 128]);
    assert.deepEqual(jet(1), [128, 0, 0]);
    assert.deepEqual(jet(0.5), [128, 255, 128]);
  });
});

describe('gapify cam (CLI)', () => {
  test('writes a PNG the size of the image, prints the top classes; the overlay is hot on the left for class 0', async () => {
    const out = join(dir, 'class0.png');
    const r = gapify('cam', modelPath, imagePath, '-o', out, '--class', '0');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /class maps: 'logits_cam' 8×8 per class/);
    assert.match(r.stdout, /check: the original model gives the same outputs/);
    assert.match(r.stdout, / 1\. class 1 /);
    assert.match(r.stdout, /wrote .*class0\.png \(class 0\)/);
    const png = readFileSync(out);
    const meta = await sharp(png).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', IMAGE_W, IMAGE_H]);
    const heat = await overlayHeat(png, 0);
    assert.ok(heat.left > 100 && heat.right < -100, `overlay heat: left ${heat.left}, right ${heat.right}`);
  });

  test('--top 2: one panel per class side by side, best first (blue hot right, then red hot left); --json', async () => {
    const out = join(dir, 'top2.png');
    const r = gapify('cam', modelPath, imagePath, '-o', out, '--top', '2', '--json');
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout) as { classes: { index: number; rank: number; map: number[][] }[]; top: { index: number }[]; output: string };
    assert.deepEqual(json.classes.map((c) => [c.index, c.rank]), [[1, 1], [0, 2]]);
    assert.equal(json.classes[0]!.map.length, 8);
    assert.equal(json.classes[0]!.map[0]!.length, 8);
    const png = readFileSync(out);
    const meta = await sharp(png).metadata();
    assert.deepEqual([meta.width, meta.height, meta.channels], [2 * IMAGE_W, IMAGE_H, 3]);
    const blue = await overlayHeat(png, 0);
    const red = await overlayHeat(png, 1);
    assert.ok(blue.right > 100 && blue.left < -100, `panel 1 (class 1): ${JSON.stringify(blue)}`);
    assert.ok(red.left > 100 && red.right < -100, `panel 2 (class 0): ${JSON.stringify(red)}`);
  });

  test('a model gapify already wrote with --cam is a GAP head: its own map is shown, same picture', () => {
    const gap = join(dir, 'red_blue.gap.onnx');
    const w = gapify(modelPath, '-o', gap, '--cam');
    assert.equal(w.code, 0, w.stderr);
    const r = gapify('cam', gap, imagePath, '-o', join(dir, 'gap.png'), '--class', '0', '--json');
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout) as { source: string; classes: { map: number[][]; score: number }[] };
    assert.equal(json.source, 'gap-head');
    const m = json.classes[0]!.map;
    assert.ok(m.every((row) => row.slice(0, 4).every((v) => v > 1) && row.slice(4).every((v) => v === 0)));
  });

  test('usage errors exit 2 with one line: --class out of range, --class with --top, bad --mean, missing image', () => {
    const cases: [string[], RegExp][] = [
      [['--class', '7'], /--class 7: the model has classes 0 to 2/],
      [['--class', '0', '--top', '2'], /--class and --top exclude each other/],
      [['--mean', '1,2'], /--mean '1,2': expected three numbers/],
    ];
    for (const [flags, message] of cases) {
      const r = gapify('cam', modelPath, imagePath, '-o', join(dir, 'x.png'), ...flags);
      assert.equal(r.code, 2, `${flags.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
    const missing = gapify('cam', modelPath, join(dir, 'nope.png'), '-o', join(dir, 'y.png'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope\.png: cannot read the image/);
    assert.ok(!existsSync(join(dir, 'y.png')));
  });

  test('a model without class maps (MLP head) is refused, naming why', () => {
    const r = gapify('cam', fileURLToPath(new URL('../../fixtures/mobilenet_v3_small.onnx', import.meta.url)), imagePath, '-o', join(dir, 'm.png'));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no class activation map: .*not the final scores/);
  });
});

describe('decompression bombs', () => {
  test('an image over the pixel limit is refused from its header, in one line; --max-pixels moves the limit', async () => {
    // 7000×6000 of one colour: 42 megapixels (over the default 40) in a PNG of ~100 KB.
    const bomb = join(dir, 'bomb.png');
    await sharp({ create: { width: 7000, height: 6000, channels: 3, background: { r: 200, g: 0, b: 0 } } }).png().toFile(bomb);
    const r = gapify('cam', modelPath, bomb, '-o', join(dir, 'bomb.cam.png'));
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /bomb\.png: the image is 7000×6000 \(42 megapixels\), over gapify cam's limit of 40 megapixels; pass --max-pixels 42000000 to allow it/);
    assert.ok(!existsSync(join(dir, 'bomb.cam.png')));
    // The limit is the user's: the 160×120 test image (19,200 pixels) against 10,000, then 20,000.
    const small = gapify('cam', modelPath, imagePath, '-o', join(dir, 'limit.png'), '--max-pixels', '10000');
    assert.equal(small.code, 2, small.stderr);
    assert.match(small.stderr, /160×120 \(19200 pixels\), over gapify cam's limit of 10000 pixels; pass --max-pixels 19200/);
    const ok = gapify('cam', modelPath, imagePath, '-o', join(dir, 'limit.png'), '--max-pixels', '20000');
    assert.equal(ok.code, 0, ok.stderr);
  });
});

describe('fixtures/cam', () => {
  test('the committed model and image are what this file generates (GAPIFY_WRITE_FIXTURES=1 rewrites them)', async () => {
    assert.deepEqual(readFileSync(join(FIXTURES, 'red_blue.onnx')), readFileSync(modelPath));
    const { data, info } = await sharp(join(FIXTURES, 'red_left_blue_right.png')).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height, info.channels], [IMAGE_W, IMAGE_H, 3]);
    assert.ok(data.equals(redBluePixels()));
    assert.ok(readModel(join(FIXTURES, 'red_blue.onnx')).model.graph!.node.some((n) => n.op_type === 'Gemm'));
  });
});
