// One size analysis: `gapify lint` and `gapify --dynamic-size` name the same pins and the same
// freed Reshapes for a model — lint on the model as it is, --dynamic-size on its rewrite, so the
// pins the tail rewrite removes and the declared input dims (which --dynamic-size frees) are lint's
// alone.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SizeLocked, UsageError } from '../src/errors.js';
import { gapify } from '../src/gapify.js';
import { lintModel } from '../src/lint/index.js';
import { nodeLabel } from '../src/text.js';
import { FIXTURES } from './support/golden.js';
import { classifier, saveModel, tempDir } from './support/models.js';

const tmp = tempDir('gapify-size-');
after(() => tmp.cleanup());

const fixtures = readdirSync(FIXTURES).filter((f) => f.endsWith('.onnx')).sort();

test('lint and --dynamic-size report the same pins and frees for every fixture', async () => {
  let freed = 0;
  for (const f of fixtures) {
    const linted = lintModel(join(FIXTURES, f)).findings.find((x) => x.ruleId === 'fixed-input-size');
    const pins = linted?.ruleId === 'fixed-input-size' ? linted.properties.pins : [];
    let report;
    try {
      report = await gapify(join(FIXTURES, f), { output: join(tmp.dir, f), dynamicSize: true, dryRun: true, allowFixedSize: true });
    } catch (e) {
      // No image input (an audio model): --dynamic-size has nothing to free, lint no pin to name.
      assert.ok(e instanceof UsageError && /no image input/.test(e.message), `${f}: ${String(e)}`);
      assert.deepEqual(pins, [], f);
      continue;
    }
    const fromRewrite = (report.size?.pins ?? []).map((p) => `${p.kind} ${p.node ? nodeLabel(p.node) : null} ${p.detail}`);
    assert.deepEqual(fromRewrite, pins.filter((p) => !p.fixedByRewrite).map((p) => `${p.kind} ${p.node} ${p.detail}`), f);
    const frees = (report.size?.freed ?? []).map((r) => nodeLabel(r.node));
    assert.deepEqual(frees, pins.filter((p) => p.kind === 'reshape' && p.fixedByRewrite).map((p) => p.node), f);
    freed += frees.length;
  }
  assert.equal(freed, 32, "ShuffleNet's 32 channel-shuffle Reshapes");
});

test('a symbolic batch is free for lint as it is for --dynamic-size: a Reshape that fixes it is a pin for both', async () => {
  //   x [N,16,16,16] ─ Reshape [16, 256] (x.view(c, -1): the batch folded in) ─ ReduceMean(axis 1) ─ Unsqueeze(0) ─ Gemm ─ logits [1, 10]
  const model = classifier({
    tail(net, x) {
      const folded = net.op('Reshape', '/view', [x, net.constInt64('/shape', [2], [16, 256])]);
      const m = net.op('Unsqueeze', '/u', [net.op('ReduceMean', '/mean', [folded], { axes: [1], keepdims: 0 }), net.constInt64('/ax', [1], [0])]);
      const { w, b } = net.classifier();
      net.op('Gemm', '/fc/Gemm', [m, net.weight('fc.w', [10, 16], w), net.weight('fc.b', [10], b)], { transB: 1 }, 'logits');
      return [['logits', [1, 10]]];
    },
  });
  const path = saveModel(tmp.dir, 'batch-folded.onnx', model);
  const linted = lintModel(path).findings.find((x) => x.ruleId === 'fixed-input-size');
  assert.ok(linted?.ruleId === 'fixed-input-size');
  assert.equal(linted.properties.fixedByRewrite, false, linted.message);
  await assert.rejects(gapify(path, { output: join(tmp.dir, 'batch-folded.out.onnx'), dynamicSize: true }), (e: unknown) => e instanceof SizeLocked);
});
