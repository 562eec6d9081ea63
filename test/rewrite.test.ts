// The rewrite pipeline whatever the tail's form: already-GAP heads, untouched bytes, shapes learned
// from onnxruntime, names, opsets and metadata, and the input file. Each form's own tests are in
// test/rules/<rule>.test.ts.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gapify } from '../src/gapify.js';
import { formatReport } from '../src/report.js';
import { makeGraph, makeNode, makeTensor, makeValueInfo } from '../src/onnx/builder.js';
import { readModel } from '../src/onnx/model-io.js';
import { DataType, type GraphProto } from '../src/onnx/schema.js';
import { compareModels } from '../src/verify/compare.js';
import { lintModel } from '../src/lint/index.js';
import { analyzeModel, rewriteModel } from '../src/rewrite/index.js';
import { classifier, saveModel, tempDir } from './support/models.js';
import { assertVerifiedWithin, C, FIXTURES, gapFlatten, gemm, K, rewriter } from './support/rewrite.js';

const tmp = tempDir();
after(() => tmp.cleanup());
const { run, rewriteBuilt } = rewriter(tmp.dir);

describe('already a GAP head', () => {
  test('already a GAP head: reported, nothing written', async () => {
    const { report, out } = await run(join(FIXTURES, 'already_gap.onnx'));
    assert.equal(report.written, false);
    assert.equal(report.alreadyGap.length, 1);
    assert.match(report.nothingWritten ?? '', /already/);
    assert.equal(existsSync(out), false);
  });

  test('squeezenet1_0: already a GAP head, nothing written', async () => {
    const { report, out } = await run(join(FIXTURES, 'squeezenet1_0.onnx'));
    assert.equal(report.written, false);
    assert.equal(report.alreadyGap[0]?.classes, 1000);
    assert.equal(existsSync(out), false);
  });
});

describe('any form', () => {
  test('an untouched model keeps its bytes: the rewrite copies unchanged tensors verbatim', async () => {
    const input = join(FIXTURES, 'vgg_mini.onnx');
    const { out } = await run(input);
    const original = readModel(input).model.graph!;
    const rewritten = readModel(out).model.graph!;
    const conv = original.initializer.find((t) => t.name === 'features.0.weight')!;
    const copy = rewritten.initializer.find((t) => t.name === 'features.0.weight')!;
    assert.deepEqual(Buffer.from(copy.raw_data!), Buffer.from(conv.raw_data!));
    // The 7×7 conv weight is the Gemm weight's bytes under new dims.
    const gemmW = original.initializer.find((t) => t.name === 'classifier.0.weight')!;
    const convW = rewritten.initializer.find((t) => t.name === 'classifier.0.weight_conv')!;
    assert.deepEqual(convW.dims, [128, 64, 7, 7]);
    assert.ok(Buffer.from(convW.raw_data!).equals(Buffer.from(gemmW.raw_data!)));
  });

  test('shapes static inference cannot see are probed with onnxruntime (spatial tail behind an Einsum)', async () => {
    const model = classifier({
      tail(net, x) {
        const y = net.op('Einsum', '/einsum/Einsum', [x], { equation: 'nchw->nchw' });
        const f = net.op('Flatten', '/Flatten', [net.op('MaxPool', '/pool/MaxPool', [y], { kernel_shape: [4, 4], strides: [4, 4] })], { axis: 1 });
        const { b } = net.classifier();
        const fw = net.weight('fc.weight', [K, C * 4 * 4], net.normals(K * C * 16, 0.1));
        net.op('Gemm', '/fc/Gemm', [f, fw, net.weight('fc.bias', [K], b)], { transB: 1 }, 'logits');
        return [['logits', ['N', K]]];
      },
    });
    const path = saveModel(tmp.dir, 'einsum.onnx', model);
    const { report } = await run(path);
    assert.equal(report.written, true);
    assert.deepEqual(report.rewritten[0]!.layers.map((l) => l.became), ['Conv 4×4']);
    assertVerifiedWithin(report, 1e-5);
    // Without onnxruntime's help the shape is unknown, and the tail is refused with a reason.
    const { report: blind } = await run(path, { probe: false });
    assert.deepEqual(blind.refused.map((r) => r.code), ['unknown-dims']);
  });

  test('a sparse initializer elsewhere in the graph is a value like any other', async () => {
    const model = classifier({
      tail(net, x) {
        gemm(net, gapFlatten(net, x));
        net.op('Add', '/sp/Add', ['logits', 'sp_const'], {}, 'shifted');
        return [['logits', ['N', K]], ['shifted', ['N', K]]];
      },
    });
    const sparse = { values: makeTensor('sp_const', DataType.FLOAT, [1], [0.5]), indices: makeTensor('sp_idx', DataType.INT64, [1], [3]), dims: [K] };
    const { report } = await rewriteBuilt('sparse', { ...model, graph: { ...model.graph!, sparse_initializer: [sparse] } });
    assertVerifiedWithin(report, 1e-5);
  });

  test('new names avoid the names used inside subgraphs (If branches share the namespace)', async () => {
    const branch = (name: string): GraphProto => makeGraph([makeNode('Identity', ['logits'], ['logits_class_map'], {}, `${name}/Identity`)], name, [], [makeValueInfo('logits_class_map', DataType.FLOAT, undefined)]);
    const model = classifier({
      tail(net, x) {
        gemm(net, gapFlatten(net, x));
        const cond = net.weight('cond', [], [1]);
        net.nodes.push(makeNode('Cast', [cond], ['cond_bool'], { to: DataType.BOOL }, '/cond/Cast'));
        net.nodes.push(makeNode('If', ['cond_bool'], ['picked'], { then_branch: branch('then'), else_branch: branch('else') }, '/If'));
        return [['logits', ['N', K]], ['picked', ['N', K]]];
      },
    });
    const { report, out } = await rewriteBuilt('subgraph-names', model, { order: 'conv-first' });
    assertVerifiedWithin(report, 1e-5);
    assert.notEqual(report.rewritten[0]!.classMap, 'logits_class_map');
    assert.equal(readModel(out).model.graph!.node.filter((n) => n.output.includes('logits_class_map')).length, 0);
  });

  test('a node name with a line break cannot break the one-line report entries', async () => {
    const model = classifier({
      tail(net, x) {
        const { w, b } = net.classifier();
        net.op('Gemm', 'fc\nwrote /etc/passwd', [gapFlatten(net, x), net.weight('fc.weight', [K, C], w), net.weight('fc.bias', [K], b)], { transB: 1 }, 'logits');
        return [['logits', ['N', K]]];
      },
    });
    const { report } = await rewriteBuilt('newline-name', model);
    const text = formatReport(report);
    assert.match(text, /Gemm 'fc\\nwrote \/etc\/passwd'/);
    assert.equal(text.split('\n').filter((l) => l.startsWith('wrote ')).length, 0);
  });

  test('new names never collide with existing ones', async () => {
    const model = classifier({
      tail(net, x) {
        gemm(net, gapFlatten(net, x));
        // Occupy the names the rewrite would pick first.
        net.op('Identity', '/logits/Gemm/gapify/Conv', [x], {}, 'logits_class_map');
        net.weight('logits.weight_conv', [1], [0]);
        return [['logits', ['N', K]], ['logits_class_map', ['N', C, 16, 16]]];
      },
    });
    const { report, out } = await rewriteBuilt('collisions', model);
    assertVerifiedWithin(report, 1e-5);
    const names = readModel(out).model.graph!.node.map((n) => n.name);
    assert.equal(new Set(names).size, names.length);
    assert.notEqual(report.rewritten[0]!.classMap, 'logits_class_map');
  });

  test('opset 7 (Caffe2-era) and opset 18 (ReduceMean axes as input): emitted nodes are valid there', async () => {
    const v7 = classifier({ opset: 7, model: { irVersion: 3 }, tail(net, x) { gemm(net, gapFlatten(net, x)); return [['logits', ['N', K]]]; } });
    const r7 = await rewriteBuilt('opset7', v7);
    assertVerifiedWithin(r7.report, 1e-5);
    const v18 = classifier({
      opset: 18,
      tail(net, x) {
        const axes = net.constInt64('/axes', [2], [2, 3]);
        gemm(net, net.op('ReduceMean', '/pool/ReduceMean', [x, axes], { keepdims: 0 }));
        return [['logits', ['N', K]]];
      },
    });
    const r18 = await rewriteBuilt('opset18', v18);
    assertVerifiedWithin(r18.report, 1e-5);
  });

  test('model metadata, IR version, opset imports and doc strings are preserved', async () => {
    const model = classifier({ model: { docString: 'keep me', producer: 'some-exporter', producerVersion: '9.9' }, tail(net, x) { gemm(net, gapFlatten(net, x)); return [['logits', ['N', K]]]; } });
    const withMeta = { ...model, metadata_props: [{ key: 'author', value: 'someone' }] };
    const { out } = await rewriteBuilt('metadata', withMeta);
    const m = readModel(out).model;
    assert.equal(m.doc_string, 'keep me');
    assert.equal(m.producer_name, 'some-exporter');
    assert.equal(m.producer_version, '9.9');
    assert.equal(m.ir_version, model.ir_version);
    assert.deepEqual(m.opset_import, model.opset_import);
    assert.deepEqual(m.metadata_props, [{ key: 'author', value: 'someone' }]);
  });
});

describe('several heads of different forms', () => {
  //   backbone ─┬─ Conv 1×1 ─ AveragePool 16×16 ─ Flatten ─ maps_out      (pool-only, first in the graph)
  //             └─ GlobalAveragePool ─ Flatten ─ Gemm ─ logits           (global)
  test('are reported in graph order, each once, and all rewritten', async () => {
    const model = classifier({
      tail(net, x) {
        const maps = net.op('Conv', '/cls/Conv', [x, net.weight('cls.weight', [K, C, 1, 1], net.normals(K * C, 0.25))], { kernel_shape: [1, 1] });
        net.op('Flatten', '/aux/Flatten', [net.op('AveragePool', '/aux/AveragePool', [maps], { kernel_shape: [16, 16] })], { axis: 1 }, 'maps_out');
        gemm(net, gapFlatten(net, x));
        return [['maps_out', ['N', K]], ['logits', ['N', K]]];
      },
    });
    const { report } = await rewriteBuilt('two-forms', model);
    assert.deepEqual(report.rewritten.map((c) => c.tail.kind), ['pool-only', 'global']);
    assertVerifiedWithin(report, 1e-5);
    const lint = lintModel(saveModel(tmp.dir, 'two-forms-lint.onnx', model)).findings.filter((f) => f.ruleId === 'rewritable-tail');
    assert.deepEqual(lint.map((f) => f.ruleId === 'rewritable-tail' && f.properties.tailKind), ['pool-only', 'global']);
  });

  test('a Gemm without a bias gets a Conv without one, and no name is spent on it', async () => {
    const model = classifier({
      tail(net, x) {
        const { w } = net.classifier();
        net.op('Gemm', '/fc/Gemm', [gapFlatten(net, x), net.weight('fc.weight', [K, C], w)], { transB: 1 }, 'logits');
        return [['logits', ['N', K]]];
      },
    });
    const { report, out } = await rewriteBuilt('no-bias', model);
    assertVerifiedWithin(report, 1e-5);
    const conv = readModel(out).model.graph!.node.find((n) => n.op_type === 'Conv' && n.name?.includes('/gapify/'))!;
    assert.deepEqual(conv.input.slice(1), ['fc.weight_conv']);
    // The name a bias would have had is still free in the rewritten graph.
    const analysis = analyzeModel(readModel(saveModel(tmp.dir, 'no-bias-lib.onnx', model)));
    rewriteModel(analysis, { order: 'auto' });
    assert.equal(analysis.graph.uniqueName('fc.weight_bias_conv'), 'fc.weight_bias_conv');
  });
});

describe('the input file is never touched', () => {
  test('input bytes are identical after a rewrite', async () => {
    const input = join(FIXTURES, 'resnet_tail.onnx');
    const before = readFileSync(input);
    await run(input);
    assert.ok(readFileSync(input).equals(before));
  });

  test('-o equal to the input is refused without --in-place', async () => {
    const input = join(FIXTURES, 'resnet_tail.onnx');
    await assert.rejects(gapify(input, { output: input }), /--in-place/);
  });

  test('a rewritten model compares equal to the original through `compareModels`', async () => {
    const input = join(FIXTURES, 'resnet_tail.onnx');
    const { out } = await run(input, { verify: false });
    const c = await compareModels({ path: input }, { path: out }, { inputShapes: { byName: new Map([['input', [3, 3, 32, 32]]]) } });
    assert.equal(c.ok, true);
    assert.deepEqual(c.inputs[0]!.shape, [3, 3, 32, 32]);
  });
});
