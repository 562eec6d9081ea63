// A model past protobuf's 2 GiB limit (its weight in a 2.2 GB external data file) through rewrite
// AND onnxruntime verification. Opt-in: it writes ~7 GB to os.tmpdir() and onnxruntime needs a few
// GB of memory. Run with
//
//   GAPIFY_LARGE_TESTS=1 node --test dist/test/large.test.js
//
//   input [1,512,7,7] → Flatten → Gemm(fc.weight [22000, 25088] external, 2.2 GB, transB 1) → logits
//   becomes            Conv 7×7 (the same bytes, copied into out.onnx.data) → GlobalAveragePool → Flatten

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gapify } from '../src/gapify.js';
import { readModel } from '../src/onnx/model-io.js';
import { writeHugeExternal } from '../scripts/large-models.js';

const enabled = process.env.GAPIFY_LARGE_TESTS === '1';

/** SHA-256 of the file, or of its first `length` bytes. */
async function sha256(path: string, length?: number): Promise<string> {
  const h = createHash('sha256');
  const range = length === undefined ? {} : { start: 0, end: length - 1 };
  for await (const chunk of createReadStream(path, { highWaterMark: 16 * 1024 * 1024, ...range })) h.update(chunk as Buffer);
  return h.digest('hex');
}

describe('models over 2 GiB (external data)', { skip: enabled ? false : 'set GAPIFY_LARGE_TESTS=1 to run' }, () => {
  const dir = enabled ? mkdtempSync(join(tmpdir(), 'gapify-large-')) : '';
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('a 2.2 GB weight is rewritten, verified and copied into the output data file', { timeout: 15 * 60_000 }, async () => {
    const inDir = join(dir, 'in');
    const outDir = join(dir, 'out');
    mkdirSync(inDir);
    mkdirSync(outDir);
    const huge = writeHugeExternal(inDir);
    assert.ok(huge.dataBytes > 2 ** 31);
    const before = { model: await sha256(huge.model), data: await sha256(huge.data) };

    const output = join(outDir, 'huge.gap.onnx');
    const report = await gapify(huge.model, { output });
    assert.equal(report.written, true);
    assert.equal(report.verification.status, 'passed', JSON.stringify(report.verification));
    assert.deepEqual(readdirSync(outDir).sort(), ['huge.gap.onnx', 'huge.gap.onnx.data']);

    const w = readModel(output).model.graph!.initializer.find((t) => t.name === 'fc.weight_conv');
    assert.equal(w?.data_location, 1);
    assert.deepEqual(w?.dims, [22000, 512, 7, 7]);
    assert.equal(w?.external_data.find((e) => e.key === 'offset')?.value, '0');
    // The weight's bytes are copied unchanged (first in the data file; the 88 KB bias the rewrite
    // re-created follows it), and the input's files are untouched.
    assert.equal(statSync(join(outDir, 'huge.gap.onnx.data')).size, huge.dataBytes + 22000 * 4);
    assert.equal(await sha256(join(outDir, 'huge.gap.onnx.data'), huge.dataBytes), before.data);
    assert.deepEqual({ model: await sha256(huge.model), data: await sha256(huge.data) }, before);
  });
});
