// gapify is clean on its own output: a model it wrote has nothing left to rewrite, and lint finds
// no rewritable tail and no refusal in it — every fixture, in every order.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gapify } from '../src/gapify.js';
import { lintModel } from '../src/lint/index.js';
import { FIXTURES } from './support/golden.js';
import { tempDir } from './support/models.js';

const tmp = tempDir('gapify-own-');
after(() => tmp.cleanup());

const MODES = { auto: {}, 'pool-first': { order: 'pool-first' }, 'conv-first': { order: 'conv-first' }, cam: { cam: true } } as const;

test('a model gapify wrote: nothing to rewrite, lint has no rewritable-tail and no not-rewritable', async () => {
  let written = 0;
  for (const f of readdirSync(FIXTURES).filter((x) => x.endsWith('.onnx')).sort()) {
    for (const [mode, options] of Object.entries(MODES)) {
      const once = join(tmp.dir, `${mode}-${f}`);
      const first = await gapify(join(FIXTURES, f), { output: once, ...options });
      if (!first.written) continue;
      written++;
      const second = await gapify(once, { output: join(tmp.dir, `again-${mode}-${f}`), ...options });
      assert.deepEqual(second.rewritten.map((c) => c.tail.kind), [], `${f} ${mode}: rewritten again`);
      assert.deepEqual(second.refused.map((r) => r.reason), [], `${f} ${mode}: refusals on gapify's own output`);
      const linted = lintModel(once).findings;
      const findings = linted.filter((x) => x.ruleId === 'rewritable-tail' || x.ruleId === 'not-rewritable');
      assert.deepEqual(findings.map((x) => x.message), [], `${f} ${mode}: lint`);
      // A GAP head is gapify's Conv → GlobalAveragePool, or one the model had: never the backbone's last Conv.
      const heads = new Set(lintModel(join(FIXTURES, f)).findings.flatMap((x) => (x.ruleId === 'already-gap-head' ? [x.properties.conv] : [])));
      for (const x of linted) {
        if (x.ruleId === 'already-gap-head') assert.ok(x.properties.conv.includes('/gapify/') || heads.has(x.properties.conv), `${f} ${mode}: ${x.message}`);
      }
    }
  }
  assert.ok(written >= 40, `${written} models written`);
});

test('--dynamic-size on a model gapify already freed: nothing to change, nothing written', async () => {
  const once = join(tmp.dir, 'dyn-once.onnx');
  assert.equal((await gapify(join(FIXTURES, 'shufflenet_v2_x0_5.onnx'), { output: once, dynamicSize: true, dynamicBatch: true })).written, true);
  const again = await gapify(once, { output: join(tmp.dir, 'dyn-again.onnx'), dynamicSize: true, dynamicBatch: true });
  assert.equal(again.written, false);
  assert.match(again.nothingWritten ?? '', /already takes any size/);
});
