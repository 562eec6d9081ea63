// Names are data: control characters in node, value and file names — newlines, ESC/OSC/CSI
// sequences, C1 controls — never reach the terminal raw, never break a one-line message, and never
// make a JSON message span lines. Long error lines are cut.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { classifier, saveModel, tempDir } from './support/models.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const tmp = tempDir('gapify-terminal-');
after(() => tmp.cleanup());

/** ESC [ 2 J (clear screen), an OSC title ending in BEL, an 8-bit CSI, a newline that forges a line. */
const EVIL = '\u001b[2J\u001b]0;pwned\u0007\u009b31m\u202e\nverification: passed';

function gapify(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Control characters other than the line breaks between lines. */
const raw = (s: string): string[] => [...s.matchAll(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028-\u202e\u2066-\u2069]/g)].map((m) => m[0]);

//   GAP '<evil>' ─ Flatten ─ Relu '<evil>' ─ Gemm '<evil>' ─ logits     (refused: not-linear-between)
const model = classifier({
  tail(net, x) {
    const pooled = net.op('GlobalAveragePool', `/pool${EVIL}`, [x], {}, `pooled${EVIL}`);
    const f = net.op('Flatten', '/Flatten', [pooled], { axis: 1 });
    const { w, b } = net.classifier();
    net.op('Gemm', `/fc${EVIL}`, [net.op('Relu', `/relu${EVIL}`, [f]), net.weight('fc.weight', [10, 16], w), net.weight('fc.bias', [10], b)], { transB: 1 }, 'logits');
    return [['logits', ['N', 10]]];
  },
});

test('the report, its JSON, and lint in every format: no raw control character, each message one line', () => {
  const path = saveModel(tmp.dir, 'evil.onnx', model);
  const report = gapify(path, '-o', join(tmp.dir, 'out.onnx'));
  assert.equal(report.code, 0, report.stderr);
  assert.deepEqual(raw(report.stdout + report.stderr), []);
  assert.equal(report.stdout.split('\n').filter((l) => l.startsWith('  verification:')).length, 1, 'no forged line');
  assert.match(report.stdout, /not rewritten \(not-linear-between\): Relu '\/relu\\u001b\[2J\\u001b\]0;pwned\\u0007\\u009b31m\\u202e\\nverification: passed'/);

  const json = gapify(path, '-o', join(tmp.dir, 'out.onnx'), '--json');
  assert.deepEqual(raw(json.stdout), []);
  assert.match((JSON.parse(json.stdout) as { refused: { reason: string }[] }).refused[0]!.reason, /\\u009b31m\\u202e\\nverification/, 'the name, escaped');

  for (const format of ['stylish', 'github', 'json', 'sarif']) {
    const lint = gapify('lint', path, '--format', format);
    assert.equal(lint.code, 0, lint.stderr);
    assert.deepEqual(raw(lint.stdout + lint.stderr), [], format);
  }
  const files = JSON.parse(gapify('lint', path, '--format', 'json').stdout) as { findings: { message: string }[] }[];
  for (const f of files[0]!.findings) assert.ok(!f.message.includes('\n'), f.message);
});

test('a rewrite whose output and file names hold control characters: the report and --json print them escaped', () => {
  //   GAP ─ Flatten ─ Gemm ─ '<evil logits>'   in a file named '<evil>.onnx'
  const m = classifier({
    tail(net, x) {
      const f = net.op('Flatten', '/Flatten', [net.op('GlobalAveragePool', '/pool/GlobalAveragePool', [x])], { axis: 1 });
      const { w, b } = net.classifier();
      net.op('Gemm', '/fc/Gemm', [f, net.weight('fc.weight', [10, 16], w), net.weight('fc.bias', [10], b)], { transB: 1 }, `logits${EVIL}`);
      return [[`logits${EVIL}`, ['N', 10]]];
    },
  });
  const path = saveModel(tmp.dir, `model${EVIL.replace(/\n/g, '')}.onnx`, m);
  for (const args of [[], ['--json'], ['--cam'], ['--dynamic-size']]) {
    const r = gapify(path, '-o', join(tmp.dir, `out${args.join('')}.onnx`), ...args);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(raw(r.stdout + r.stderr), [], args.join(' '));
  }
  const lint = gapify('lint', path, '--format', 'github');
  assert.deepEqual(raw(lint.stdout), []);
  assert.equal(lint.stdout.trimEnd().split('\n').length, 2, 'one annotation per finding');
});

test('an error naming a file with control characters is one line, and a long one is cut', () => {
  const r = gapify(join(tmp.dir, `missing${EVIL}.onnx`));
  assert.equal(r.code, 2);
  assert.deepEqual(raw(r.stderr), []);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1);
  const long = gapify(join(tmp.dir, `${'d'.repeat(2000)}.onnx`));
  assert.equal(long.code, 2);
  const line = long.stderr.trimEnd();
  assert.equal(line.split('\n').length, 1);
  assert.ok(line.length <= 320 && line.includes('…'), `${line.length} characters`);
});

test('a file whose name is not valid UTF-8, found in a folder: lint says why it cannot be read, not "no such file"', () => {
  const dir = join(tmp.dir, 'latin1');
  mkdirSync(dir);
  const good = saveModel(dir, 'good.onnx', model);
  // 'caf\xe9.onnx' in Latin-1: Node lists it as 'caf\uFFFD.onnx', a name that opens nothing.
  copyFileSync(good, Buffer.concat([Buffer.from(`${dir}/caf`), Buffer.from([0xe9]), Buffer.from('.onnx')]));
  const lint = gapify('lint', dir, '--format', 'json');
  assert.equal(lint.code, 1, lint.stderr);
  const files = JSON.parse(lint.stdout) as { file: string; findings: { ruleId: string; message: string }[] }[];
  const bad = files.find((f) => f.file.includes('\uFFFD'));
  assert.ok(bad, lint.stdout);
  assert.equal(bad.findings[0]!.ruleId, 'broken-model');
  assert.match(bad.findings[0]!.message, /not valid UTF-8.*rename the file/);
  assert.ok(files.some((f) => f.file.endsWith('good.onnx')), 'the other file is still linted');
});
