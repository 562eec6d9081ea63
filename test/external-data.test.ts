// Models whose weights live in external data files: rewritten, verified through onnxruntime, and
// written with a data file of their own (`<output>.data`) that loads from wherever the output goes;
// the input's files are never modified; locations escaping the model's folder and short data files
// are refused with exit 2 and one line.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gapify } from '../src/gapify.js';
import { emptyTensor } from '../src/onnx/builder.js';
import { encode } from '../src/onnx/codec.js';
import { EXTERNAL_ALIGNMENT } from '../src/onnx/external-data.js';
import { readModel } from '../src/onnx/model-io.js';
import type { ModelProto, TensorProto } from '../src/onnx/schema.js';
import { compareModels } from '../src/verify/compare.js';
import { writeHugeExternal } from '../scripts/large-models.js';
import { classifier, opCounts, resnetTail, tempDir, type Net } from './support/models.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const tmp = tempDir('gapify-external-');
after(() => tmp.cleanup());

let counter = 0;
function freshDir(name: string): string {
  const dir = join(tmp.dir, `${name}-${counter++}`);
  mkdirSync(dir);
  return dir;
}

/**
 * Saves `model` as `<dir>/<name>` with every initializer moved to the data file `<dir>/<data>`
 * (packed back to back, unaligned, as a hand-written exporter might), or pointing wherever
 * `location` says.
 */
function saveExternal(dir: string, name: string, model: ModelProto, data = 'weights.bin', location: (t: TensorProto) => string = () => data): string {
  const graph = model.graph!;
  const blobs: Uint8Array[] = [];
  let offset = 0;
  const initializer = graph.initializer.map((t) => {
    const raw = t.raw_data!;
    const ext = emptyTensor({
      name: t.name!, data_type: t.data_type!, dims: [...t.dims], data_location: 1,
      external_data: [{ key: 'location', value: location(t) }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(raw.length) }],
    });
    blobs.push(raw);
    offset += raw.length;
    return ext;
  });
  writeFileSync(join(dir, data), Buffer.concat(blobs));
  const path = join(dir, name);
  writeFileSync(path, encode('onnx.ModelProto', { ...model, graph: { ...graph, initializer } }));
  return path;
}


/*
 *  … → GlobalAveragePool → Flatten → MatMul(fc.weight [16,32]) → Add(fc.bias [32]) → logits
 *  (the rewrite reads fc.weight from the data file and writes its 2 KB transpose: a new tensor
 *  that goes to the output's data file)
 */
const matmulTail = (): ModelProto => classifier({
  tail(net: Net, x: string) {
    const p = net.op('GlobalAveragePool', '/avgpool/GlobalAveragePool', [x]);
    const f = net.op('Flatten', '/Flatten', [p], { axis: 1 });
    const w = net.weight('fc.weight', [16, 32], net.normals(16 * 32, 0.25));
    const m = net.op('MatMul', '/fc/MatMul', [f, w]);
    net.op('Add', '/fc/Add', [m, net.weight('fc.bias', [32], net.uniforms(32, 0.25))], {}, 'logits');
    return [['logits', ['N', 32]]];
  },
});

function hashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir).sort()) out[f] = createHash('sha256').update(readFileSync(join(dir, f))).digest('hex');
  return out;
}

function externalTensors(path: string): TensorProto[] {
  return readModel(path).model.graph!.initializer.filter((t) => t.data_location === 1);
}

const entry = (t: TensorProto, key: string): string | undefined => t.external_data.find((e) => e.key === key)?.value;

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('external data: rewrite, verify, write a data file of its own', () => {
  for (const [kind, build] of [['Gemm transB 1 (weight shared)', resnetTail], ['MatMul (weight transposed)', matmulTail]] as const) {
    test(`${kind}: verified, loads from another folder, input files untouched`, async () => {
      const inDir = freshDir('in');
      const input = saveExternal(inDir, 'model.onnx', build());
      const before = hashes(inDir);
      const outDir = freshDir('out');
      const output = join(outDir, 'model.gap.onnx');

      const report = await gapify(input, { output });
      assert.equal(report.written, true);
      assert.equal(report.verification.status, 'passed');
      // The input folder: the same files, byte for byte.
      assert.deepEqual(hashes(inDir), before);
      // The output folder: the model and its data file, no temp file or folder left over.
      assert.deepEqual(readdirSync(outDir).sort(), ['model.gap.onnx', 'model.gap.onnx.data']);
      const counts = opCounts(output);
      assert.equal(counts.Gemm ?? 0, 0);
      assert.equal(counts.MatMul ?? 0, 0);
      assert.equal(counts.Conv, 3);

      // Every external tensor points into the output's own data file, at aligned offsets.
      const ext = externalTensors(output);
      assert.ok(ext.length >= 4);
      for (const t of ext) {
        assert.equal(entry(t, 'location'), 'model.gap.onnx.data');
        assert.equal(Number(entry(t, 'offset')) % EXTERNAL_ALIGNMENT, 0);
      }
      if (build === matmulTail) {
        // The transposed weight is new and 2 KB: written to the data file, not inline.
        const w = readModel(output).model.graph!.initializer.find((t) => t.name === 'fc.weight_conv');
        assert.equal(w?.data_location, 1);
        assert.equal(w?.raw_data, undefined);
      }

      // Moved to yet another folder, it still loads and computes the same logits.
      const moved = freshDir('moved');
      for (const f of readdirSync(outDir)) renameSync(join(outDir, f), join(moved, f));
      const c = await compareModels({ path: input }, { path: join(moved, 'model.gap.onnx') });
      assert.ok(c.ok, JSON.stringify(c.outputs));
      assert.deepEqual(hashes(inDir), before);
    });
  }

  test('tensors with an offset but no length entry hold what their dims need (one shared data file)', async () => {
    const inDir = freshDir('nolength');
    const input = saveExternal(inDir, 'model.onnx', matmulTail());
    // Drop every `length` entry: the bytes of a tensor are then the ones its dims and dtype call for.
    const m = readModel(input).model;
    const initializer = m.graph!.initializer.map((t) => ({ ...t, external_data: t.external_data.filter((e) => e.key !== 'length') }));
    writeFileSync(input, encode('onnx.ModelProto', { ...m, graph: { ...m.graph!, initializer } }));
    const output = join(freshDir('nolength-out'), 'model.gap.onnx');
    const report = await gapify(input, { output });
    assert.equal(report.verification.status, 'passed');
  });

  test('--no-verify writes the same layout; tensors sharing bytes share one copy', async () => {
    const inDir = freshDir('in');
    const input = saveExternal(inDir, 'model.onnx', resnetTail());
    const output = join(inDir, 'out.onnx');
    const r = cli(input, '-o', output, '--no-verify');
    assert.equal(r.status, 0, r.stderr);
    const ext = externalTensors(output);
    const ranges = new Set(ext.map((t) => `${entry(t, 'offset')}+${entry(t, 'length')}`));
    assert.equal(ranges.size, ext.length, 'each tensor has its own range (the old Gemm weight is gone)');
    const c = await compareModels({ path: input }, { path: output });
    assert.ok(c.ok);
  });

  test('a failed verification leaves nothing in the output folder', () => {
    // 64 classes over 512×7×7 features: the Conv sums in another order, so exact equality fails.
    const inDir = freshDir('in');
    const { model } = writeHugeExternal(inDir, 64);
    const outDir = freshDir('out');
    const r = cli(model, '-o', join(outDir, 'out.onnx'), '--atol', '0', '--rtol', '0');
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /nothing written: verification failed/);
    assert.deepEqual(readdirSync(outDir), []);
  });

  test("an output whose data file would replace the input's is refused, input untouched", () => {
    const dir = freshDir('inplace');
    const input = saveExternal(dir, 'model.onnx', resnetTail(), 'model.onnx.data');
    const before = hashes(dir);
    const r = cli(input, '--in-place', '-o', input, '--no-verify');
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /the output's data file \S*model\.onnx\.data is external data of model\.onnx/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.deepEqual(hashes(dir), before);
  });
});

describe('external data: refused with exit 2 and one line', () => {
  function refused(input: string, pattern: RegExp): void {
    const out = join(tmp.dir, `refused-${counter++}.onnx`);
    const r = cli(input, '-o', out);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, pattern);
  }

  test("a location with '..' that leaves the model's folder", () => {
    const root = freshDir('dotdot');
    const inner = join(root, 'model');
    mkdirSync(inner);
    // The data really is there, one folder up: it is refused anyway.
    saveExternal(root, 'unused.onnx', resnetTail(), 'x.bin');
    const input = saveExternal(inner, 'model.onnx', resnetTail(), 'ignored.bin', () => '../x.bin');
    refused(input, /external data location '\.\.\/x\.bin' points outside the model's folder/);
  });

  test('an absolute location', () => {
    const dir = freshDir('absolute');
    const data = join(dir, 'weights.bin');
    const input = saveExternal(dir, 'model.onnx', resnetTail(), 'weights.bin', () => data);
    refused(input, /is an absolute path; it must be relative to the model's folder/);
  });

  test('a symlink in the folder that points outside it', () => {
    const root = freshDir('symlink');
    const outside = join(root, 'outside');
    const inner = join(root, 'model');
    mkdirSync(outside);
    mkdirSync(inner);
    saveExternal(outside, 'unused.onnx', resnetTail(), 'x.bin');
    symlinkSync(join(outside, 'x.bin'), join(inner, 'link.bin'));
    const input = saveExternal(inner, 'model.onnx', resnetTail(), 'ignored.bin', () => 'link.bin');
    refused(input, /external data location 'link\.bin' is a link to a file outside the model's folder/);
  });

  test('a data file too short for its tensors', () => {
    const dir = freshDir('short');
    const input = saveExternal(dir, 'model.onnx', resnetTail());
    const size = readFileSync(join(dir, 'weights.bin')).length;
    truncateSync(join(dir, 'weights.bin'), size - 8);
    refused(input, /external data 'weights\.bin' is too short/);
  });
});
