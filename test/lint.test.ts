// `gapify lint`: the rules on fixtures and on tiny graphs built in code, path expansion, the four
// output formats, and the built binary's stdout, stderr and exit codes. No mocks, real files.

import { after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { UsageError } from '../src/errors.js';
import { makeGraph, makeModel, makeNode, makeValueInfo, makeTensor, type DimSpec } from '../src/onnx/builder.js';
import { encode } from '../src/onnx/codec.js';
import { readModel, readModelLazy } from '../src/onnx/model-io.js';
import { DataType, type NodeProto, type TensorProto } from '../src/onnx/schema.js';
import { parseInputShapes } from '../src/verify/input-shapes.js';
import { escapeData, escapeProperty, formatGithub } from '../src/lint/format.js';
import { readableSize } from '../src/lint/files.js';
import { expandPaths, failsAt, findRoot, IGNORE_FILE, lint, lintModel, parseRuleLevels, RULE_IDS, RULES, type ExpandedPaths, type ExpandOptions, type FileReport, type LintFinding, type LintResult } from '../src/lint/index.js';
import { LAZY_MIN, STRUCTURE_ONLY, UnloadedBytesError } from '../src/onnx/lazy-file.js';
import { readFloats, readInts } from '../src/onnx/tensor.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));
const fixture = (name: string): string => join(FIXTURES, name);

const TMP = mkdtempSync(join(tmpdir(), 'gapify-lint-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

/**
 * The built binary. Its root (where output paths start) must not come from the machine running the
 * tests: no GITHUB_WORKSPACE unless a test sets one, and git does not look above TMP.
 */
function gapify(args: readonly string[], cwd = TMP, env: NodeJS.ProcessEnv = {}): { code: number | null; stdout: string; stderr: string } {
  const { GITHUB_WORKSPACE: _ws, ...rest } = process.env;
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: { ...rest, NO_COLOR: '1', GIT_CEILING_DIRECTORIES: TMP, ...env }, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function only<R extends LintFinding['ruleId']>(report: FileReport, ruleId: R): Extract<LintFinding, { ruleId: R }> {
  const found = report.findings.filter((f) => f.ruleId === ruleId);
  assert.equal(found.length, 1, `${report.file}: expected one ${ruleId}, got ${report.findings.map((f) => f.ruleId).join(', ')}`);
  return found[0] as Extract<LintFinding, { ruleId: R }>;
}

const ruleIds = (r: FileReport): string[] => r.findings.map((f) => f.ruleId).sort();

// --- tiny models ------------------------------------------------------------------------------------

let seed = 1;
function weights(name: string, dims: number[]): TensorProto {
  const n = dims.reduce((a, b) => a * b, 1);
  return makeTensor(name, DataType.FLOAT, dims, Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5));
}
const ints = (name: string, values: number[]): TensorProto => makeTensor(name, DataType.INT64, [values.length], values);

/**
 * input [N,3,H,W] → Conv 3×3 stride 2 (3→4) → Relu → `map` [N,4,H/2,W/2] → <tail> → `logits`.
 * `hw`: the input's H and W, fixed numbers or symbols.
 */
function tiny(name: string, hw: [DimSpec, DimSpec], tail: (nodes: NodeProto[], inits: TensorProto[]) => void): string {
  const nodes: NodeProto[] = [
    makeNode('Conv', ['input', 'conv.w', 'conv.b'], ['c'], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, '/conv/Conv'),
    makeNode('Relu', ['c'], ['map'], {}, '/relu/Relu'),
  ];
  const inits = [weights('conv.w', [4, 3, 3, 3]), weights('conv.b', [4])];
  tail(nodes, inits);
  const graph = makeGraph(nodes, name, [makeValueInfo('input', DataType.FLOAT, ['N', 3, ...hw])], [makeValueInfo('logits', DataType.FLOAT, ['N', 5])], inits);
  const path = join(TMP, 'built', `${name}.onnx`);
  mkdirSync(join(TMP, 'built'), { recursive: true });
  writeFileSync(path, encode('onnx.ModelProto', makeModel(graph)));
  return path;
}

/** map → GlobalAveragePool → Flatten → Gemm(4→5) */
const gapTail = (nodes: NodeProto[], inits: TensorProto[]): void => {
  nodes.push(
    makeNode('GlobalAveragePool', ['map'], ['pooled'], {}, '/gap/GlobalAveragePool'),
    makeNode('Flatten', ['pooled'], ['flat'], { axis: 1 }, '/Flatten'),
    makeNode('Gemm', ['flat', 'fc.w', 'fc.b'], ['logits'], { transB: 1 }, '/fc/Gemm'),
  );
  inits.push(weights('fc.w', [5, 4]), weights('fc.b', [5]));
};

const EIGHT = parseInputShapes(['input:1,3,8,8']);

describe('rules on fixtures', () => {
  const at = (name: string): FileReport => lintModel(fixture(name), { cwd: FIXTURES });

  test('rewritable-tail (global): params share and MACs per order, at the analysed size', () => {
    const r = at('resnet_tail.onnx');
    assert.equal(r.file, 'resnet_tail.onnx');
    assert.equal(r.parameters, 1562);
    const f = only(r, 'rewritable-tail');
    assert.equal(f.severity, 'warning');
    assert.equal(f.node, '/fc/Gemm');
    const p = f.properties;
    assert.equal(p.tailKind, 'global');
    assert.equal(p.at, '/avgpool/GlobalAveragePool');
    assert.deepEqual(p.featureShape, [1, 16, 16, 16]);
    assert.deepEqual(p.layers, [{ node: '/fc/Gemm', op: 'Gemm', inFeatures: 16, outFeatures: 10, params: 170 }]);
    assert.equal(p.headParams, 170);
    assert.equal(p.totalParams, 1562);
    assert.equal(p.headShare, 170 / 1562);
    assert.deepEqual(p.macs, { before: 160, poolFirst: 160, convFirst: 160 * 256 });
    assert.equal(p.defaultOrder, 'pool-first', 'never slower than the original by default');
    assert.match(f.message, /pool-first 160 \(unchanged\), conv-first 40,960 \(\+25500%\)/);
  });

  test('mobilenet: an MLP head, both layers counted, pool-first by default', () => {
    const f = only(at('mobilenet_v3_small.onnx'), 'rewritable-tail');
    const p = f.properties;
    assert.deepEqual(p.layers.map((l) => [l.inFeatures, l.outFeatures]), [[576, 1024], [1024, 1000]]);
    assert.equal(p.defaultOrder, 'pool-first');
    const both = 576 * 1024 + 1024 * 1000;
    assert.deepEqual(p.macs, { before: both, poolFirst: both, convFirst: both + 576 * 1024 * 48 });
    assert.match(f.message, /→ Gemm '\/classifier\/classifier\.0\/Gemm' \(576→1024\) → Gemm '\/classifier\/classifier\.3\/Gemm' \(1024→1000\) can be rewritten exactly into 2 1×1 Convs/);
  });

  test('rewritable-tail (spatial): VGG head, and the Flatten that pins the size is fixed by the rewrite', () => {
    const r = at('vgg_mini.onnx');
    const p = only(r, 'rewritable-tail').properties;
    assert.equal(p.tailKind, 'spatial');
    assert.deepEqual(p.layers.map((l) => [l.inFeatures, l.outFeatures]), [[3136, 128], [128, 128], [128, 10]]);
    assert.equal(p.headParams, 419_338);
    assert.deepEqual(p.macs, { before: 419_072, convFirst: 419_072, poolFirst: null });
    const pins = only(r, 'fixed-input-size').properties;
    assert.deepEqual(pins.size, [224, 224]);
    assert.deepEqual(pins.pins.map((x) => [x.kind, x.node, x.fixedByRewrite]), [['input', null, true], ['spatial-tail', '/Flatten', true]]);
  });

  test('not-rewritable carries the reason code', () => {
    const max = only(at('maxpool_tail.onnx'), 'not-rewritable');
    assert.equal(max.severity, 'info');
    assert.deepEqual(max.properties, { code: 'max-pool', tailKind: 'global', at: '/pool/GlobalMaxPool' });
    assert.equal(only(at('transA_tail.onnx'), 'not-rewritable').properties.code, 'trans-a');
  });

  test('already-gap-head', () => {
    const f = only(at('squeezenet1_0.onnx'), 'already-gap-head');
    assert.equal(f.severity, 'info');
    assert.equal(f.properties.classes, 1000);
    assert.ok(!at('squeezenet1_0.onnx').findings.some((x) => x.ruleId === 'rewritable-tail'));
  });

  test("fixed-input-size names ShuffleNet's channel-shuffle Reshapes, which --dynamic-size frees", () => {
    const f = only(at('shufflenet_v2_x0_5.onnx'), 'fixed-input-size');
    const reshapes = f.properties.pins.filter((p) => p.kind === 'reshape');
    // Each shuffle's view(b, 2, c/2, h, w) and its view(b, -1, h, w) back: both hold 28×28 (14, 7).
    assert.equal(reshapes.length, 32);
    assert.equal(reshapes[0]!.node, '/stage2/stage2.0/Reshape');
    assert.match(reshapes[0]!.detail, /\[1, 2, 24, 28, 28\] that holds the 28×28 map size: gapify --dynamic-size computes it as \[1, 2, 24, H, W\]/);
    assert.ok(f.properties.pins.every((p) => p.fixedByRewrite));
    assert.equal(f.properties.fixedByRewrite, true);
    assert.match(f.message, /accepts only 224×224 inputs.*and 31 more.*gapify --dynamic-size removes every pin/);
  });

  test('every fixture lints without an error finding', () => {
    for (const r of lint([FIXTURES], { cwd: FIXTURES }).files) assert.equal(r.errorCount, 0, r.file);
  });
});

describe('rules on graphs built in code', () => {
  test('a model that takes any size: no fixed-input-size finding', () => {
    const r = lintModel(tiny('dynamic_gap', ['H', 'W'], gapTail));
    assert.deepEqual(ruleIds(r), ['rewritable-tail']);
  });

  test('fixed H and W on the input are a pin that --dynamic-size removes', () => {
    const f = only(lintModel(tiny('fixed_gap', [8, 8], gapTail)), 'fixed-input-size');
    assert.deepEqual(f.properties.pins.map((p) => [p.kind, p.input, p.fixedByRewrite]), [['input', 'input', true]]);
    assert.equal(f.properties.fixedByRewrite, true);
  });

  //   map [N,4,4,4] → Flatten → Gemm(64→5)        (only 4×4 maps fit the weight)
  test('a spatial tail on a dynamic input: the only pin, removed by the rewrite', () => {
    const path = tiny('dynamic_spatial', ['H', 'W'], (nodes, inits) => {
      nodes.push(makeNode('Flatten', ['map'], ['flat'], { axis: 1 }, '/Flatten'), makeNode('Gemm', ['flat', 'fc.w'], ['logits'], { transB: 1 }, '/fc/Gemm'));
      inits.push(weights('fc.w', [5, 64]));
    });
    const r = lintModel(path, { inputShapes: EIGHT });
    assert.equal(only(r, 'rewritable-tail').properties.tailKind, 'spatial');
    const f = only(r, 'fixed-input-size');
    assert.deepEqual(f.properties.pins.map((p) => [p.kind, p.node, p.fixedByRewrite]), [['spatial-tail', '/Flatten', true]]);
    assert.equal(f.properties.fixedByRewrite, true);
    assert.match(f.message, /gapify --dynamic-size removes every pin/);
    // Without --input-shape the map is 112×112 at the default 224: the weight does not fit it.
    assert.equal(only(lintModel(path), 'not-rewritable').properties.code, 'shape-mismatch');
  });

  //   map [N,4,4,4] → AveragePool(4×4) → Flatten → Gemm     (global only at this size)
  test('an AveragePool as big as the map: a fixed-pool pin, removed by the rewrite', () => {
    const path = tiny('disguised_pool', ['H', 'W'], (nodes, inits) => {
      nodes.push(
        makeNode('AveragePool', ['map'], ['pooled'], { kernel_shape: [4, 4] }, '/avgpool/AveragePool'),
        makeNode('Flatten', ['pooled'], ['flat'], { axis: 1 }, '/Flatten'),
        makeNode('Gemm', ['flat', 'fc.w', 'fc.b'], ['logits'], { transB: 1 }, '/fc/Gemm'),
      );
      inits.push(weights('fc.w', [5, 4]), weights('fc.b', [5]));
    });
    const r = lintModel(path, { inputShapes: EIGHT });
    const f = only(r, 'fixed-input-size');
    assert.deepEqual(f.properties.pins.map((p) => [p.kind, p.node, p.fixedByRewrite]), [['fixed-pool', '/avgpool/AveragePool', true]]);
  });

  //   map [N,4,4,4] → Reshape [1,2,2,4,4] → Transpose → Reshape [1,4,4,4] → GAP → Flatten → Gemm
  test('constant Reshape targets that hold the map size are pins --dynamic-size removes', () => {
    const path = tiny('shuffle', ['H', 'W'], (nodes, inits) => {
      nodes.push(
        makeNode('Reshape', ['map', 'shape5'], ['r5'], {}, '/shuffle/Reshape'),
        makeNode('Transpose', ['r5'], ['t5'], { perm: [0, 2, 1, 3, 4] }, '/shuffle/Transpose'),
        makeNode('Reshape', ['t5', 'shape4'], ['shuffled'], {}, '/shuffle/Reshape_1'),
        makeNode('GlobalAveragePool', ['shuffled'], ['pooled'], {}, '/gap/GlobalAveragePool'),
        makeNode('Flatten', ['pooled'], ['flat'], { axis: 1 }, '/Flatten'),
        makeNode('Gemm', ['flat', 'fc.w'], ['logits'], { transB: 1 }, '/fc/Gemm'),
      );
      inits.push(ints('shape5', [1, 2, 2, 4, 4]), ints('shape4', [1, 4, 4, 4]), weights('fc.w', [5, 4]));
    });
    const r = lintModel(path, { inputShapes: EIGHT });
    assert.equal(only(r, 'rewritable-tail').properties.tailKind, 'global');
    const f = only(r, 'fixed-input-size');
    assert.deepEqual(f.properties.pins.map((p) => [p.kind, p.node, p.fixedByRewrite]), [['reshape', '/shuffle/Reshape', true], ['reshape', '/shuffle/Reshape_1', true]]);
    assert.equal(f.properties.fixedByRewrite, true);
  });

  //   map → Reshape [0, 4, -1] → ReduceMean(axis 2) → Gemm    (follows the input: no pin)
  test('a Reshape computed to follow the map is not a pin', () => {
    const path = tiny('follows', ['H', 'W'], (nodes, inits) => {
      nodes.push(
        makeNode('Reshape', ['map', 'shape'], ['seq'], {}, '/Reshape'),
        makeNode('ReduceMean', ['seq'], ['pooled'], { axes: [2], keepdims: 0 }, '/ReduceMean'),
        makeNode('Gemm', ['pooled', 'fc.w'], ['logits'], { transB: 1 }, '/fc/Gemm'),
      );
      inits.push(ints('shape', [0, 4, -1]), weights('fc.w', [5, 4]));
    });
    assert.ok(!lintModel(path, { inputShapes: EIGHT }).findings.some((f) => f.ruleId === 'fixed-input-size'));
  });
});

describe('broken models', () => {
  test('unreadable, empty, random, truncated, LFS pointer: one broken-model error each', () => {
    const dir = join(TMP, 'broken');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'empty.onnx'), '');
    writeFileSync(join(dir, 'random.onnx'), Buffer.from(Array.from({ length: 777 }, (_, i) => (i * 193 + 71) % 256)));
    writeFileSync(join(dir, 'truncated.onnx'), readFileSync(fixture('resnet_tail.onnx')).subarray(0, 3000));
    writeFileSync(join(dir, 'lfs.onnx'), 'version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 553436206\n');
    const result = lint([dir], { cwd: dir });
    assert.deepEqual(result.files.map((f) => f.file), ['empty.onnx', 'lfs.onnx', 'random.onnx', 'truncated.onnx']);
    for (const f of result.files) {
      const b = only(f, 'broken-model');
      assert.equal(b.severity, 'error');
      assert.equal(b.node, null);
      assert.ok(!b.message.includes('\n'), b.message);
      assert.equal(f.parameters, null);
    }
    assert.match(result.files[1]!.findings[0]!.message, /Git LFS pointer/);
    assert.match(result.files[3]!.findings[0]!.message, /not an ONNX model/);
    // `bytes` is the size of any file that could be read; null only for one that can't.
    assert.deepEqual(result.files.map((f) => f.bytes), [0, 74, 777, 3000]);
    assert.equal(readableSize(join(dir, 'missing.onnx')), null);
    assert.equal(readableSize(dir), null);
  });
});

describe('reading without the weights', () => {
  test('big raw_data payloads are not read; the decoded model has the same structure', () => {
    //   input [1,4096] → Gemm(W [300, 4096] = 4.9 MB) → logits
    const big = weights('fc.w', [300, 4096]);
    const graph = makeGraph([makeNode('Gemm', ['input', 'fc.w'], ['logits'], { transB: 1 }, '/fc/Gemm')], 'big',
      [makeValueInfo('input', DataType.FLOAT, [1, 4096])], [makeValueInfo('logits', DataType.FLOAT, [1, 300])], [big, ints('small', [1, 2, 3])]);
    const path = join(TMP, 'big.onnx');
    writeFileSync(path, encode('onnx.ModelProto', makeModel(graph)));
    const full = readModel(path);
    const sparse = readModelLazy(path, { keepOpen: false });
    assert.ok(300 * 4096 * 4 >= LAZY_MIN);
    assert.ok(sparse.lazy!.bytesRead < full.bytes.length / 10, `read ${sparse.lazy!.bytesRead} of ${full.bytes.length}`);
    // Opened for analysis only: the weights can't be asked for by mistake.
    assert.throws(() => sparse.tensorBytes(sparse.model.graph!.initializer[0]!), /not read/);
    const shape = (t: TensorProto): unknown => [t.name, t.dims, t.data_type, t.raw_data?.length];
    assert.deepEqual(sparse.model.graph!.initializer.map(shape), full.model.graph!.initializer.map(shape));
    assert.deepEqual([...sparse.model.graph!.initializer[1]!.raw_data!], [...full.model.graph!.initializer[1]!.raw_data!]);
    assert.deepEqual(sparse.model.graph!.node, full.model.graph!.node);
  });

  //   input [1,64,8,8] → Conv 3×3 (64→64, 147 KB) → Relu → Conv 3×3 → Relu → Reshape(shape) → GAP → Flatten → Gemm(64→10)
  //   shape = [1, 64, 8, 8] (an int64 constant after the convs' weights in the file)
  const mid = ((): string => {
    const nodes = [
      makeNode('Conv', ['input', 'c1.w'], ['c1'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, '/c1/Conv'),
      makeNode('Relu', ['c1'], ['r1'], {}, '/r1/Relu'),
      makeNode('Conv', ['r1', 'c2.w'], ['c2'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, '/c2/Conv'),
      makeNode('Relu', ['c2'], ['r2'], {}, '/r2/Relu'),
      makeNode('Reshape', ['r2', 'shape'], ['map'], {}, '/Reshape'),
      makeNode('GlobalAveragePool', ['map'], ['pooled'], {}, '/gap/GlobalAveragePool'),
      makeNode('Flatten', ['pooled'], ['flat'], { axis: 1 }, '/Flatten'),
      makeNode('Gemm', ['flat', 'fc.w'], ['logits'], { transB: 1 }, '/fc/Gemm'),
    ];
    const inits = [weights('c1.w', [64, 64, 3, 3]), weights('c2.w', [64, 64, 3, 3]), ints('shape', [1, 64, 8, 8]), weights('fc.w', [10, 64])];
    const graph = makeGraph(nodes, 'mid', [makeValueInfo('input', DataType.FLOAT, [1, 64, 8, 8])], [makeValueInfo('logits', DataType.FLOAT, [1, 10])], inits);
    const path = join(TMP, 'mid.onnx');
    writeFileSync(path, encode('onnx.ModelProto', makeModel(graph)));
    return path;
  })();

  test('lint skips every payload of a page or more (147 KB weights), and reads the small constants the rules need', () => {
    const size = readFileSync(mid).length;
    const structure = readModelLazy(mid, { keepOpen: false, lazyMin: STRUCTURE_ONLY });
    assert.ok(structure.lazy!.bytesRead < size / 10, `read ${structure.lazy!.bytesRead} of ${size}`);
    const rewrite = readModelLazy(mid, { keepOpen: false });
    assert.equal(rewrite.lazy!.bytesRead, size, 'the rewrite reads payloads under 1 MiB');
    const r = lintModel(mid, { cwd: TMP });
    const f = only(r, 'fixed-input-size');
    assert.deepEqual(f.properties.pins.map((p) => [p.kind, p.node]), [['input', null], ['reshape', '/Reshape']]);
    assert.match(f.properties.pins[1]!.detail, /\[1, 64, 8, 8\]/);
    assert.equal(only(r, 'rewritable-tail').properties.headParams, 640);
  });

  test('a skipped payload is read when a reader asks for it, or refused once the file is closed — never taken for zeros', () => {
    const whole = readModel(mid).model.graph!.initializer.find((t) => t.name === 'c2.w')!;
    const open = readModelLazy(mid, { keepOpen: true, lazyMin: STRUCTURE_ONLY });
    const before = open.lazy!.bytesRead;
    const c2 = open.model.graph!.initializer.find((t) => t.name === 'c2.w')!;
    assert.deepEqual(readFloats(c2), readFloats(whole));
    // (less the two pages at its ends, read with the headers beside them)
    assert.ok(open.lazy!.bytesRead >= before + 64 * 64 * 9 * 4 - 2 * 4096, 'loaded on access');
    assert.deepEqual(readInts(open.model.graph!.initializer.find((t) => t.name === 'shape')!), [1, 64, 8, 8]);
    open.lazy!.close();
    const closed = readModelLazy(mid, { keepOpen: false, lazyMin: STRUCTURE_ONLY });
    assert.throws(() => readFloats(closed.model.graph!.initializer.find((t) => t.name === 'c2.w')!), UnloadedBytesError);
  });

  // rchar of /proc/self/io: bytes this process read through read(2) (Linux, as gapify's machines are).
  test('lint reads a sliver of a big model: bytes read by the process', () => {
    const big = join(TMP, 'big.onnx');
    const size = readFileSync(big).length;
    lintModel(mid); // load every module first
    const rchar = (): number => Number(/^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))![1]);
    const start = rchar();
    const r = lintModel(big);
    const read = rchar() - start;
    assert.equal(r.errorCount, 0);
    assert.ok(read < size / 50, `read ${read} of ${size}`);
  });
});

describe('paths and globs', () => {
  const root = join(TMP, 'tree');
  const touch = (rel: string, text = 'x'): void => {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), text);
  };
  touch('a.onnx');
  touch('b.ONNX');
  touch('notes.txt');
  touch('sub/c.onnx');
  touch('sub/deeper/d.onnx');
  touch('sub/e.pb');
  touch('node_modules/pkg/n.onnx');
  touch('.git/g.onnx');
  touch('models/resnet/r.onnx');
  touch('models/vgg/v.onnx');
  touch('models/vgg/old/v0.onnx');
  touch('models/bert/b.onnx');
  const rel = (files: readonly string[]): string[] => files.map((f) => relative(root, f).split('\\').join('/'));
  const expand = (args: string[], options: ExpandOptions = {}): string[] => rel(expandPaths(args, { cwd: root, ...options }).files);

  test('a folder is searched recursively for *.onnx, skipping node_modules and dot-folders', () => {
    assert.deepEqual(expand(['.']), ['a.onnx', 'b.ONNX', 'models/bert/b.onnx', 'models/resnet/r.onnx', 'models/vgg/v.onnx', 'models/vgg/old/v0.onnx', 'sub/c.onnx', 'sub/deeper/d.onnx']);
  });

  test('globs: *, **, ?, [..]; an explicit extension is taken as given', () => {
    assert.deepEqual(expand(['*.onnx']), ['a.onnx']);
    assert.deepEqual(expand(['sub/**/*.onnx']), ['sub/c.onnx', 'sub/deeper/d.onnx']);
    assert.deepEqual(expand(['sub/**']), ['sub/c.onnx', 'sub/deeper/d.onnx']);
    assert.deepEqual(expand(['?.onnx', '[bc].*']), ['a.onnx', 'b.ONNX']);
    assert.deepEqual(expand(['sub/*.pb']), ['sub/e.pb']);
    assert.deepEqual(expand(['sub/*']), ['sub/c.onnx', 'sub/deeper/d.onnx']);
    assert.deepEqual(rel(expandPaths([`${root}/sub/*/*.onnx`], { cwd: '/' }).files), ['sub/deeper/d.onnx']);
    assert.deepEqual(rel(expandPaths(['../sub/*.onnx'], { cwd: join(root, 'models') }).files), ['sub/c.onnx']);
  });

  test('braces and negative globs', () => {
    assert.deepEqual(expand(['models/{resnet,vgg}/*.onnx']), ['models/resnet/r.onnx', 'models/vgg/v.onnx']);
    assert.deepEqual(expand(['models/{resnet,vgg}']), ['models/resnet/r.onnx', 'models/vgg/v.onnx', 'models/vgg/old/v0.onnx']);
    assert.deepEqual(expand(['models', '!models/vgg/old/**']), ['models/bert/b.onnx', 'models/resnet/r.onnx', 'models/vgg/v.onnx']);
    assert.deepEqual(expand(['models/**/*.onnx', '!**/bert/**', '!**/old/*']), ['models/resnet/r.onnx', 'models/vgg/v.onnx']);
    assert.throws(() => expand(['!models/**']), (e) => e instanceof UsageError && /only negative patterns/.test(e.message));
    assert.throws(() => expand(['models/bert', '!models/bert/*']), (e) => e instanceof UsageError && /all files matched by models\/bert are ignored \(by a negative pattern\)/.test(e.message));
  });

  test('dot-folders and node_modules only when the pattern spells them out', () => {
    assert.deepEqual(expand(['**/*.onnx']).filter((f) => f.includes('node_modules') || f.startsWith('.')), []);
    assert.deepEqual(expand(['node_modules/pkg/*.onnx']), ['node_modules/pkg/n.onnx']);
    assert.deepEqual(expand(['.git/*.onnx']), ['.git/g.onnx']);
    assert.deepEqual(expand(['.git/g.onnx', 'node_modules']), ['.git/g.onnx', 'node_modules/pkg/n.onnx']);
  });

  test('explicit files whatever their name, in argument order, without duplicates', () => {
    assert.deepEqual(expand(['notes.txt', 'sub', 'sub/c.onnx', 'a.onnx']), ['notes.txt', 'sub/c.onnx', 'sub/deeper/d.onnx', 'a.onnx']);
  });

  //   loop/  inner/m.onnx  inner/back → loop (a cycle)  linked → tree/sub
  test('symlinked folders are followed, a cycle ends, and no file is linted twice', () => {
    const loop = join(TMP, 'loop');
    mkdirSync(join(loop, 'inner'), { recursive: true });
    writeFileSync(join(loop, 'inner', 'm.onnx'), 'x');
    symlinkSync(loop, join(loop, 'inner', 'back'));
    symlinkSync(join(root, 'sub'), join(loop, 'linked'));
    const real = expandPaths(['.'], { cwd: loop }).files.map((f) => realpathSync(f));
    assert.deepEqual([...real].sort(), [join(loop, 'inner', 'm.onnx'), join(root, 'sub', 'c.onnx'), join(root, 'sub', 'deeper', 'd.onnx')].map((f) => realpathSync(f)).sort());
  });

  test('an argument that names nothing is a usage error', () => {
    assert.throws(() => expand(['missing.onnx']), (e) => e instanceof UsageError && /no such file or folder: missing\.onnx/.test(e.message));
    assert.throws(() => expand(['*.tflite']), (e) => e instanceof UsageError && /no files match/.test(e.message));
    assert.throws(() => expand(['node_modules/pkg/*.txt']), UsageError);
    mkdirSync(join(root, 'empty'), { recursive: true });
    assert.throws(() => expand(['empty']), (e) => e instanceof UsageError && /no \.onnx files/.test(e.message));
  });
});

describe('ignore files and --ignore-pattern', () => {
  //   repo/  .gapifyignore: "legacy/", "*.tmp.onnx", "!keep.tmp.onnx", "/top-only.onnx"
  //          a.onnx  top-only.onnx  x.tmp.onnx  keep.tmp.onnx  legacy/l.onnx
  //          models/ m.onnx  top-only.onnx  y.tmp.onnx  legacy/l2.onnx  scratch/s.onnx
  const repo = join(TMP, 'ignores');
  for (const f of ['a.onnx', 'top-only.onnx', 'x.tmp.onnx', 'keep.tmp.onnx', 'legacy/l.onnx', 'models/m.onnx', 'models/top-only.onnx', 'models/y.tmp.onnx', 'models/legacy/l2.onnx', 'models/scratch/s.onnx']) {
    mkdirSync(join(repo, f, '..'), { recursive: true });
    writeFileSync(join(repo, f), 'x');
  }
  writeFileSync(join(repo, IGNORE_FILE), '# models we keep but do not ship\nlegacy/\n*.tmp.onnx\n!keep.tmp.onnx\n/top-only.onnx\n');
  const models = join(repo, 'models');
  const rel = (r: ExpandedPaths): string[] => r.files.map((f) => relative(repo, f));

  test('.gapifyignore at the root, in gitignore syntax (anchored, folders, negation)', () => {
    assert.deepEqual(rel(expandPaths(['.'], { cwd: repo, root: repo })), ['a.onnx', 'keep.tmp.onnx', 'models/m.onnx', 'models/top-only.onnx', 'models/scratch/s.onnx']);
  });

  test('from a subfolder the root\'s ignore file still applies, relative to the root', () => {
    assert.deepEqual(rel(expandPaths(['.'], { cwd: models, root: repo })), ['models/m.onnx', 'models/top-only.onnx', 'models/scratch/s.onnx']);
  });

  test('--ignore-pattern: gitignore syntax, relative to the working folder', () => {
    assert.deepEqual(rel(expandPaths(['.'], { cwd: models, root: repo, ignorePatterns: ['scratch/', '/top-only.onnx'] })), ['models/m.onnx']);
  });

  test('--no-ignore lints everything', () => {
    assert.equal(expandPaths(['.'], { cwd: repo, root: repo, ignoreFile: false }).files.length, 10);
  });

  test('a named file that is ignored is reported, not linted and not an error; a folder of ignored files is', () => {
    const r = expandPaths(['legacy/l.onnx', 'a.onnx', 'x.tmp.onnx'], { cwd: repo, root: repo });
    assert.deepEqual(rel(r), ['a.onnx']);
    assert.deepEqual(r.ignored.map((i) => [relative(repo, i.path), i.by]), [['legacy/l.onnx', IGNORE_FILE], ['x.tmp.onnx', IGNORE_FILE]]);
    assert.throws(() => expandPaths(['legacy'], { cwd: repo, root: repo }), (e) => e instanceof UsageError && /all files matched by legacy are ignored \(by \.gapifyignore\)/.test(e.message));
  });

  test('a FIFO where the ignore file should be is refused at once, not waited on', () => {
    const fifoRoot = join(TMP, 'fifo-ignore');
    mkdirSync(fifoRoot);
    writeFileSync(join(fifoRoot, 'a.onnx'), 'x');
    assert.equal(spawnSync('mkfifo', [join(fifoRoot, IGNORE_FILE)]).status, 0);
    assert.throws(() => expandPaths(['.'], { cwd: fifoRoot, root: fifoRoot }), (e) => e instanceof UsageError && /\.gapifyignore is not a regular file \(a FIFO\)/.test(e.message));
  });
});

describe('github workflow commands', () => {
  test("escaping as the runner's toolkit does it", () => {
    assert.equal(escapeData('100%\r\nnext: a, b'), '100%25%0D%0Anext: a, b');
    assert.equal(escapeProperty('dir/a:b,c%.onnx'), 'dir/a%3Ab%2Cc%25.onnx');
  });

  test('one annotation per finding, level mapped, file and title escaped', () => {
    const report: FileReport = {
      file: 'models/odd, name:1%.onnx', absolutePath: '/x', bytes: 1, parameters: 1, inputs: [], errorCount: 1, warningCount: 0, infoCount: 1,
      findings: [
        { ruleId: 'broken-model', severity: 'error', message: 'line one\nline two 50%', node: null, properties: { reason: 'x' } },
        { ruleId: 'already-gap-head', severity: 'info', message: 'fine', node: 'a:b', properties: { pool: 'p', conv: 'a:b', classes: null } },
      ],
    };
    const result: LintResult = { files: [report], ignored: [], errorCount: 1, warningCount: 0, infoCount: 1 };
    assert.equal(formatGithub(result), [
      // A newline is escaped as printable text first: an annotation is one line.
      '::error file=models/odd%2C name%3A1%25.onnx,line=1,title=gapify broken-model::line one\\nline two 50%25',
      '::notice file=models/odd%2C name%3A1%25.onnx,line=1,title=gapify already-gap-head (a%3Ab)::fine',
      '',
    ].join('\n'));
  });
});

describe('failsAt', () => {
  const result = (...severities: ('error' | 'warning' | 'info')[]): LintResult => ({
    files: [{
      file: 'm.onnx', absolutePath: '/m.onnx', bytes: 1, parameters: 1, inputs: [], errorCount: 0, warningCount: 0, infoCount: 0,
      findings: severities.map((severity) => ({ ruleId: 'broken-model', severity, message: '', node: null, properties: { reason: '' } })),
    }],
    ignored: [],
    errorCount: 0, warningCount: 0, infoCount: 0,
  });
  test('a finding at or above the level fails; never never does', () => {
    assert.equal(failsAt(result('warning'), 'error'), false);
    assert.equal(failsAt(result('warning'), 'warning'), true);
    assert.equal(failsAt(result('warning'), 'info'), true);
    assert.equal(failsAt(result('info'), 'warning'), false);
    assert.equal(failsAt(result('error'), 'never'), false);
    assert.equal(failsAt(result(), 'info'), false);
  });
});

// --- the binary ----------------------------------------------------------------------------------------

describe('gapify lint (the binary)', () => {
  //   models/  resnet_tail.onnx (warning) · maxpool_tail.onnx (info) · already_gap.onnx (info)
  //            vgg_mini.onnx (warning) · sub/random.onnx (error) · sub/truncated.onnx (error)
  const project = join(TMP, 'project');
  const models = join(project, 'models');
  mkdirSync(join(models, 'sub'), { recursive: true });
  for (const m of ['resnet_tail.onnx', 'maxpool_tail.onnx', 'already_gap.onnx', 'vgg_mini.onnx']) copyFileSync(fixture(m), join(models, m));
  writeFileSync(join(models, 'sub', 'random.onnx'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 251)));
  writeFileSync(join(models, 'sub', 'truncated.onnx'), readFileSync(fixture('vgg_mini.onnx')).subarray(0, 100_000));
  const good = ['models/already_gap.onnx', 'models/maxpool_tail.onnx', 'models/resnet_tail.onnx', 'models/vgg_mini.onnx'];
  const broken = ['models/sub/random.onnx', 'models/sub/truncated.onnx'];

  test('stylish (default): grouped by file, a summary line, no colour, exit 1 for the broken files', () => {
    const r = gapify(['lint', 'models'], project);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, '');
    assert.ok(!r.stdout.includes('\u001b['), 'no ANSI colour');
    for (const f of [...good, ...broken]) assert.match(r.stdout, new RegExp(`^${f.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(r.stdout, /^ {2}error {4}not an ONNX model .* {2}broken-model$/m);
    assert.match(r.stdout, /^ {2}warning {2}GlobalAveragePool '\/avgpool\/GlobalAveragePool' → Gemm .* {2}rewritable-tail$/m);
    assert.match(r.stdout, /^ {2}info {5}global tail at '\/pool\/GlobalMaxPool' can't be rewritten exactly \(max-pool\)/m);
    assert.match(r.stdout, /^✖ 10 problems \(2 errors, 2 warnings, 6 infos\) in 6 files$/m);
  });

  test('json: only JSON on stdout, one object per file, the broken ones with an error finding', () => {
    const r = gapify(['lint', 'models', '--format', 'json'], project);
    assert.equal(r.code, 1, r.stderr);
    const files = JSON.parse(r.stdout) as FileReport[];
    assert.deepEqual(files.map((f) => f.file), [...good, ...broken]);
    const byFile = new Map(files.map((f) => [f.file, f]));
    assert.deepEqual(ruleIds(byFile.get('models/resnet_tail.onnx')!), ['fixed-input-size', 'rewritable-tail']);
    assert.deepEqual(ruleIds(byFile.get('models/maxpool_tail.onnx')!), ['fixed-input-size', 'not-rewritable']);
    assert.deepEqual(ruleIds(byFile.get('models/already_gap.onnx')!), ['already-gap-head', 'fixed-input-size']);
    for (const b of broken) {
      const f = byFile.get(b)!;
      assert.deepEqual(f.findings.map((x) => [x.ruleId, x.severity]), [['broken-model', 'error']]);
      assert.equal(f.errorCount, 1);
    }
    const resnet = byFile.get('models/resnet_tail.onnx')!;
    assert.deepEqual(Object.keys(resnet), ['file', 'absolutePath', 'bytes', 'parameters', 'inputs', 'findings', 'errorCount', 'warningCount', 'infoCount']);
    assert.deepEqual(resnet.inputs, [{ name: 'input', shape: [1, 3, 32, 32], declared: ['N', 3, 32, 32] }]);
    assert.deepEqual(Object.keys(resnet.findings[0]!), ['ruleId', 'severity', 'message', 'node', 'properties']);
  });

  test('sarif: a SARIF 2.1.0 log GitHub code scanning takes', (t) => {
    const r = gapify(['lint', 'models', '--format', 'sarif'], project);
    assert.equal(r.code, 1, r.stderr);
    const log = JSON.parse(r.stdout) as SarifLog;
    assert.equal(log.$schema, 'https://json.schemastore.org/sarif-2.1.0.json');
    assert.equal(log.version, '2.1.0');
    assert.equal(log.runs.length, 1);
    const run = log.runs[0]!;
    const driver = run.tool.driver;
    assert.equal(driver.name, 'gapify');
    assert.match(driver.version, /^\d+\.\d+\.\d+/);
    assert.match(driver.informationUri, /^https:\/\//);
    assert.deepEqual(driver.rules.map((x) => x.id), RULE_IDS);
    for (const rule of driver.rules) {
      const meta = RULES[rule.id as keyof typeof RULES];
      assert.equal(rule.name, meta.name);
      assert.ok(rule.shortDescription.text && rule.fullDescription.text && rule.help.text && rule.help.markdown, rule.id);
      assert.equal(rule.defaultConfiguration.level, { error: 'error', warning: 'warning', info: 'note' }[meta.severity]);
    }
    assert.equal(run.results.length, 10);
    const seen = new Set<string>();
    for (const res of run.results) {
      assert.equal(driver.rules[res.ruleIndex]!.id, res.ruleId);
      assert.ok(['error', 'warning', 'note'].includes(res.level));
      assert.ok(res.message.text.length > 0);
      assert.equal(res.locations.length, 1);
      const loc = res.locations[0]!.physicalLocation;
      assert.equal(loc.artifactLocation.uriBaseId, '%SRCROOT%');
      assert.ok([...good, ...broken].includes(loc.artifactLocation.uri), loc.artifactLocation.uri);
      assert.deepEqual(loc.region, { startLine: 1 });
      const fp = res.partialFingerprints['gapify/v1']!;
      assert.match(fp, /^[0-9a-f]{64}:\d+$/);
      assert.ok(!seen.has(fp), 'fingerprints are unique');
      seen.add(fp);
    }
    assert.equal(run.results.filter((x) => x.level === 'error').length, 2);
    // Stable: the same findings give the same fingerprints from another run.
    const again = JSON.parse(gapify(['lint', 'models', '--format', 'sarif'], project).stdout) as SarifLog;
    assert.deepEqual(again.runs[0]!.results.map((x) => x.partialFingerprints), run.results.map((x) => x.partialFingerprints));
    validateSarif(t, log);
  });

  test('github: workflow commands only', () => {
    const r = gapify(['lint', 'models', '--format', 'github'], project);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 10);
    for (const l of lines) assert.match(l, /^::(error|warning|notice) file=models\/[^,]+,line=1,title=gapify [a-z-]+.*::\S/);
    assert.equal(lines.filter((l) => l.startsWith('::error file=models/sub/')).length, 2);
    assert.ok(lines.some((l) => /^::warning file=models\/resnet_tail\.onnx,line=1,title=gapify rewritable-tail \(\/fc\/Gemm\)::.*\(10\.9%25\)/.test(l)));
  });

  test('--output-file writes the report there and nothing to stdout', () => {
    const r = gapify(['lint', 'models', '-f', 'sarif', '--output-file', 'out/gapify.sarif'], project);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal((JSON.parse(readFileSync(join(project, 'out', 'gapify.sarif'), 'utf8')) as SarifLog).version, '2.1.0');
  });

  test('globs are expanded when the shell did not', () => {
    const r = gapify(['lint', 'models/**/*.onnx', '--format', 'json'], project);
    assert.deepEqual((JSON.parse(r.stdout) as FileReport[]).map((f) => f.file), [...good, ...broken]);
  });

  test('exit codes for each --fail-on level', () => {
    const cases: [string[], string, number][] = [
      [['models/resnet_tail.onnx', 'models/maxpool_tail.onnx'], 'error', 0],
      [['models/resnet_tail.onnx', 'models/maxpool_tail.onnx'], 'warning', 1],
      [['models/resnet_tail.onnx', 'models/maxpool_tail.onnx'], 'info', 1],
      [['models/resnet_tail.onnx', 'models/maxpool_tail.onnx'], 'never', 0],
      [['models/maxpool_tail.onnx'], 'warning', 0],
      [['models/maxpool_tail.onnx'], 'info', 1],
      [['models'], 'error', 1],
      [['models'], 'never', 0],
    ];
    for (const [paths, level, code] of cases) {
      const r = gapify(['lint', ...paths, '--fail-on', level, '--format', 'json'], project);
      assert.equal(r.code, code, `${paths.join(' ')} --fail-on ${level}: ${r.stderr}`);
      JSON.parse(r.stdout);
    }
    assert.equal(gapify(['lint', 'models/resnet_tail.onnx'], project).code, 0, 'default --fail-on is error');
  });

  test('usage errors exit 2 with one line on stderr and nothing on stdout', () => {
    const cases: [string[], RegExp][] = [
      [['lint', 'nope.onnx'], /^gapify: no such file or folder: nope\.onnx$/],
      [['lint', 'models/*.tflite'], /^gapify: no files match models\/\*\.tflite$/],
      [['lint', 'models', '--format', 'xml'], /argument 'xml' is invalid/],
      [['lint', 'models', '--fail-on', 'sometimes'], /argument 'sometimes' is invalid/],
      [['lint'], /missing required argument 'paths'/],
      [['lint', 'models', '--input-shape', 'input:1,3,x'], /--input-shape/],
    ];
    for (const [args, message] of cases) {
      const r = gapify(args, project);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stdout, '', args.join(' '));
      assert.match(r.stderr.split('\n')[0]!, message);
    }
  });
});

describe('paths relative to the repository root', () => {
  //   repo/ (a git repository)  .gapifyignore: "scratch/"
  //         models/a.onnx (resnet_tail: a warning)  models/scratch/s.onnx (ignored)
  //   ws/   models/a.onnx   (no git; a fake GITHUB_WORKSPACE)
  const repo = join(TMP, 'repo');
  mkdirSync(join(repo, 'models', 'scratch'), { recursive: true });
  copyFileSync(fixture('resnet_tail.onnx'), join(repo, 'models', 'a.onnx'));
  copyFileSync(fixture('resnet_tail.onnx'), join(repo, 'models', 'scratch', 's.onnx'));
  writeFileSync(join(repo, IGNORE_FILE), 'scratch/\n');
  const git = spawnSync('git', ['init', '-q', repo], { encoding: 'utf8' });
  const ws = join(TMP, 'ws');
  mkdirSync(join(ws, 'models'), { recursive: true });
  copyFileSync(fixture('resnet_tail.onnx'), join(ws, 'models', 'a.onnx'));
  const sarifOf = (stdout: string): { uri: string; base: string | undefined; root: string } => {
    const run = (JSON.parse(stdout) as { runs: { originalUriBaseIds: Record<string, { uri: string }>; results: { locations: { physicalLocation: { artifactLocation: { uri: string; uriBaseId?: string } } }[] }[] }[] }).runs[0]!;
    const loc = run.results[0]!.locations[0]!.physicalLocation.artifactLocation;
    return { uri: loc.uri, base: loc.uriBaseId, root: run.originalUriBaseIds['%SRCROOT%']!.uri };
  };

  test('from a subfolder of a git repository: paths from the top level, its .gapifyignore applies', () => {
    assert.equal(git.status, 0, git.stderr);
    const github = gapify(['lint', '.', '--format', 'github'], join(repo, 'models'));
    assert.equal(github.code, 0, github.stderr);
    assert.match(github.stdout, /^::warning file=models\/a\.onnx,line=1,/);
    assert.equal(github.stdout.trimEnd().split('\n').length, 2, 'scratch/ is ignored');
    const sarif = sarifOf(gapify(['lint', '.', '--format', 'sarif'], join(repo, 'models')).stdout);
    assert.deepEqual(sarif, { uri: 'models/a.onnx', base: '%SRCROOT%', root: pathToFileURL(`${realpathSync(repo)}/`).href });
    const [json] = JSON.parse(gapify(['lint', 'a.onnx', '--format', 'json'], join(repo, 'models')).stdout) as FileReport[];
    assert.equal(json!.file, 'models/a.onnx');
    assert.equal(json!.absolutePath, join(repo, 'models', 'a.onnx'));
  });

  test('GITHUB_WORKSPACE is the root when set (over git); --root wins over both', () => {
    const github = gapify(['lint', '.', '--format', 'github'], join(ws, 'models'), { GITHUB_WORKSPACE: ws });
    assert.match(github.stdout, /^::warning file=models\/a\.onnx,line=1,/);
    assert.equal(sarifOf(gapify(['lint', '.', '--format', 'sarif'], join(ws, 'models'), { GITHUB_WORKSPACE: ws }).stdout).uri, 'models/a.onnx');
    const inRepo = gapify(['lint', 'a.onnx', '--format', 'github'], join(repo, 'models'), { GITHUB_WORKSPACE: join(repo, 'models') });
    assert.match(inRepo.stdout, /^::warning file=a\.onnx,/);
    const rooted = gapify(['lint', '.', '--format', 'github', '--root', '..'], join(ws, 'models'), { GITHUB_WORKSPACE: join(ws, 'models') });
    assert.match(rooted.stdout, /^::warning file=models\/a\.onnx,/);
  });

  test('no git and no GITHUB_WORKSPACE: the working folder; a file outside the root keeps its absolute path', () => {
    // An empty PATH: no git, as on an image that has none (the binary is run by absolute path).
    mkdirSync(join(TMP, 'empty-bin'), { recursive: true });
    const noGit = { PATH: join(TMP, 'empty-bin') };
    assert.match(gapify(['lint', '.', '--format', 'github'], join(ws, 'models'), noGit).stdout, /^::warning file=a\.onnx,/);
    assert.match(gapify(['lint', '.', '--format', 'github'], join(repo, 'models'), noGit).stdout, /^::warning file=a\.onnx,/);
    const outside = gapify(['lint', join(ws, 'models', 'a.onnx'), '--format', 'sarif'], join(repo, 'models'));
    assert.equal(sarifOf(outside.stdout).uri, pathToFileURL(join(ws, 'models', 'a.onnx')).href);
  });

  test('findRoot: --root, then GITHUB_WORKSPACE, then the git top level, then the working folder', () => {
    const env = { GIT_CEILING_DIRECTORIES: TMP };
    const sub = join(repo, 'models', 'scratch');
    assert.deepEqual(findRoot({ cwd: sub, env }), { dir: realpathSync(repo), from: 'git' });
    assert.deepEqual(findRoot({ cwd: sub, env: { ...env, GITHUB_WORKSPACE: ws } }), { dir: ws, from: 'GITHUB_WORKSPACE' });
    assert.deepEqual(findRoot({ cwd: sub, env: { ...env, GITHUB_WORKSPACE: ws }, explicit: '..' }), { dir: join(repo, 'models'), from: '--root' });
    assert.deepEqual(findRoot({ cwd: join(ws, 'models'), env }), { dir: join(ws, 'models'), from: 'cwd' });
    assert.throws(() => findRoot({ cwd: ws, env, explicit: 'nowhere' }), UsageError);
  });

  test('a named file that is ignored: a warning on stderr, not linted, exit 0', () => {
    const r = gapify(['lint', 'scratch/s.onnx', '--format', 'json'], join(repo, 'models'));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), []);
    assert.equal(r.stderr, 'gapify: warning: scratch/s.onnx: ignored (by .gapifyignore); --no-ignore lints it\n');
    // A file name with a control character is named in one printable line.
    const odd = join(repo, 'models', 'scratch', 'bell\u0007.onnx');
    copyFileSync(fixture('resnet_tail.onnx'), odd);
    const warned = gapify(['lint', odd], join(repo, 'models'));
    assert.equal(warned.code, 0, warned.stderr);
    assert.equal(warned.stderr.split('\n').length, 2, warned.stderr);
    assert.doesNotMatch(warned.stderr, /\u0007/);
    rmSync(odd);
    const negated = gapify(['lint', 'a.onnx', '!a.onnx'], join(repo, 'models'));
    assert.equal(negated.code, 0, negated.stderr);
    assert.equal(negated.stderr, 'gapify: warning: a.onnx: ignored (by a negative pattern)\n');
    const all = gapify(['lint', 'scratch/s.onnx', '--no-ignore', '--format', 'json'], join(repo, 'models'));
    assert.equal((JSON.parse(all.stdout) as FileReport[])[0]!.file, 'models/scratch/s.onnx');
    assert.match(gapify(['lint', '.', '--root', 'nowhere'], join(repo, 'models')).stderr, /^gapify: --root nowhere: no such folder$/m);
  });
});

describe('rule levels (--rule)', () => {
  //   levels/ resnet_tail.onnx (rewritable-tail warning, fixed-input-size info)
  //           maxpool_tail.onnx (not-rewritable info, fixed-input-size info)
  const dir = join(TMP, 'levels');
  mkdirSync(dir, { recursive: true });
  for (const m of ['resnet_tail.onnx', 'maxpool_tail.onnx']) copyFileSync(fixture(m), join(dir, m));

  test('off drops a rule\'s findings, a level replaces its severity, and the counts follow', () => {
    const r = lint([dir], { cwd: dir, rules: { 'fixed-input-size': 'off', 'not-rewritable': 'error' } });
    assert.deepEqual(r.files.map((f) => f.findings.map((x) => [x.ruleId, x.severity])), [[['not-rewritable', 'error']], [['rewritable-tail', 'warning']]]);
    assert.deepEqual(r.files.map((f) => [f.errorCount, f.warningCount, f.infoCount]), [[1, 0, 0], [0, 1, 0]]);
    assert.equal(failsAt(r, 'error'), true);
  });

  test('parseRuleLevels: id=level or id: level, the last one wins; unknown ids and levels are usage errors', () => {
    assert.deepEqual(parseRuleLevels(['rewritable-tail=off', 'fixed-input-size: warning', 'rewritable-tail=error']), { 'rewritable-tail': 'error', 'fixed-input-size': 'warning' });
    assert.throws(() => parseRuleLevels(['rewriteable-tail=off']), (e) => e instanceof UsageError && /no rule 'rewriteable-tail' \(rules: rewritable-tail, /.test(e.message));
    assert.throws(() => parseRuleLevels(['rewritable-tail=fatal']), (e) => e instanceof UsageError && /no level 'fatal' \(levels: off, error, warning, info\)/.test(e.message));
    assert.throws(() => parseRuleLevels(['rewritable-tail']), (e) => e instanceof UsageError && /expected <rule>=<level>/.test(e.message));
  });

  test('the binary: exit status, SARIF rules carry the configured level, off is disabled', () => {
    assert.equal(gapify(['lint', '.', '--fail-on', 'warning'], dir).code, 1);
    assert.equal(gapify(['lint', '.', '--fail-on', 'warning', '--rule', 'rewritable-tail=info'], dir).code, 0);
    assert.equal(gapify(['lint', '.', '--rule', 'not-rewritable=error', '--rule', 'fixed-input-size=off'], dir).code, 1);
    const r = gapify(['lint', '.', '--format', 'sarif', '--rule', 'not-rewritable=error', '--rule', 'fixed-input-size=off'], dir);
    const run = (JSON.parse(r.stdout) as SarifLog).runs[0]!;
    const config = Object.fromEntries(run.tool.driver.rules.map((x) => [x.id, x.defaultConfiguration]));
    assert.deepEqual(config, {
      'rewritable-tail': { level: 'warning' }, 'not-rewritable': { level: 'error' }, 'already-gap-head': { level: 'note' },
      'fixed-input-size': { enabled: false, level: 'none' }, 'broken-model': { level: 'error' },
    });
    assert.deepEqual(run.results.map((x) => [x.ruleId, x.level]), [['not-rewritable', 'error'], ['rewritable-tail', 'warning']]);
    const bad = gapify(['lint', '.', '--rule', 'nope=off'], dir);
    assert.equal(bad.code, 2);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /^gapify: --rule 'nope=off': no rule 'nope'/);
  });
});

// --- SARIF ----------------------------------------------------------------------------------------------

interface SarifLog {
  $schema: string;
  version: string;
  runs: {
    tool: { driver: { name: string; version: string; informationUri: string; rules: { id: string; name: string; shortDescription: { text: string }; fullDescription: { text: string }; help: { text: string; markdown: string }; defaultConfiguration: { level: string; enabled?: boolean } }[] } };
    results: { ruleId: string; ruleIndex: number; level: string; message: { text: string }; locations: { physicalLocation: { artifactLocation: { uri: string; uriBaseId?: string }; region: { startLine: number } } }[]; partialFingerprints: Record<string, string> }[];
  }[];
}

/**
 * Validates against the official SARIF 2.1.0 schema (test/schemas/sarif-2.1.0-rtm.5.json, the
 * OASIS schema as published on schemastore and shipped by @microsoft/jest-sarif).
 */
function validateSarif(_t: TestContext, log: SarifLog): void {
  const require = createRequire(import.meta.url);
  const Ajv = require('ajv-draft-04') as new (o: object) => { compile(s: object): ((d: unknown) => boolean) & { errors?: unknown } };
  const addFormats = require('ajv-formats') as (ajv: object) => void;
  const schema = JSON.parse(readFileSync(fileURLToPath(new URL('../../test/schemas/sarif-2.1.0-rtm.5.json', import.meta.url)), 'utf8')) as object;
  // The schema's `language` pattern is not a valid unicode-mode regular expression.
  const ajv = new Ajv({ allErrors: true, strict: false, unicodeRegExp: false });
  addFormats(ajv);
  const validate = ajv.compile(schema);
  assert.ok(validate(log), JSON.stringify(validate.errors, null, 2));
}
