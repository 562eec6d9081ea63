// The pool-only rule (src/rewrite/rules/pool-only.ts): an AveragePool whose kernel is the whole map,
// with no linear layer after it, becomes a GlobalAveragePool — the same at the trained size, right
// at every other.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { lintModel } from '../../src/lint/index.js';
import { classifier, opCounts, producerOf, saveModel, tempDir } from '../support/models.js';
import { assertVerifiedWithin, C, K, rewriter } from '../support/rewrite.js';

const tmp = tempDir();
after(() => tmp.cleanup());
const { rewriteBuilt } = rewriter(tmp.dir);

type Net = Parameters<Parameters<typeof classifier>[0]['tail']>[0];

/** NIN's head: a 1×1 Conv to the classes, then `pool` over the [N, K, 16, 16] map, then Flatten. */
function ninHead(pool: (net: Net, maps: string) => string): ReturnType<typeof classifier> {
  return classifier({
    tail(net, x) {
      const maps = net.op('Conv', '/cls/Conv', [x, net.weight('cls.weight', [K, C, 1, 1], net.normals(K * C, 0.25)), net.weight('cls.bias', [K], net.uniforms(K, 0.1))], { kernel_shape: [1, 1] });
      net.op('Flatten', '/Flatten', [pool(net, maps)], { axis: 1 }, 'logits');
      return [['logits', ['N', K]]];
    },
  });
}

describe('pool-only', () => {
  //   backbone ─ Conv 1×1 (16→10) ─ AveragePool 16×16 ─ Flatten ─ logits
  test('an AveragePool as big as the map becomes a GlobalAveragePool, exactly', async () => {
    const model = ninHead((net, maps) => net.op('AveragePool', '/pool/AveragePool', [maps], { kernel_shape: [16, 16], strides: [16, 16] }));
    const { report, out } = await rewriteBuilt('nin', model);
    assert.deepEqual(report.rewritten.map((c) => c.tail.kind), ['pool-only']);
    assert.deepEqual(report.alreadyGap, [], 'the pool is this rule\'s, not an already-GAP head');
    assertVerifiedWithin(report, 1e-6);
    const counts = opCounts(out);
    assert.equal(counts.AveragePool ?? 0, 0);
    assert.equal(counts.GlobalAveragePool, 1);
    assert.equal(producerOf(out, producerOf(out, 'logits')!.input[0]!)?.op_type, 'GlobalAveragePool');
    assert.match(report.rewritten[0]!.notes.join(' '), /averaged only a corner/);
  });

  test('lint: a rewritable tail, and a fixed-pool pin the rewrite removes', () => {
    const path = saveModel(tmp.dir, 'nin-lint.onnx', ninHead((net, maps) => net.op('AveragePool', '/pool/AveragePool', [maps], { kernel_shape: [16, 16] })));
    const r = lintModel(path);
    const tail = r.findings.find((f) => f.ruleId === 'rewritable-tail');
    assert.equal(tail?.ruleId === 'rewritable-tail' && tail.properties.tailKind, 'pool-only');
    const pins = r.findings.find((f) => f.ruleId === 'fixed-input-size');
    assert.deepEqual(pins?.ruleId === 'fixed-input-size' && pins.properties.pins.filter((p) => p.kind !== 'input').map((p) => [p.kind, p.node, p.fixedByRewrite]), [['fixed-pool', '/pool/AveragePool', true]]);
  });

  test('--cam: the pooled map is not a class map of a rewritten layer', async () => {
    const model = ninHead((net, maps) => net.op('AveragePool', '/pool/AveragePool', [maps], { kernel_shape: [16, 16] }));
    const { report } = await rewriteBuilt('nin-cam', model, { cam: true });
    assert.deepEqual(report.cam?.skipped.map((s) => s.reason), ['no linear layer after the pool: its map is features, not classes']);
  });

  for (const [what, pool] of [
    ['a MaxPool as big as the map (not a mean)', (net: Net, maps: string) => net.op('MaxPool', '/pool/MaxPool', [maps], { kernel_shape: [16, 16] })],
    ['an AveragePool smaller than the map', (net: Net, maps: string) => net.op('AveragePool', '/pool/AveragePool', [maps], { kernel_shape: [8, 8], strides: [8, 8] })],
    ['an AveragePool that pads the map', (net: Net, maps: string) => net.op('AveragePool', '/pool/AveragePool', [maps], { kernel_shape: [16, 16], pads: [1, 1, 1, 1], strides: [18, 18] })],
  ] as const) {
    test(`not a pool-only tail: ${what}`, async () => {
      const { report } = await rewriteBuilt(`not-pool-only-${what.length}`, ninHead(pool));
      assert.deepEqual(report.rewritten, []);
      assert.equal(report.written, false);
    });
  }
});
