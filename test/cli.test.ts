// The built binary as a user runs it: stdout, stderr and exit codes.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeGraph, makeModel, makeValueInfo } from '../src/onnx/builder.js';
import { DataType } from '../src/onnx/schema.js';
import { Net, Rng } from './support/net.js';
import { saveModel, tempDir } from './support/models.js';
import { similarCommand, spreadInputShapes } from '../src/commands/options.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));
const tmp = tempDir('gapify-cli-');
after(() => tmp.cleanup());

function gapify(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const fixture = (name: string): string => join(FIXTURES, name);

describe('gapify <model>', () => {
  test('rewrites, verifies and writes; the report is on stdout, stderr stays empty', () => {
    const out = join(tmp.dir, 'resnet.onnx');
    const r = gapify(fixture('resnet_tail.onnx'), '-o', out);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /tail 1: global tail at '\/avgpool\/GlobalAveragePool', pool-first → output 'logits'/);
    assert.match(r.stdout, /note: --cam adds class maps: \+\d+% MACs of the whole model/);
    assert.match(r.stdout, /Gemm '\/fc\/Gemm' \[10×16\] → Conv 1×1/);
    assert.match(r.stdout, /verification: passed/);
    assert.match(r.stdout, /logits \[1, 10\] float32 {2}max abs \S+ {2}max rel \S+ {2}ok/);
    assert.match(r.stdout, new RegExp(`wrote ${out.replace(/[/.]/g, '\\$&')}`));
    assert.ok(existsSync(out));
  });

  test('default output: <model>.gap.onnx beside the input', () => {
    const input = join(tmp.dir, 'beside.onnx');
    copyFileSync(fixture('resnet_tail.onnx'), input);
    const r = gapify(input);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(tmp.dir, 'beside.gap.onnx')));
  });

  test('--json prints only JSON on stdout', () => {
    const r = gapify(fixture('shufflenet_v2_x0_5.onnx'), '-o', join(tmp.dir, 'shuffle.onnx'), '--json');
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { written: boolean; rewritten: { order: string; layers: { became: string }[] }[]; verification: { status: string } };
    assert.equal(report.written, true);
    assert.equal(report.rewritten[0]!.order, 'pool-first');
    assert.equal(report.verification.status, 'passed');
  });

  test('--no-verify writes and says the result was not checked', () => {
    const out = join(tmp.dir, 'unverified.onnx');
    const r = gapify(fixture('resnet_tail.onnx'), '-o', out, '--no-verify');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /verification: skipped \(--no-verify\).*NOT checked/);
    assert.ok(existsSync(out));
  });

  test('already a GAP head: exit 0, says so, writes nothing', () => {
    const out = join(tmp.dir, 'squeeze.onnx');
    const r = gapify(fixture('squeezenet1_0.onnx'), '-o', out);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /already a GAP head/);
    assert.match(r.stdout, /nothing written/);
    assert.equal(existsSync(out), false);
  });

  test('a tail that cannot be rewritten exactly: exit 0 with the reason code', () => {
    const r = gapify(fixture('maxpool_tail.onnx'), '-o', join(tmp.dir, 'max.onnx'));
    assert.equal(r.code, 0);
    assert.match(r.stdout, /not rewritten \(max-pool\)/);
  });

  test('verification failure: exit 1, the report and one error line, nothing written, no temp file left', () => {
    const out = join(tmp.dir, 'strict', 'x.onnx');
    const dir = join(tmp.dir, 'strict');
    spawnSync('mkdir', ['-p', dir]);
    const r = gapify(fixture('resnet_tail.onnx'), '-o', out, '--atol', '0', '--rtol', '0');
    assert.equal(r.code, 1);
    assert.match(r.stdout, /verification: FAILED/);
    assert.match(r.stderr, /^gapify: verification failed: .* nothing written\n$/);
    assert.equal(existsSync(out), false);
    assert.deepEqual(readdirSync(dir), []);
  });

  test('--input-shape feeds the given dims and the report says so', () => {
    const r = gapify(fixture('resnet_tail.onnx'), '-o', join(tmp.dir, 'shaped.onnx'), '--input-shape', 'input:2,3,32,32');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /input input: \[2, 3, 32, 32\]/);
    assert.match(r.stdout, /logits \[2, 10\]/);
  });

  test('--help shows examples and exit codes', () => {
    for (const args of [['--help'], ['rewrite', '--help']]) {
      const r = gapify(...args);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /Examples:/);
      assert.match(r.stdout, /Exit codes/);
    }
  });

  test('an --input-shape that contradicts a fixed dim is a usage error', () => {
    const r = gapify(fixture('resnet_tail.onnx'), '--input-shape', 'input:2,3,48,48');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /dim 2 is 48, but .* fixes it at 32/);
  });
});

describe('bad input and usage: exit 2, one line, no stack', () => {
  const cases: [string, string[], RegExp][] = [
    ['missing file', ['nope.onnx'], /nope\.onnx: no such file/],
    ['a directory', [FIXTURES], /is a directory/],
    ['unknown option', [fixture('resnet_tail.onnx'), '--frobnicate'], /unknown option/],
    ['bad --order', [fixture('resnet_tail.onnx'), '--order', 'sideways'], /Allowed choices are auto, conv-first, pool-first/],
    ['bad --input-shape', [fixture('resnet_tail.onnx'), '--input-shape', 'input:1,x'], /input-shape/],
    ['bad --atol', [fixture('resnet_tail.onnx'), '--atol', '-1'], /non-negative/],
    ['-o is the input', [fixture('resnet_tail.onnx'), '-o', fixture('resnet_tail.onnx')], /--in-place/],
    ['-o is a pipe (renaming over it would replace it)', [fixture('resnet_tail.onnx'), '-o', join(tmp.dir, 'pipe')], /not a regular file/],
    ['cam -o is its own image', ['cam', fixture('cam/red_blue.onnx'), fixture('cam/red_left_blue_right.png'), '-o', fixture('cam/red_left_blue_right.png')], /is the image \(/],
    ['lint --output-file is a linted model', ['lint', fixture('resnet_tail.onnx'), '--output-file', fixture('resnet_tail.onnx')], /is a linted model \(/],
  ];
  spawnSync('mkfifo', [join(tmp.dir, 'pipe')]);
  for (const [name, args, message] of cases) {
    test(name, () => {
      const r = gapify(...args);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, message);
      const lines = r.stderr.trimEnd().split('\n').filter((l) => !/^\(run .*--help/.test(l));
      assert.equal(lines.length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    });
  }
});

describe('manners', () => {
  test('a mistyped command names the one meant; exit 2, nothing on stdout', () => {
    for (const [typed, meant] of [['lnt', 'lint'], ['chekc', 'check'], ['rewirte', 'rewrite']] as const) {
      const r = gapify(typed, 'models/');
      assert.equal(r.code, 2, typed);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, `error: unknown command '${typed}' (did you mean '${meant}'?)\n(run with --help for usage)\n`);
    }
    // A model path is never taken for a command, even one that looks like one.
    const lint = join(tmp.dir, 'lnt');
    copyFileSync(fixture('resnet_tail.onnx'), lint);
    const r = gapify(lint, '--dry-run');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /tail 1: global tail/);
  });

  test("a subcommand's usage error is followed by where its help is", () => {
    const r = gapify('lint', fixture('resnet_tail.onnx'), '--formt', 'json');
    assert.equal(r.code, 2);
    assert.equal(r.stderr, "error: unknown option '--formt'\n(Did you mean --format?)\n(run 'gapify lint --help' for usage)\n");
  });

  test("several --input-shape specs after one flag, as onnxsim takes them; a model path after them stays the model", () => {
    // The second spec reaches the parser: the model has no input 'extra', and the error says so.
    const r = gapify(fixture('resnet_tail.onnx'), '--dry-run', '--input-shape', 'input:2,3,32,32', 'extra:1,10');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^gapify: --input-shape names 'extra', which is not an input of /);
    const lint = gapify('lint', '--format', 'json', '--input-shape', 'input:2,3,32,32', 'extra:1,10', fixture('resnet_tail.onnx'));
    assert.equal(lint.code, 0, lint.stderr);
    assert.deepEqual((JSON.parse(lint.stdout) as { inputs: { shape: number[] }[] }[])[0]!.inputs[0]!.shape, [2, 3, 32, 32]);
  });

  test('spreadInputShapes: a run of specs becomes repeated flags; it ends at a file, an option or --', () => {
    const isFile = (a: string): boolean => a === 'm.onnx' || a === '1,2';
    assert.deepEqual(spreadInputShapes(['m.onnx', '--input-shape', 'a:1,3', 'b:0:1,10', '2,2', '-o', 'x'], isFile),
      ['m.onnx', '--input-shape', 'a:1,3', '--input-shape', 'b:0:1,10', '--input-shape', '2,2', '-o', 'x']);
    assert.deepEqual(spreadInputShapes(['--input-shape=a:1', 'b:2', 'm.onnx', 'c:3'], isFile), ['--input-shape=a:1', '--input-shape', 'b:2', 'm.onnx', 'c:3']);
    assert.deepEqual(spreadInputShapes(['--input-shape', 'a:1', '1,2'], isFile), ['--input-shape', 'a:1', '1,2']);
    assert.deepEqual(spreadInputShapes(['--input-shape', 'a:1', '--', 'b:2'], isFile), ['--input-shape', 'a:1', '--', 'b:2']);
    assert.deepEqual(spreadInputShapes(['lint', '--input-shape', 'a:1', 'models/'], isFile), ['lint', '--input-shape', 'a:1', 'models/']);
  });

  test('similarCommand: within two edits and less than half the word', () => {
    const names = ['rewrite', 'cam', 'lint', 'check'];
    assert.equal(similarCommand('lnit', names), 'lint');
    assert.equal(similarCommand('LINT', names), 'lint');
    assert.equal(similarCommand('cma', names), 'cam');
    assert.equal(similarCommand('lint', names), undefined);
    assert.equal(similarCommand('vgg', names), undefined);
    assert.equal(similarCommand('resnet50', names), undefined);
  });

  //   'input:0' [N,3,32,32] → backbone → GlobalAveragePool → Flatten → Gemm → logits   (a tf2onnx-style name)
  test("input names with ':' work in --input-shape and are printed whole", () => {
    const net = new Net(DataType.FLOAT, new Rng(3));
    const x = net.backbone('input:0');
    const pooled = net.op('GlobalAveragePool', '/gap/GlobalAveragePool', [x]);
    const flat = net.op('Flatten', '/Flatten', [pooled], { axis: 1 });
    const { w, b } = net.classifier();
    net.op('Gemm', '/fc/Gemm', [flat, net.weight('fc.weight', [10, 16], w), net.weight('fc.bias', [10], b)], { transB: 1 }, 'logits');
    const graph = makeGraph(net.nodes, 'colon', [makeValueInfo('input:0', DataType.FLOAT, ['N', 3, 32, 32])], [makeValueInfo('logits', DataType.FLOAT, ['N', 10])], net.initializers);
    const model = saveModel(tmp.dir, 'colon.onnx', makeModel(graph, { opset: 13 }));
    const shaped = gapify(model, '--dry-run', '--input-shape', 'input:0:2,3,32,32');
    assert.equal(shaped.code, 0, shaped.stderr);
    assert.match(shaped.stdout, /^ {2}input input:0: \[2, 3, 32, 32\] float32$/m);
    const defaulted = gapify(model, '--dry-run');
    assert.equal(defaulted.code, 0, defaulted.stderr);
    assert.match(defaulted.stdout, /^ {2}input input:0: \[1, 3, 32, 32\] float32 {2}\(batch N=1 \(default\) → 1×3×32×32\)$/m);
  });
});
