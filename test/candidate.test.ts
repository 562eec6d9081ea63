// Verification of a rewrite: a candidate onnxruntime can't load or run is a failed comparison
// (gapify exits 1, "verification failed"), not bad input (exit 2) — it is gapify's own output.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { RuntimeError } from '../src/errors.js';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/onnx/builder.js';
import { DataType } from '../src/onnx/schema.js';
import { compareModels } from '../src/verify/compare.js';
import { saveModel, tempDir } from './support/models.js';

const tmp = tempDir('gapify-candidate-');
after(() => tmp.cleanup());

//   x [1, 4] ─ MatMul(W [4, 2]) ─ y          (B: the same, but W is [3, 2]: onnxruntime refuses it)
const model = (rows: number) => makeModel(makeGraph(
  [makeNode('MatMul', ['x', 'W'], ['y'], {}, 'mm')],
  'g', [makeValueInfo('x', DataType.FLOAT, [1, 4])], [makeValueInfo('y', DataType.FLOAT, [1, 2])],
  [makeTensor('W', DataType.FLOAT, [rows, 2], new Array(rows * 2).fill(0.5))],
), { opset: 13 });

test('a candidate that does not run: a failed comparison naming why; without `candidate` an error', async () => {
  const a = saveModel(tmp.dir, 'a.onnx', model(4));
  const b = saveModel(tmp.dir, 'b.onnx', model(3));
  const c = await compareModels({ path: a }, { path: b, label: 'the rewrite' }, { candidate: true });
  assert.equal(c.ok, false);
  assert.match(c.unrunnable ?? '', /onnxruntime (could not load|failed to run) the rewrite/);
  await assert.rejects(compareModels({ path: a }, { path: b }), RuntimeError);
});
