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
import { readInts } from '../src/onnx/tensor.js';
import { encode } from '../src/onnx/codec.js';
import { readModel } from '../src/onnx/model-io.js';
import { DataType, type ModelProto } from '../src/onnx/schema.js';
import { analyzeRewritten, nodeFromOrtError, parseSize, planSizes, remainingPins } from '../src/size/index.js';
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

/**
 * ShuffleNet as traced at batch `b` and `h`×`w`: the fixture with its channel-shuffle targets set
 * for that size (batch first, map size last: 28, 14, 7 at 224), built here, apart from gapify.
 */
function tracedShuffle(b: number, h: number, w: number): ModelProto {
  const { model } = readModel(fixture('shufflenet_v2_x0_5.onnx'));
  const g = model.graph!;
  const targets = new Set(g.node.filter((n) => n.op_type === 'Reshape').map((n) => n.input[1]));
  const node = g.node.map((n) => {
    if (n.op_type !== 'Constant' || !targets.has(n.output[0])) return n;
    const v = readInts(n.attribute[0]!.t!);
    const stride = 224 / v.at(-1)!;
    const set = [b, ...v.slice(1, -2), h / stride, w / stride];
    return { ...n, attribute: [{ ...n.attribute[0]!, t: makeTensor('', DataType.INT64, [set.length], set) }] };
  });
  return {
    ...model,
    graph: { ...g, node, input: [makeValueInfo('input', DataType.FLOAT, [b, 3, h, w])], output: [makeValueInfo('logits', DataType.FLOAT, undefined)], value_info: [] },
  };
}

/** The written ShuffleNet against the traced one at a size: the logits and the last shuffle's output (the logits of random weights hardly depend on the image). */
async function matchesTracedShuffle(written: string, b: number, h: number, w: number): Promise<void> {
  const probe = '/stage4/stage4.3/Reshape_1_output_0';
  const expose = (m: ModelProto): ModelProto => ({ ...m, graph: { ...m.graph!, output: [...m.graph!.output, { name: probe, metadata_props: [] }] } });
  const traced = join(dir, `traced-${b}-${h}-${w}.onnx`);
  writeFileSync(traced, encode('onnx.ModelProto', expose(tracedShuffle(b, h, w))));
  const exposed = join(dir, `exposed-${b}-${h}-${w}.onnx`);
  writeFileSync(exposed, encode('onnx.ModelProto', expose(readModel(written).model)));
  const [want, got] = [await run(traced, [b, 3, h, w]), await run(exposed, [b, 3, h, w])];
  for (const name of ['logits', probe]) {
    assert.deepEqual(got[name]!.dims, want[name]!.dims, `${name} at ${b}×${h}×${w}`);
    assert.ok(maxAbsDiff(got[name]!, want[name]!) < 1e-5, `${name} at ${b}×${h}×${w}`);
  }
  assert.deepEqual(got[probe]!.dims, [b, 192, h / 32, w / 32]);
}

/**
 *   input [1,3,8,8] ─ Conv 3×3 pad 1 (3→4) ─ Flatten ─ [1,256] ─ Transpose ─ Gemm(transA) ─ y [1,2]
 * The Transpose keeps the tail from matching; at 12×12 the Gemm gets 576 features, not 256.
 */
function flatModel(name: string): string {
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
  const path = join(dir, name);
  writeFileSync(path, encode('onnx.ModelProto', makeModel(graph)));
  return path;
}

describe('--dynamic-size', () => {
  test('vgg_mini: symbolic height/width; the written model runs at 320×320 and still matches at 224', async () => {
    const out = join(dir, 'vgg.dyn.onnx');
    const r = gapify(fixture('vgg_mini.onnx'), '-o', out, '--dynamic-size');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /dynamic size: input 'input' \[1, 3, height, width\] \(trained at 224×224, stride 32\)/);
    // The original's spatial tail fits 224×224 only: at other sizes the reference is the rewrite.
    assert.match(r.stdout, /at 352×352: ok — vs the rewritten model \(the original does not run there\): logits \[1, 10\]/);
    assert.match(r.stdout, /at 288×384: ok/);
    assert.match(r.stdout, /verification: passed/);
    assert.deepEqual(declared(out, 'input'), [1, 3, 'height', 'width']);
    assert.deepEqual(declared(out, 'logits'), [1, 10]);

    const big = await run(out, [1, 3, 320, 320]);
    assert.deepEqual(big.logits!.dims, [1, 10]);
    assert.ok([...(big.logits!.data as Float32Array)].every(Number.isFinite));
    const [mine, original] = [await run(out, [1, 3, 224, 224]), await run(fixture('vgg_mini.onnx'), [1, 3, 224, 224])];
    assert.ok(maxAbsDiff(mine.logits!, original.logits!) < 1e-4);
  });

  test('--also-size picks the sizes checked; a symbolic batch stays free and is checked at batch 3', () => {
    const r = gapify(fixture('resnet_tail.onnx'), '-o', join(dir, 'resnet.dyn.onnx'), '--dynamic-size', '--also-size', '40x56', '--also-size', '64x32');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /dynamic size \(and the batch, symbolic already\): input 'input' \[N, 3, height, width\] \(trained at 32×32, batch 1, stride 2\)/);
    assert.match(r.stdout, /at 40×56: ok — vs the original: logits \[1, 10\]/);
    assert.match(r.stdout, /at 64×32: ok — vs the original: logits \[1, 10\]/);
    assert.match(r.stdout, /at 64×32 batch 3: ok — vs the original: logits \[3, 10\]/);
    assert.doesNotMatch(r.stdout, /at 48×48/);
  });

  test('shufflenet: its 32 channel-shuffle Reshapes are freed; the written model matches the model traced at each size', async () => {
    const out = join(dir, 'shuffle.dyn.onnx');
    const r = gapify(fixture('shufflenet_v2_x0_5.onnx'), '-o', out, '--dynamic-size');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /freed 32 Reshape targets, now computed from the tensor's shape:/);
    assert.match(r.stdout, /Reshape '\/stage2\/stage2\.0\/Reshape' \[1, 2, 24, 28, 28\] → \[1, 2, 24, H, W\]/);
    assert.match(r.stdout, /Reshape '\/stage2\/stage2\.0\/Reshape_1' \[1, -1, 28, 28\] → \[1, 48, H, W\]/);
    for (const s of ['352×352', '288×384']) assert.match(r.stdout, new RegExp(`at ${s}: ok — vs the original, its Reshape targets set for that size: logits \\[1, 1000\\] max abs \\S+, the freed Reshapes' outputs max abs 0`));
    assert.deepEqual(declared(out, 'input'), [1, 3, 'height', 'width']);
    for (const [b, h, w] of [[1, 224, 224], [1, 352, 352], [1, 288, 384], [1, 96, 160]] as const) await matchesTracedShuffle(out, b, h, w);
  });

  test('shufflenet with --dynamic-batch too: matches at batch 3', async () => {
    const out = join(dir, 'shuffle.batch.onnx');
    const r = gapify(fixture('shufflenet_v2_x0_5.onnx'), '-o', out, '--dynamic-size', '--dynamic-batch');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Reshape '\/stage2\/stage2\.0\/Reshape' \[1, 2, 24, 28, 28\] → \[N, 2, 24, H, W\]/);
    assert.match(r.stdout, /at 288×384 batch 3: ok — vs the original/);
    assert.deepEqual(declared(out, 'input'), ['batch', 3, 'height', 'width']);
    assert.deepEqual(declared(out, 'logits'), ['batch', 1000]);
    await matchesTracedShuffle(out, 3, 288, 384);
    await matchesTracedShuffle(out, 2, 224, 224);
  });

  test('a Flatten → Gemm tail that is not rewritten pins the size (found statically and by onnxruntime)', () => {
    const path = flatModel('flat.onnx');
    const r = gapify(path, '-o', join(dir, 'flat.dyn.onnx'), '--dynamic-size');
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /the input size is pinned: Gemm 'fc' fails at other input sizes/);
    assert.match(r.stdout, /at 12×12: FAILED/);
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

  test('--dry-run analyses statically only', () => {
    const r = gapify(fixture('shufflenet_v2_x0_5.onnx'), '-o', join(dir, 'dry.onnx'), '--dynamic-size', '--dry-run');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /freed 32 Reshape targets/);
    assert.match(r.stdout, /other sizes not run: not run \(--no-verify or --dry-run\): static analysis only/);
    assert.match(r.stdout, /nothing written: dry run/);
  });

  test('--also-size needs --dynamic-size, --allow-fixed-size one of the two; a bad size is a usage error', () => {
    for (const flags of [['--also-size', '320x320'], ['--allow-fixed-size'], ['--dynamic-batch', '--also-size', '320x320'], ['--dynamic-size', '--also-size', '320xx']]) {
      const r = gapify(fixture('resnet_tail.onnx'), '-o', join(dir, 'u.onnx'), ...flags);
      assert.equal(r.code, 2, flags.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
  });

  test('library: the refusal carries the report; the analysis names frees and pins; onnxruntime messages parse', async () => {
    const pinned = flatModel('flat-lib.onnx');
    await assert.rejects(gapifyLib(pinned, { output: join(dir, 'lib.onnx'), dynamicSize: true }), (e: unknown) => {
      assert.ok(e instanceof SizeLocked);
      assert.equal(e.exitCode, 1);
      const report = e.report as GapifyReport;
      assert.equal(report.written, false);
      assert.equal(report.size?.dynamic, false);
      assert.equal(report.size?.pins[0]?.node?.name, 'fc');
      return true;
    });
    const file = readModel(fixture('shufflenet_v2_x0_5.onnx'));
    const plan = planSizes(file.model, resolveInputs(file.model), { size: true, batch: false }, '--dynamic-size');
    const size = analyzeRewritten(file.model, file.opset, plan);
    assert.deepEqual(remainingPins(size), []);
    assert.deepEqual(size.stride, [32, 32]);
    assert.equal(size.frees.length, 32);
    assert.ok(size.pins.every((p) => p.kind === 'reshape' && p.fixedByRewrite));
    assert.equal(size.frees[0]!.node.name, '/stage2/stage2.0/Reshape');
    assert.match(size.pins[0]!.detail, /\[1, 2, 24, 28, 28\] that holds the 28×28 map size: gapify --dynamic-size computes it as \[1, 2, 24, H, W\]/);

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
