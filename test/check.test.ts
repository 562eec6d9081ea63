// `gapify check a.onnx b.onnx`: the built binary against real onnxruntime, real files, no mocks.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readModel } from '../src/onnx/model-io.js';
import type { Comparison } from '../src/verify/compare.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));
const RESNET = join(FIXTURES, 'resnet_tail.onnx');

const TMP = mkdtempSync(join(tmpdir(), 'gapify-check-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

function gapify(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A copy of resnet_tail.onnx with fc.weight[0] moved by `delta`, edited in place in the file's bytes. */
function withChangedWeight(delta: number): string {
  const file = readModel(RESNET);
  const w = file.model.graph!.initializer.find((t) => t.name === 'fc.weight')!;
  assert.ok(w.raw_data && w.raw_data.length === 640, 'fc.weight is [10, 16] float32 raw_data');
  const bytes = Buffer.from(readFileSync(RESNET));
  // raw_data is a view into the file's bytes: its offset is its place in the file.
  const at = w.raw_data.byteOffset - file.bytes.byteOffset;
  bytes.writeFloatLE(bytes.readFloatLE(at) + delta, at);
  const path = join(TMP, `changed_${delta}.onnx`);
  writeFileSync(path, bytes);
  return path;
}

describe('gapify check', () => {
  let gapified = '';
  before(() => {
    gapified = join(TMP, 'resnet.gap.onnx');
    const r = gapify(RESNET, '-o', gapified);
    assert.equal(r.code, 0, r.stderr);
  });

  test('a model against itself: equal, exit 0', () => {
    const r = gapify('check', RESNET, RESNET);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^ {2}logits \[1, 10\] float32 {2}max abs 0 {2}max rel 0 {2}ok$/m);
    assert.match(r.stdout, /tolerance atol 0\.0001 rtol 0\.001 \(default\), seed 0/);
    assert.match(r.stdout, /^ {2}equal$/m);
  });

  test('against its gapified version: equal within tolerance, exit 0', () => {
    const r = gapify('check', RESNET, gapified);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ {2}logits \[1, 10\] float32 {2}max abs \S+ {2}max rel \S+ {2}ok$/m);
    assert.match(r.stdout, /^ {2}equal$/m);
  });

  test('against a model with one weight changed: different, exit 1, the reason on stderr', () => {
    const r = gapify('check', RESNET, withChangedWeight(0.5));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^ {2}logits \[1, 10\] float32 {2}max abs \S+ {2}max rel \S+ {2}DIFFERENT \(1 of 10 elements differ/m);
    assert.match(r.stdout, /^ {2}DIFFERENT$/m);
    assert.match(r.stderr, /^gapify: the models differ: output 'logits': 1 of 10 elements differ/);
  });

  test('a change below the tolerance passes; --atol tightens it', () => {
    const tiny = withChangedWeight(1e-6);
    assert.equal(gapify('check', RESNET, tiny).code, 0);
    assert.equal(gapify('check', RESNET, tiny, '--atol', '0', '--rtol', '0').code, 1);
  });

  test('--json: only JSON on stdout, with the comparison', () => {
    const r = gapify('check', RESNET, gapified, '--json', '--seed', '7', '--input-shape', 'input:2,3,32,32');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { ok: boolean; failures: string[]; comparison: Comparison };
    assert.equal(out.ok, true);
    assert.deepEqual(out.failures, []);
    assert.equal(out.comparison.seed, 7);
    assert.deepEqual(out.comparison.inputs[0]!.shape, [2, 3, 32, 32]);
    assert.deepEqual(out.comparison.outputs.map((o) => [o.name, o.shapeA, o.ok]), [['logits', [2, 10], true]]);
  });

  test("can't run: exit 2", () => {
    const broken = join(TMP, 'broken.onnx');
    writeFileSync(broken, readFileSync(RESNET).subarray(0, 2000));
    for (const args of [['check', join(TMP, 'nope.onnx'), RESNET], ['check', broken, RESNET], ['check', RESNET, broken], ['check', RESNET], ['check', RESNET, RESNET, '--atol', '-1']]) {
      const r = gapify(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.notEqual(r.stderr, '');
    }
  });
});
