// gapify lint speaks about image classifiers only: a CI step that lints every .onnx of a repository
// gets no finding for audio, text or tabular models, and fixed-input-size names the real H×W.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { lintModel } from '../src/lint/index.js';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/onnx/builder.js';
import { DataType } from '../src/onnx/schema.js';
import { FIXTURES } from './support/golden.js';
import { saveModel, tempDir } from './support/models.js';

const tmp = tempDir('gapify-lint-scope-');
after(() => tmp.cleanup());

test('non-image models (a wake-word MLP, a GRU voice-activity detector) get no finding at all', () => {
  for (const f of ['wakeword_mlp.onnx', 'vad_gru.onnx']) {
    const r = lintModel(join(FIXTURES, f));
    assert.deepEqual(r.findings.map((x) => x.message), [], f);
  }
});

test('a channels-last image input: fixed-input-size names its height × width, not its channels', () => {
  //   input [1, 48, 64, 3] (NHWC) ─ Transpose → NCHW ─ Conv 1×1 ─ ReduceMean(2, 3) ─ Gemm ─ logits
  const path = saveModel(tmp.dir, 'nhwc.onnx', makeModel(makeGraph(
    [
      makeNode('Transpose', ['input'], ['nchw'], { perm: [0, 3, 1, 2] }, 'to_nchw'),
      makeNode('Conv', ['nchw', 'w'], ['map'], { kernel_shape: [1, 1] }, 'conv'),
      makeNode('ReduceMean', ['map'], ['pooled'], { axes: [2, 3], keepdims: 0 }, 'pool'),
      makeNode('Gemm', ['pooled', 'fc', 'b'], ['logits'], { transB: 1 }, 'fc'),
    ],
    'nhwc', [makeValueInfo('input', DataType.FLOAT, [1, 48, 64, 3])], [makeValueInfo('logits', DataType.FLOAT, [1, 2])],
    [makeTensor('w', DataType.FLOAT, [4, 3, 1, 1], new Array(12).fill(0.1)), makeTensor('fc', DataType.FLOAT, [2, 4], new Array(8).fill(0.2)), makeTensor('b', DataType.FLOAT, [2], [0, 1])],
  ), { opset: 13 }));
  const f = lintModel(path).findings.find((x) => x.ruleId === 'fixed-input-size');
  assert.ok(f?.ruleId === 'fixed-input-size');
  assert.deepEqual(f.properties.size, [48, 64]);
  assert.match(f.message, /accepts only 48×64 inputs/);
});
