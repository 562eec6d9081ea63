// The paths gapify reads and writes, through the built binary:
//
// - no output (the rewritten model, its data file, lint's --output-file, cam's PNG) may be a file
//   an input reads — the model, each of its external data files, cam's image — compared by device
//   and inode, so symlinks and hard links count;
// - an output is a regular file or a new name: never a device, FIFO, socket, or a link into /proc
//   (what /dev/stdout is), which a rename would replace;
// - no read blocks: a FIFO named as a model, an external data location (also one in
//   training_info), an image or a labels file is refused at once, never opened blocking;
// - a tensor with two `location` entries is ambiguous (gapify read the first, onnx the last).
//
// Every file is built here, in a temp folder. The model is the fixtures' ResNet-style tail:
//
//   input [N,3,32,32] → Conv/Relu/Conv/Relu → GlobalAveragePool → Flatten → Gemm → logits

import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { emptyTensor } from '../src/onnx/builder.js';
import { encode } from '../src/onnx/codec.js';
import type { ModelProto, TensorProto } from '../src/onnx/schema.js';
import { resnetTail, tempDir } from './support/models.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'dist/src/cli.js');
const CAM_MODEL = join(ROOT, 'fixtures/cam/red_blue.onnx');
const CAM_IMAGE = join(ROOT, 'fixtures/cam/red_left_blue_right.png');

const tmp = tempDir('gapify-paths-');
after(() => tmp.cleanup());

interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** The binary, killed after 20 s: a run that blocks on a FIFO fails the test instead of hanging it. */
function gapify(args: string[], opts: SpawnSyncOptions = {}): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 20_000, ...opts });
  return { code: r.status, signal: r.signal, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

/** Exit `code` (not killed by the timeout) with one line on stderr matching `pattern`. */
function refused(r: Run, pattern: RegExp, code = 2): void {
  assert.equal(r.signal, null, `killed by ${r.signal}: it blocked`);
  assert.equal(r.code, code, `exit ${r.code}: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /internal error/);
  assert.match(lines[0]!, pattern);
}

const hash = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');
const temps = (folder: string): string[] => readdirSync(folder).filter((f) => f.startsWith('.') && f.endsWith('.tmp'));

let counter = 0;
function folder(name: string): string {
  const d = join(tmp.dir, `${name}-${counter++}`);
  mkdirSync(d);
  return d;
}

function mkfifo(path: string): string {
  const r = spawnSync('mkfifo', [path]);
  assert.equal(r.status, 0, String(r.stderr));
  return path;
}


/** `t` with its bytes at `offset` of `location` instead of raw_data. */
function external(t: TensorProto, location: string, offset: number, extra: { key: string; value: string }[] = []): TensorProto {
  return emptyTensor({
    name: t.name!, data_type: t.data_type!, dims: [...t.dims], data_location: 1,
    external_data: [{ key: 'location', value: location }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(t.raw_data!.length) }, ...extra],
  });
}

/** `<dir>/model.onnx` with every initializer in `<dir>/w.bin`; returns both paths. */
function externalModel(dir: string): { model: string; data: string } {
  const m = resnetTail();
  const graph = m.graph!;
  const blobs: Uint8Array[] = [];
  let offset = 0;
  const initializer = graph.initializer.map((t) => {
    const e = external(t, 'w.bin', offset);
    blobs.push(t.raw_data!);
    offset += t.raw_data!.length;
    return e;
  });
  const data = join(dir, 'w.bin');
  writeFileSync(data, Buffer.concat(blobs));
  const model = join(dir, 'model.onnx');
  writeFileSync(model, encode('onnx.ModelProto', { ...m, graph: { ...graph, initializer } }));
  return { model, data };
}

function plainModel(dir: string, name = 'model.onnx'): string {
  const p = join(dir, name);
  writeFileSync(p, encode('onnx.ModelProto', resnetTail()));
  return p;
}

/** The plain model with a training_info whose initialization graph holds `tensor`. */
function withTrainingTensor(dir: string, tensor: TensorProto): string {
  const m = resnetTail();
  const init = { name: 'init', node: [], initializer: [tensor], sparse_initializer: [], input: [], output: [], value_info: [], quantization_annotation: [], metadata_props: [] };
  const p = join(dir, 'model.onnx');
  writeFileSync(p, encode('onnx.ModelProto', { ...m, training_info: [{ initialization: init, initialization_binding: [], update_binding: [] }] } as ModelProto));
  return p;
}

const tensor16 = (): TensorProto => emptyTensor({ name: 'step', data_type: 1, dims: [4], raw_data: new Uint8Array(16) });

// --- 1. outputs that are inputs --------------------------------------------------------------------

describe('an output never replaces a file the input reads', () => {
  for (const how of ['the path itself', 'a symlink to it', 'a hard link to it'] as const) {
    it(`rewrite: -o naming the input's external data file (${how}) is refused; the weights are intact`, () => {
      const dir = folder('ext-out');
      const { model, data } = externalModel(dir);
      const h = hash(data);
      let out = data;
      if (how === 'a symlink to it') symlinkSync('w.bin', (out = join(dir, 'link.bin')));
      if (how === 'a hard link to it') linkSync(data, (out = join(dir, 'hard.bin')));
      refused(gapify([model, '-o', out, '--no-verify']), /w\.bin|link\.bin|hard\.bin/);
      assert.equal(hash(data), h, 'the weights are intact');
      assert.equal(hash(out), h);
      assert.deepEqual(temps(dir), []);
    });
  }

  it('rewrite: an output whose data file would be the input model (hard link) is refused', () => {
    const dir = folder('data-is-model');
    const { model } = externalModel(dir);
    const h = hash(model);
    linkSync(model, join(dir, 'out.onnx.data'));
    refused(gapify([model, '-o', join(dir, 'out.onnx'), '--no-verify']), /out\.onnx\.data/);
    assert.equal(hash(model), h);
    assert.ok(!existsSync(join(dir, 'out.onnx')));
  });

  it('rewrite: -o as a hard link to the input model needs --in-place', () => {
    const dir = folder('hard-model');
    const model = plainModel(dir);
    linkSync(model, join(dir, 'hard.onnx'));
    const h = hash(model);
    refused(gapify([model, '-o', join(dir, 'hard.onnx'), '--no-verify']), /is the input file; pass --in-place to replace it/);
    assert.equal(hash(model), h);
  });

  it('lint: --output-file naming a linted model\'s external data file is refused; the weights are intact', () => {
    const dir = folder('lint-ext');
    const { model, data } = externalModel(dir);
    const h = hash(data);
    refused(gapify(['lint', model, '--output-file', data]), /w\.bin/);
    assert.equal(hash(data), h);
    symlinkSync('w.bin', join(dir, 'link.bin'));
    refused(gapify(['lint', model, '--output-file', join(dir, 'link.bin')]), /link\.bin/);
    assert.equal(hash(data), h);
  });

  it('cam: -o naming the image through a hard link, or the model\'s data file, is refused', () => {
    const dir = folder('cam-out');
    const image = join(dir, 'image.png');
    copyFileSync(CAM_IMAGE, image);
    linkSync(image, join(dir, 'hard.png'));
    const h = hash(image);
    refused(gapify(['cam', CAM_MODEL, image, '-o', join(dir, 'hard.png')]), /hard\.png/);
    assert.equal(hash(image), h);
    const { model, data } = externalModel(dir);
    const hd = hash(data);
    refused(gapify(['cam', model, image, '-o', data]), /w\.bin/);
    assert.equal(hash(data), hd);
  });
});

// --- 2. outputs that are not files -----------------------------------------------------------------

describe('an output is a regular file or a new name', () => {
  it('rewrite: -o through a link into /proc (what /dev/stdout is) is refused, even when stdout is a file', () => {
    const dir = folder('proc-link');
    const model = plainModel(dir);
    // A link of our own to /proc/self/fd/1 (not /dev/stdout itself: as root, a rename would replace it).
    const link = join(dir, 'stdout.onnx');
    symlinkSync('/proc/self/fd/1', link);
    const sink = join(dir, 'stdout.txt');
    const fd = openSync(sink, 'w');
    try {
      const r = gapify([model, '-o', link, '--no-verify'], { stdio: ['ignore', fd, 'pipe'] });
      refused(r, /stdout\.onnx/);
    } finally {
      closeSync(fd);
    }
    assert.equal(readlinkSync(link), '/proc/self/fd/1', 'the link is still there, not replaced by a file');
    assert.equal(readFileSync(sink, 'utf8'), '', 'nothing went to stdout');
  });

  it('rewrite: a FIFO as -o is refused without opening it', () => {
    const dir = folder('fifo-out');
    refused(gapify([plainModel(dir), '-o', mkfifo(join(dir, 'out.onnx')), '--no-verify']), /out\.onnx.*not a regular file/);
  });

  it('lint: --output-file naming a FIFO or a device is refused (it used to block on the FIFO)', () => {
    const dir = folder('lint-fifo');
    const model = plainModel(dir);
    refused(gapify(['lint', model, '--output-file', mkfifo(join(dir, 'report.txt'))]), /report\.txt.*not a regular file/);
    refused(gapify(['lint', model, '--output-file', '/dev/null']), /\/dev\/null.*not a regular file/);
  });

  it('lint: --output-file is written whole, by rename: a symlink to a regular file is followed', () => {
    const dir = folder('lint-link');
    const model = plainModel(dir);
    writeFileSync(join(dir, 'real.txt'), 'old');
    symlinkSync('real.txt', join(dir, 'link.txt'));
    const r = gapify(['lint', model, '--output-file', join(dir, 'link.txt'), '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(JSON.parse(readFileSync(join(dir, 'real.txt'), 'utf8')), 'the report went to the link\'s target');
    assert.deepEqual(temps(dir), []);
  });
});

// --- 3. reads that would block --------------------------------------------------------------------

describe('a FIFO is never opened blocking', () => {
  it('as the model of rewrite, lint and check', () => {
    const dir = folder('fifo-in');
    const fifo = mkfifo(join(dir, 'f.onnx'));
    const good = plainModel(dir, 'good.onnx');
    refused(gapify([fifo, '--no-verify']), /f\.onnx: is not a regular file/);
    const lint = gapify(['lint', fifo, '--format', 'json']);
    assert.equal(lint.signal, null, 'lint blocked');
    assert.equal(lint.code, 1, lint.stderr);
    assert.match(JSON.parse(lint.stdout)[0].findings[0].message, /not a regular file/);
    refused(gapify(['check', fifo, good]), /f\.onnx: is not a regular file/);
    refused(gapify(['check', good, fifo]), /f\.onnx: is not a regular file/);
  });

  it('as an external data file', () => {
    const dir = folder('fifo-data');
    const { model, data } = externalModel(dir);
    unlinkSync(data);
    mkfifo(data);
    refused(gapify([model, '-o', join(dir, 'out.onnx'), '--no-verify']), /external data 'w\.bin' is not a regular file/);
    refused(gapify(['check', plainModel(dir, 'good.onnx'), model]), /external data 'w\.bin' is not a regular file/);
  });

  it('as cam\'s image or labels file', () => {
    const dir = folder('fifo-image');
    const fifo = mkfifo(join(dir, 'image.png'));
    refused(gapify(['cam', CAM_MODEL, fifo, '-o', join(dir, 'out.png')]), /image\.png.*not a regular file/);
    const labels = mkfifo(join(dir, 'labels.txt'));
    refused(gapify(['cam', CAM_MODEL, CAM_IMAGE, '-o', join(dir, 'out.png'), '--labels', labels]), /labels\.txt.*not a regular file/);
  });
});

// --- 4. every tensor location ---------------------------------------------------------------------

describe('every external data location is checked, training_info included', () => {
  for (const [what, make, problem] of [
    ['a FIFO', (d: string) => mkfifo(join(d, 'step.bin')), /external data 'step\.bin' is not a regular file/],
    ['a folder', (d: string) => mkdirSync(join(d, 'step.bin')), /external data 'step\.bin' is not a regular file/],
    ['missing', () => undefined, /external data file 'step\.bin' not found/],
  ] as const) {
    it(`a training_info tensor whose data file is ${what}: the rewrite refuses it, lint reports it`, () => {
      const dir = folder('training');
      make(dir);
      const model = withTrainingTensor(dir, external(tensor16(), 'step.bin', 0));
      refused(gapify([model, '-o', join(dir, 'out.onnx'), '--no-verify']), problem);
      assert.ok(!existsSync(join(dir, 'out.onnx')));
      const lint = gapify(['lint', model, '--format', 'json']);
      assert.equal(lint.signal, null, 'lint blocked');
      assert.equal(lint.code, 1, lint.stderr);
      const findings = JSON.parse(lint.stdout)[0].findings as { ruleId: string; message: string }[];
      assert.deepEqual(findings.filter((f) => f.ruleId === 'broken-model').map((f) => problem.test(f.message)), [true]);
    });
  }

  it('a training_info tensor pointing outside the model\'s folder is refused', () => {
    const dir = folder('training-escape');
    writeFileSync(join(dir, '..', `outside-${counter}.bin`), new Uint8Array(16));
    const model = withTrainingTensor(dir, external(tensor16(), `../outside-${counter}.bin`, 0));
    refused(gapify([model, '-o', join(dir, 'out.onnx'), '--no-verify']), /points outside the model's folder/);
    const lint = gapify(['lint', model, '--format', 'json']);
    assert.equal(lint.code, 1, lint.stderr);
    assert.match(JSON.parse(lint.stdout)[0].findings[0].message, /points outside the model's folder/);
  });

  it('a tensor with two location entries is refused as ambiguous (rewrite and lint)', () => {
    const dir = folder('two-locations');
    const { model: path } = externalModel(dir);
    // Rebuild the model with fc.weight naming a second location after the first.
    const m = resnetTail();
    const graph = m.graph!;
    let offset = 0;
    const initializer = graph.initializer.map((t) => {
      const e = external(t, 'w.bin', offset, t.name === 'fc.weight' ? [{ key: 'location', value: '../../etc/passwd' }] : []);
      offset += t.raw_data!.length;
      return e;
    });
    writeFileSync(path, encode('onnx.ModelProto', { ...m, graph: { ...graph, initializer } }));
    refused(gapify([path, '-o', join(dir, 'out.onnx'), '--no-verify']), /tensor 'fc\.weight': external data has 2 'location' entries/);
    const lint = gapify(['lint', path, '--format', 'json']);
    assert.equal(lint.code, 1, lint.stderr);
    assert.match(JSON.parse(lint.stdout)[0].findings[0].message, /2 'location' entries/);
  });
});
