// Big legal graphs in bounded memory: a model of hundreds of thousands of nodes is linted and
// rewritten within a small heap, and one over gapify's budget is refused — a finding for that file
// (lint goes on with the others) or one line (the rewrite) — instead of V8 killing the process
// with a heap-exhaustion abort. The runs use a 256 MB heap, so the sizes stay small; `npm run bench`
// measures the multi-million-node case.
//
//   x [1,16,4,4] ─ Relu ─ … (n of them) ─ GlobalAveragePool ─ Flatten ─ Gemm ─ logits

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { writeChainModel } from '../scripts/big-graphs.js';
import { tempDir } from './support/models.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'dist/src/cli.js');
const HEAP = '--max-old-space-size=256';

const tmp = tempDir('gapify-limits-');
after(() => tmp.cleanup());

interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

function gapify(args: string[]): Run {
  const r = spawnSync(process.execPath, [HEAP, CLI, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 180_000, maxBuffer: 16 << 20 });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Not killed: neither by V8 (heap exhaustion aborts, exit 134) nor by the timeout. */
function survived(r: Run): void {
  assert.equal(r.signal, null, `killed by ${r.signal}: ${r.stderr.slice(0, 300)}`);
  assert.notEqual(r.code, 134, `V8 ran out of heap: ${r.stderr.slice(0, 300)}`);
  assert.doesNotMatch(r.stderr, /FATAL ERROR|heap out of memory|internal error/);
}

interface Finding { ruleId: string; message: string }
const findingsOf = (r: Run): Map<string, Finding[]> =>
  new Map((JSON.parse(r.stdout) as { file: string; findings: Finding[] }[]).map((f) => [f.file.split('/').pop()!, f.findings]));

describe('big graphs in a 256 MB heap', () => {
  // 200,000 nodes used to exhaust a 256 MB heap in the analysis (V8 abort); 700,000 are over any
  // budget that heap allows.
  let fits = '';
  let tooBig = '';
  before(() => {
    fits = join(tmp.dir, 'chain-200k.onnx');
    writeChainModel(fits, 200_000);
    const folder = join(tmp.dir, 'folder');
    mkdirSync(folder);
    tooBig = join(folder, 'chain-700k.onnx');
    writeChainModel(tooBig, 700_000);
    for (const f of ['resnet_tail.onnx', 'vgg_mini.onnx']) copyFileSync(join(ROOT, 'fixtures', f), join(folder, f));
  });

  it('a chain of 200,000 nodes is linted', () => {
    const r = gapify(['lint', fits, '--format', 'json']);
    survived(r);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(findingsOf(r).get('chain-200k.onnx')!.map((f) => f.ruleId).sort(), ['fixed-input-size', 'rewritable-tail']);
  });

  it('a folder with a model over the budget: a finding for it, the other models linted as usual', () => {
    const r = gapify(['lint', join(tmp.dir, 'folder'), '--format', 'json']);
    survived(r);
    assert.equal(r.code, 1, r.stderr);
    const byFile = findingsOf(r);
    assert.deepEqual([...byFile.keys()].sort(), ['chain-700k.onnx', 'resnet_tail.onnx', 'vgg_mini.onnx']);
    const big = byFile.get('chain-700k.onnx')!;
    assert.deepEqual(big.map((f) => f.ruleId), ['broken-model']);
    assert.match(big[0]!.message, /^too big to (analyse|decode): .* \(70% of the heap limit; raise it with node --max-old-space-size\)$/);
    for (const f of ['resnet_tail.onnx', 'vgg_mini.onnx']) assert.ok(byFile.get(f)!.some((x) => x.ruleId === 'rewritable-tail'), f);
  });

  it('the rewrite of a model over the budget: one line, exit 2, nothing written', () => {
    const out = join(tmp.dir, 'out.onnx');
    const r = gapify([tooBig, '-o', out, '--no-verify']);
    survived(r);
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /chain-700k\.onnx: too big to (analyse|decode): /);
    assert.ok(!existsSync(out));
  });
});
