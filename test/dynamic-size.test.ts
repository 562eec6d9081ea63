// --dynamic-size, --allow-fixed-size and --cam on real models, checked with real onnxruntime.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { SizeLocked } from '../src/errors.js';
import { gapify as gapifyLib } from '../src/gapify.js';
import type { GapifyReport } from '../src/result.js';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/onnx/builder.js';
import { encode } from '../src/onnx/codec.js';
import { readModel } from '../src/onnx/model-io.js';
import { DataType } from '../src/onnx/schema.js';
import { analyzeRewritten, nodeFromOrtError, parseSize, planSizes } from '../src/size/index.js';
import { resolveInputs } from '../src/verify/inputs.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const fixture = (name: string): string => fileURLToPath(new URL(`../../fixtures/${name}`, import.meta.url));
const SESSION = { graphOptimizationLevel: 'disabled', executionProviders: ['cpu'], logSeverityLevel: 4 } as const;

let dir = '';
before(() => { dir = mkdtempSync(join(tmpdir(), 'gapify-size-')); });
after(() => rmSync(dir, { recursive: true, force: true }));

function gapify(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Declared dims of a value (graph input or output) of the model at `path`: numbers, symbols, null for unknown. */
function declared(path: string, name: string): (number | string | null)[] | undefined {
  const g = readModel(path).model.graph!;
  const v = [...g.input, ...g.output].find((x) => x.name === name);
  return v?.type?.tensor_type?.shape?.dim.map((d) => (d.dim_value !== undefined ? Number(d.dim_value) : d.dim_param || null));
}

function ramp(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 0.8);
}

async function run(path: string, shape: number[]): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(path, SESSION);
  try {
    const n = shape.reduce((a, b) => a * b, 1);
    return await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', ramp(n), shape) });
  } finally {
    await s.release();
  }
}

function maxAbsDiff(a: ort.Tensor, b: ort.Tensor): number {
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

describe('--dynamic-size', () => {
  test('vgg_mini: symbolic height/width; the written model runs at 320×320 and still matches at 224', async () => {
    const out = join(dir, 'vgg.dyn.onnx');
    const r = gapify(fixture('vgg_mini.onnx'), '-o', out, '--dynamic-size');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /dynamic size: input 'input' \[1, 3, height, width\] \(trained at 224×224\)/);
    assert.match(r.stdout, /runs at 336×336: logits \[1, 10\]/);
    assert.match(r.stdout, /verification: passed/);
    assert.deepEqual(declared(out, 'input'), [1, 3, 'height', 'width']);
    assert.deepEqual(declared(out, 'logits'), [1, 10]);

    const big = await run(out, [1, 3, 320, 320]);
    assert.deepEqual(big.logits!.dims, [1, 10]);
    assert.ok([...(big.logits!.data as Float32Array)].every(Number.isFinite));
    const [mine, original] = [await run(out, [1, 3, 224, 224]), await run(fixture('vgg_mini.onnx'), [1, 3, 224, 224])];
    assert.ok(maxAbsDiff(mine.logits!, original.logits!) < 1e-4);
  });

  test('--also-size picks the second size', () => {
    const r = gapify(fixture('resnet_tail.onnx'), '-o', join(dir, 'resnet.dyn.onnx'), '--dynamic-size', '--also-size', '40x56');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /dynamic size: input 'input' \[N, 3, height, width\] \(trained at 32×32\)/);
    assert.match(r.stdout, /runs at 40×56: logits \[1, 10\]/);
  });

  test('shufflenet (channel-shuffle Reshape with constant spatial dims) is refused: exit 1, the node named, nothing written', () => {
    const out = join(dir, 'shuffle.dyn.onnx');
    const r = gapify(fixture('shufflenet_v2_x0_5.onnx'), '-o', out, '--dynamic-size');
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^gapify: --dynamic-size: the input size is pinned: Reshape '\/stage2\/stage2\.0\/Reshape' has the fixed target \[1, 2, 24, 28, 28\].*\(and 15 more\).*--allow-fixed-size/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stdout, /pin \(shape inference\): Reshape '\/stage2\/stage2\.0\/Reshape' has the fixed target/);
    assert.match(r.stdout, /at 336×336: onnxruntime failed in Reshape '\/stage2\/stage2\.0\/Reshape': The input tensor cannot be reshaped/);
    assert.match(r.stdout, /nothing written: the input size is pinned/);
    assert.ok(!existsSync(out));
  });

  test('shufflenet with --allow-fixed-size: written and verified, input dims left as they were', () => {
    const out = join(dir, 'shuffle.fixed.onnx');
    const r = gapify(fixture('shufflenet_v2_x0_5.onnx'), '-o', out, '--dynamic-size', '--allow-fixed-size');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /dynamic size: NO — the input size stays fixed at 224×224/);
    assert.match(r.stdout, /verification: passed/);
    assert.deepEqual(declared(out, 'input'), [1, 3, 224, 224]);
  });

  test('a Flatten → Gemm tail that is not rewritten pins the size (found statically and by onnxruntime)', () => {
    //   input [1,3,8,8] ─ Conv 3×3 pad 1 (3→4) ─ Flatten ─ [1,256] ─ Transpose ─ Gemm(transA) ─ y [1,2]
    // The Transpose keeps the tail from matching; at 12×12 the Gemm gets 576 features, not 256.
    const w = Array.from({ length: 4 * 3 * 9 }, (_, i) => ((i * 7) % 11) / 11 - 0.5);
    const fc = Array.from({ length: 2 * 256 }, (_, i) => ((i * 5) % 13) / 13 - 0.5);
    const graph = makeGraph(
      [
        makeNode('Conv', ['input', 'w'], ['c'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'conv'),
        makeNode('Flatten', ['c'], ['f'], { axis: 1 }, 'flatten'),
        makeNode('Transpose', ['f'], ['t'], { perm: [1, 0] }, 'transpose'),
        makeNode('Gemm', ['t', 'fc', 'b'], ['y'], { transA: 1, transB: 1 }, 'fc'),
      ],
      'flat', [makeValueInfo('input', DataType.FLOAT, [1, 3, 8, 8])], [makeValueInfo('y', DataType.FLOAT, [1, 2])],
      [makeTensor('w', DataType.FLOAT, [4, 3, 3, 3], w), makeTensor('fc', DataType.FLOAT, [2, 256], fc), makeTensor('b', DataType.FLOAT, [2], [0.1, -0.1])],
    );
    const path = join(dir, 'flat.onnx');
    writeFileSync(path, encode('onnx.ModelProto', makeModel(graph)));
    const r = gapify(path, '-o', join(dir, 'flat.dyn.onnx'), '--dynamic-size');
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /the input size is pinned: Gemm 'fc' fails at other input sizes/);
    assert.match(r.stdout, /onnxruntime failed in Gemm 'fc'/);
    assert.ok(!existsSync(join(dir, 'flat.dyn.onnx')));
  });

  test('declared value_info shapes that depend on the size become unknown in those dims (the model runs at the new size)', async () => {
    //   input [1,3,16,16] ─ Conv 3×3 pad 1 (3→4) ─ c [1,4,16,16] ─ Relu ─ r [1,4,16,16] ─ GAP ─ Flatten ─ Gemm ─ y [1,2]
    // with c and r declared in value_info at the trained size.
    const w = Array.from({ length: 4 * 3 * 9 }, (_, i) => ((i * 7) % 11) / 11 - 0.5);
    const graph = makeGraph(
      [
        makeNode('Conv', ['input', 'w'], ['c'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'conv'),
        makeNode('Relu', ['c'], ['r'], {}, 'relu'),
        makeNode('GlobalAveragePool', ['r'], ['p'], {}, 'gap'),
        makeNode('Flatten', ['p'], ['f'], { axis: 1 }, 'flatten'),
        makeNode('Gemm', ['f', 'fc', 'b'], ['y'], { transB: 1 }, 'fc'),
      ],
      'vi', [makeValueInfo('input', DataType.FLOAT, [1, 3, 16, 16])], [makeValueInfo('y', DataType.FLOAT, [1, 2])],
      [makeTensor('w', DataType.FLOAT, [4, 3, 3, 3], w), makeTensor('fc', DataType.FLOAT, [2, 4], [1, 0, -1, 0.5, 0, 1, 0.5, -1]), makeTensor('b', DataType.FLOAT, [2], [0.1, -0.1])],
      [makeValueInfo('c', DataType.FLOAT, [1, 4, 16, 16]), makeValueInfo('r', DataType.FLOAT, [1, 4, 16, 16])],
    );
    const path = join(dir, 'vi.onnx');
    const out = join(dir, 'vi.dyn.onnx');
    writeFileSync(path, encode('onnx.ModelProto', makeModel(graph)));
    const r = gapify(path, '-o', out, '--dynamic-size');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /declared shapes made size-free: 'c', 'r'/);
    const vi = readModel(out).model.graph!.value_info.map((v) => [v.name, v.type?.tensor_type?.shape?.dim.map((d) => (d.dim_value !== undefined ? Number(d.dim_value) : d.dim_param || null))]);
    assert.deepEqual(vi, [['c', [1, 4, null, null]], ['r', [1, 4, null, null]]]);
    assert.deepEqual(declared(out, 'y'), [1, 2]);
    assert.deepEqual((await run(out, [1, 3, 40, 24])).y!.dims, [1, 2]);
  });

  test('--dry-run checks statically only', () => {
    const r = gapify(fixture('shufflenet_v2_x0_5.onnx'), '-o', join(dir, 'dry.onnx'), '--dynamic-size', '--dry-run', '--allow-fixed-size');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /pin \(shape inference\): Reshape '\/stage2\/stage2\.0\/Reshape' has the fixed target/);
    assert.match(r.stdout, /336×336 not run: .*static shape inference only/);
  });

  test('--also-size and --allow-fixed-size need --dynamic-size; a bad size is a usage error', () => {
    for (const flags of [['--also-size', '320x320'], ['--allow-fixed-size'], ['--dynamic-size', '--also-size', '320xx']]) {
      const r = gapify(fixture('resnet_tail.onnx'), '-o', join(dir, 'u.onnx'), ...flags);
      assert.equal(r.code, 2, flags.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
  });

  test('library: the refusal carries the report; static inference names the pin; onnxruntime messages parse', async () => {
    await assert.rejects(gapifyLib(fixture('shufflenet_v2_x0_5.onnx'), { output: join(dir, 'lib.onnx'), dynamicSize: true }), (e: unknown) => {
      assert.ok(e instanceof SizeLocked);
      assert.equal(e.exitCode, 1);
      const report = e.report as GapifyReport;
      assert.equal(report.written, false);
      assert.equal(report.size?.dynamic, false);
      assert.equal(report.size?.pins[0]?.node?.name, '/stage2/stage2.0/Reshape');
      return true;
    });
    const file = readModel(fixture('shufflenet_v2_x0_5.onnx'));
    const plan = planSizes(file.model, resolveInputs(file.model), [320, 320]);
    const { pins } = analyzeRewritten(file.model, file.opset, plan);
    assert.equal(pins.length, 16);
    assert.ok(pins.every((p) => p.kind === 'reshape' && p.node?.op_type === 'Reshape'));
    assert.equal(pins[0]!.node!.name, '/stage2/stage2.0/Reshape');
    assert.match(pins[0]!.detail, /\[1, 2, 24, 28, 28\] that holds the 28×28 map size/);

    const named = nodeFromOrtError("Non-zero status code returned while running Reshape node. Name:'/a/Reshape' Status Message: /src/reshape_helper.h:47 onnxruntime::ReshapeHelper::ReshapeHelper(x) size == 3 was false. The input tensor cannot be reshaped");
    assert.deepEqual(named, { op: 'Reshape', node: '/a/Reshape', detail: 'The input tensor cannot be reshaped' });
    assert.deepEqual(parseSize('320x240', '--also-size'), [320, 240]);
    assert.deepEqual(parseSize('300', '--also-size'), [300, 300]);
    assert.throws(() => parseSize('0x3', '--also-size'), /positive integers/);
  });
});

describe('--cam', () => {
  test('adds <output>_cam [N, K, h, w]; its spatial mean is the output; verification ignores it', async () => {
    const out = join(dir, 'resnet.cam.onnx');
    const r = gapify(fixture('resnet_tail.onnx'), '-o', out, '--cam');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /cam: output 'logits_cam' \[N, 10, 16, 16\] = class maps 'logits_class_map'; 'logits' is their spatial mean/);
    assert.match(r.stdout, /not compared \(added on purpose\): logits_cam/);
    assert.deepEqual(declared(out, 'logits_cam'), ['N', 10, 16, 16]);
    const g = readModel(out).model.graph!;
    assert.deepEqual(g.output.map((o) => o.name), ['logits', 'logits_cam']);
    assert.deepEqual(g.node.filter((n) => n.output.includes('logits_cam')).map((n) => n.op_type), ['Identity']);

    const res = await run(out, [1, 3, 32, 32]);
    assert.deepEqual(res.logits_cam!.dims, [1, 10, 16, 16]);
    const maps = res.logits_cam!.data as Float32Array;
    const logits = res.logits!.data as Float32Array;
    for (let k = 0; k < 10; k++) {
      let s = 0;
      for (let i = 0; i < 256; i++) s += maps[k * 256 + i]!;
      assert.ok(Math.abs(s / 256 - logits[k]!) < 1e-4, `class ${k}`);
    }
  });

  test('--cam --dynamic-size on vgg_mini: the map output has free spatial dims and grows at 320×320', async () => {
    const out = join(dir, 'vgg.cam.onnx');
    const r = gapify(fixture('vgg_mini.onnx'), '-o', out, '--cam', '--dynamic-size');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(declared(out, 'logits_cam'), [1, 10, null, null]);
    const res = await run(out, [1, 3, 320, 320]);
    assert.deepEqual(res.logits!.dims, [1, 10]);
    assert.deepEqual(res.logits_cam!.dims, [1, 10, 4, 4]);
  });

  test('MLP head (mobilenet): no class map, and the report says why', () => {
    const r = gapify(fixture('mobilenet_v3_small.onnx'), '-o', join(dir, 'mnv3.onnx'), '--cam');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /cam: no class map for the tail at '\/avgpool\/GlobalAveragePool': .*not the final scores/);
    assert.match(r.stdout, /tail 1: global tail at '\/avgpool\/GlobalAveragePool', pool-first/);
  });

  test('already a GAP head (squeezenet): the pooled map is exposed, the model written', () => {
    const out = join(dir, 'squeeze.cam.onnx');
    const r = gapify(fixture('squeezenet1_0.onnx'), '-o', out, '--cam');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /cam: output 'logits_cam' \[1, 1000, 13, 13\] = class maps '.*Relu_output_0' of the GAP head/);
    assert.deepEqual(declared(out, 'logits_cam'), [1, 1000, 13, 13]);
  });
});
