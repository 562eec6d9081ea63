// A model handed to onnxruntime has all its weights, however it was read: the I/O layer builds the
// runnable copy (withModelSource), copying what a lazy read skipped from the file.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/onnx/builder.js';
import { LAZY_MIN } from '../src/onnx/lazy-file.js';
import { readModel, readModelLazy, releaseModel, withModelSource, type ModelFile } from '../src/onnx/model-io.js';
import { DataType } from '../src/onnx/schema.js';
import { keepOutputs } from '../src/verify/compare.js';
import { loadOrt, runSession, withSession } from '../src/verify/ort.js';
import { probeValues } from '../src/verify/probe.js';
import { saveModel, tempDir } from './support/models.js';

const tmp = tempDir('gapify-runnable-');
after(() => tmp.cleanup());

//   x [1, 600] ─ MatMul(W [600, 600], 1.4 MB: past the lazy threshold) ─ m ─ Relu ─ y
const N = 600;
const W = Array.from({ length: N * N }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
const path = saveModel(tmp.dir, 'big-weight.onnx', makeModel(makeGraph(
  [makeNode('MatMul', ['x', 'W'], ['m'], {}, 'mm'), makeNode('Relu', ['m'], ['y'], {}, 'relu')],
  'g', [makeValueInfo('x', DataType.FLOAT, [1, N])], [makeValueInfo('y', DataType.FLOAT, [1, N])],
  [makeTensor('W', DataType.FLOAT, [N, N], W)],
)));

async function outputs(file: ModelFile): Promise<Float32Array> {
  const ort = await loadOrt();
  const x = new ort.Tensor('float32', Float32Array.from({ length: N }, (_, i) => Math.sin(i)), [1, N]);
  return withModelSource(file, file.model, (source) => withSession(source, async (s) => {
    const out = keepOutputs(await runSession(s, file.path, { x }, ['y']));
    return out.get('y')!.data as Float32Array;
  }));
}

test('a lazily read model runs with its real weights, as an eagerly read one does', async () => {
  assert.ok(N * N * 4 >= LAZY_MIN);
  const lazy = readModelLazy(path, { keepOpen: true });
  const eager = readModel(path);
  try {
    assert.ok(lazy.lazy!.bytesRead < N * N * 4, 'the weight was not read with the structure');
    const [a, b] = [await outputs(lazy), await outputs(eager)];
    assert.deepEqual([...a], [...b]);
    assert.ok(a.some((v) => v > 0), 'the outputs are not those of zero weights');
  } finally {
    releaseModel(lazy);
  }
});

test('probing a lazily read model gives the values probing an eagerly read one gives', async () => {
  const lazy = readModelLazy(path, { keepOpen: true });
  try {
    const eager = readModel(path);
    const [a, b] = [await probeValues(lazy, lazy.model, ['m', 'y']), await probeValues(eager, eager.model, ['m', 'y'])];
    assert.deepEqual(a, b);
    assert.ok([...(a.get('m')!.data as Float32Array)].some((v) => v !== 0), 'values of real weights, not of zeros');
  } finally {
    releaseModel(lazy);
  }
});

test('a model read for analysis only (file closed) cannot be run: an error, never zeros', async () => {
  const closed = readModelLazy(path, { keepOpen: false });
  await assert.rejects(outputs(closed), /weights of this model were not read/);
});
