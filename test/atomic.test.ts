// Nothing is lost: the output path holds either nothing / the old file or the complete new model,
// whatever happens to the process (SIGKILL at random points while it writes, SIGINT / SIGTERM, a
// failed verification, a write error); temp files never outlive a catchable end; the input is never
// modified; -o naming the input is refused unless --in-place; concurrent runs don't trip over each
// other.
//
// The kill test needs a model whose writing takes some milliseconds: a generated 51 MB one,
//
//   x [1,1280,2,2] ─ GlobalAveragePool ─ Flatten ─ Gemm(W [10000,1280], b, transB) ─ y

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { encode } from '../src/onnx/codec.js';
import { emptyTensor, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/onnx/builder.js';
import { DataType, type TensorProto } from '../src/onnx/schema.js';
import { parseModel } from '../src/onnx/model-io.js';
import { rng } from './support/bytes.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'dist/src/cli.js');
const FIXTURES = join(ROOT, 'fixtures');
const KILLS = Number(process.env.GAPIFY_KILLS ?? 50);

const root = mkdtempSync(join(tmpdir(), 'gapify-atomic-'));
after(() => rmSync(root, { recursive: true, force: true }));

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const hashFile = (p: string): string => sha(readFileSync(p));
const temps = (folder: string): string[] => readdirSync(folder).filter((f) => /^\..*\.tmp$/.test(f));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));


function bigModel(): Uint8Array {
  const C = 1280;
  const K = 10_000;
  const w = new Float32Array(K * C);
  for (let i = 0; i < w.length; i++) w[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
  const W = emptyTensor({ name: 'W', data_type: DataType.FLOAT, dims: [K, C], raw_data: new Uint8Array(w.buffer) });
  const b = makeTensor('b', DataType.FLOAT, [K], Array.from({ length: K }, (_, i) => i / K));
  const g = makeGraph(
    [makeNode('GlobalAveragePool', ['x'], ['p'], {}, 'gap'), makeNode('Flatten', ['p'], ['f'], { axis: 1 }, 'flatten'), makeNode('Gemm', ['f', 'W', 'b'], ['y'], { transB: 1 }, 'fc')],
    'big', [makeValueInfo('x', DataType.FLOAT, [1, C, 2, 2])], [makeValueInfo('y', DataType.FLOAT, [1, K])], [W, b],
  );
  return new Uint8Array(encode('onnx.ModelProto', makeModel(g)));
}

interface Exit { code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }

function start(args: string[]): { child: ChildProcess; done: Promise<Exit> } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  const done = new Promise<Exit>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr, stdout })));
  return { child, done };
}

const running = (c: ChildProcess): boolean => c.exitCode === null && c.signalCode === null;

/**
 * Busy-waits (synchronously: a timer is too coarse for a write of a few ms) until the child's temp
 * file holds at least `bytes` bytes, then SIGKILLs it. 'writing': killed with the temp file
 * shorter than the model, 'written': at full length (fsyncing or about to rename), 'renamed': the
 * temp file was already gone, 'timeout'.
 */
function killAtSize(folder: string, child: ChildProcess, bytes: number, full: number, deadlineMs = 20_000): 'writing' | 'written' | 'renamed' | 'timeout' {
  const end = performance.now() + deadlineMs;
  let seen = false;
  while (performance.now() < end) {
    const t = temps(folder)[0];
    if (!t) {
      if (!seen) continue;
      child.kill('SIGKILL');
      return 'renamed';
    }
    seen = true;
    let size: number;
    try { size = statSync(join(folder, t)).size; } catch { continue; }
    if (size >= bytes) {
      child.kill('SIGKILL');
      return size < full ? 'writing' : 'written';
    }
  }
  child.kill('SIGKILL');
  return 'timeout';
}

/** Polls (every ms) until a temp file shows up in `folder` or the child ends; true if one did. */
async function tempAppears(folder: string, child: ChildProcess): Promise<boolean> {
  while (running(child)) {
    if (temps(folder).length) return true;
    await sleep(1);
  }
  return false;
}

function gapifySync(args: string[], opts: { cwd?: string } = {}): Exit {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000, ...opts });
  return { code: r.status, signal: r.signal, stderr: r.stderr, stdout: r.stdout };
}

function oneLine(e: Exit, pattern: RegExp): void {
  const lines = e.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, e.stderr);
  assert.doesNotMatch(e.stderr, /internal error/);
  assert.match(lines[0]!, pattern);
}

// --- the big model -------------------------------------------------------------------------------

describe('interrupted runs', () => {
  const folder = join(root, 'kill');
  const input = join(folder, 'big.onnx');
  const out = join(folder, 'big.gap.onnx');
  const OLD = new Uint8Array(readFileSync(join(FIXTURES, 'resnet_tail.onnx')));
  let inputHash = '';
  let refHash = '';
  /** Milliseconds the temp file exists (creation to rename) in a clean run: the writing. */
  let writeMs = 0;
  /** Milliseconds from spawn to the end of a clean run. */
  let totalMs = 0;

  before(async () => {
    mkdirSync(folder);
    writeFileSync(input, bigModel());
    inputHash = hashFile(input);
    // Two reference runs: the output bytes (identical each time), and how long writing takes.
    for (let i = 0; i < 2; i++) {
      rmSync(out, { force: true });
      const t0 = performance.now();
      const { child, done } = start([input, '-o', out, '--no-verify']);
      assert.ok(await tempAppears(folder, child), 'the temp file was seen');
      const t1 = performance.now();
      while (running(child) && temps(folder).length) await sleep(1);
      writeMs = Math.max(writeMs, performance.now() - t1);
      const e = await done;
      assert.equal(e.code, 0, e.stderr);
      totalMs = Math.max(totalMs, performance.now() - t0);
      const h = hashFile(out);
      if (refHash) assert.equal(h, refHash, 'runs are deterministic');
      refHash = h;
    }
    // The reference is a complete model gapify itself accepts.
    parseModel(out, readFileSync(out));
  });

  it(`SIGKILL at ${KILLS} random points: the output is the old file (or none) or the complete new one`, { timeout: 240_000 }, async (t) => {
    const r = rng(42);
    const refSize = statSync(out).size;
    const seen = { none: 0, old: 0, new: 0, tempsLeft: 0, killedWhileWriting: 0, killedBeforeRename: 0 };
    for (let i = 0; i < KILLS; i++) {
      const withOld = i % 2 === 0;
      if (withOld) writeFileSync(out, OLD);
      else rmSync(out, { force: true });
      const { child, done } = start([input, '-o', out, '--no-verify']);
      if (i % 5 === 4) {
        // Anywhere in the run (startup, reading, writing, rename, exit).
        await sleep(r() * totalMs * 1.3);
      } else {
        // Once the temp file holds a random number of bytes — or all of them (fsync, rename).
        // (Wait for the temp file without spinning: startup and reading take most of the run.)
        const at = (await tempAppears(folder, child)) ? killAtSize(folder, child, i % 5 === 3 ? refSize : Math.floor(r() * refSize), refSize) : 'renamed';
        if (at === 'writing') seen.killedWhileWriting++;
        if (at === 'writing' || at === 'written') seen.killedBeforeRename++;
      }
      child.kill('SIGKILL');
      await done;
      if (!existsSync(out)) {
        assert.ok(!withOld, `#${i}: the old output disappeared`);
        seen.none++;
      } else {
        const h = hashFile(out);
        if (withOld && h === sha(OLD)) seen.old++;
        else {
          assert.equal(h, refHash, `#${i}: the output is neither the old file nor the complete new one`);
          seen.new++;
        }
      }
      // SIGKILL can't be caught: its temp file may stay (never at the output path). Clear it.
      for (const f of temps(folder)) {
        seen.tempsLeft++;
        rmSync(join(folder, f), { recursive: true, force: true });
      }
      assert.equal(hashFile(input), inputHash, `#${i}: the input changed`);
    }
    t.diagnostic(`${JSON.stringify(seen)}; the temp file lives ~${writeMs.toFixed(0)} ms of a ${totalMs.toFixed(0)} ms run`);
    // The kills did land while the model was being written.
    assert.ok(seen.killedWhileWriting >= KILLS / 3, `only ${seen.killedWhileWriting} kills landed while writing`);
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} while writing or verifying: exits ${signal === 'SIGINT' ? 130 : 143}, no temp file left, output old or complete`, { timeout: 120_000 }, async () => {
      const r = rng(signal === 'SIGINT' ? 1 : 2);
      let interrupted = 0;
      for (let i = 0; i < 6; i++) {
        writeFileSync(out, OLD);
        // With verification: after staging, onnxruntime loads both models — a wide window.
        const { child, done } = start([input, '-o', out]);
        if (await tempAppears(folder, child)) await sleep(r() * (i < 3 ? writeMs : 400));
        child.kill(signal);
        const e = await done;
        if (e.code === 0) {
          assert.equal(hashFile(out), refHash);
        } else {
          assert.equal(e.code, signal === 'SIGINT' ? 130 : 143, `exit ${e.code} ${e.signal}: ${e.stderr}`);
          interrupted++;
          const h = hashFile(out);
          assert.ok(h === sha(OLD) || h === refHash, 'old file or complete new one');
        }
        assert.deepEqual(temps(folder), [], 'no temp file left');
        assert.equal(hashFile(input), inputHash);
      }
      assert.ok(interrupted > 0, 'at least one run was interrupted');
    });
  }

  it('a write error (file size limit) is one line, exit 2, and leaves no temp file', () => {
    writeFileSync(out, OLD);
    // RLIMIT_FSIZE of 1 MB: writing the 51 MB model fails with EFBIG (Node ignores SIGXFSZ).
    const r = spawnSync('bash', ['-c', `ulimit -f 1024 && exec "${process.execPath}" "${CLI}" "${input}" -o "${out}" --no-verify`], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 2, r.stderr);
    oneLine({ code: r.status, signal: r.signal, stderr: r.stderr, stdout: r.stdout }, /big\.gap\.onnx: cannot write \(EFBIG\)/);
    assert.deepEqual(temps(folder), []);
    assert.equal(hashFile(out), sha(OLD), 'the old output is untouched');
    assert.equal(hashFile(input), inputHash);
  });
});

// --- a signal during a long write -----------------------------------------------------------------

describe('a signal while a big model is written is acted on at once', () => {
  // 256 MB of weights, in external data or inline: the output is copied in 16 MB blocks, a write of
  // a few hundred ms that a signal must be able to stop. (The writing used to be synchronous: a
  // SIGINT/SIGTERM waited for it, then the process replaced the target and exited 0.)
  //
  //   x [1,16384,1,1] ─ GlobalAveragePool ─ Flatten ─ Gemm(W [4096,16384], transB) ─ y
  const folder = join(root, 'signal');
  const OLD = new Uint8Array(readFileSync(join(FIXTURES, 'resnet_tail.onnx')));
  const C = 16_384;
  const K = 4096;
  const BYTES = C * K * 4;

  function model(w: TensorProto): Uint8Array {
    const g = makeGraph(
      [makeNode('GlobalAveragePool', ['x'], ['p'], {}, 'gap'), makeNode('Flatten', ['p'], ['f'], { axis: 1 }, 'flatten'), makeNode('Gemm', ['f', 'W'], ['y'], { transB: 1 }, 'fc')],
      'big', [makeValueInfo('x', DataType.FLOAT, [1, C, 1, 1])], [makeValueInfo('y', DataType.FLOAT, [1, K])], [w],
    );
    return encode('onnx.ModelProto', makeModel(g));
  }

  before(() => {
    mkdirSync(folder);
    writeFileSync(join(folder, 'w.bin'), Buffer.alloc(BYTES, 1));
    writeFileSync(join(folder, 'external.onnx'), model(emptyTensor({
      name: 'W', data_type: DataType.FLOAT, dims: [K, C], data_location: 1,
      external_data: [{ key: 'location', value: 'w.bin' }, { key: 'offset', value: '0' }, { key: 'length', value: String(BYTES) }],
    })));
    writeFileSync(join(folder, 'inline.onnx'), model(emptyTensor({ name: 'W', data_type: DataType.FLOAT, dims: [K, C], raw_data: new Uint8Array(BYTES).fill(1) })));
  });

  /** How much of the output is staged so far (its temp file, or the data file in its temp folder); -1 before there is one. */
  function staged(out: string): number {
    for (const t of temps(folder)) {
      for (const p of [join(folder, t, `${basename(out)}.data`), join(folder, t)]) {
        try {
          const st = statSync(p);
          if (st.isFile()) return st.size;
        } catch { /* not yet */ }
      }
    }
    return -1;
  }

  for (const [signal, kind] of [['SIGINT', 'external'], ['SIGTERM', 'external'], ['SIGTERM', 'inline']] as const) {
    it(`${signal} an eighth into writing a model with ${kind} weights: exit ${signal === 'SIGINT' ? 130 : 143}, the old output kept, no temp file left`, { timeout: 120_000 }, async () => {
      const out = join(folder, `${kind}.out.onnx`);
      writeFileSync(out, OLD);
      const { child, done } = start([join(folder, `${kind}.onnx`), '-o', out, '--no-verify']);
      // Spin (a timer is too coarse) until an eighth is written, then signal.
      let size = -1;
      const end = performance.now() + 60_000;
      while (running(child) && performance.now() < end && (size = staged(out)) < BYTES / 8) await sleep(0);
      assert.ok(size >= 0 && size < BYTES / 2, `the signal is sent mid-write (${size} of ${BYTES} bytes staged)`);
      child.kill(signal);
      const e = await done;
      assert.equal(e.code, signal === 'SIGINT' ? 130 : 143, `exit ${e.code} ${e.signal}: ${e.stderr}`);
      assert.equal(hashFile(out), sha(OLD), 'the old output is kept');
      assert.ok(!existsSync(`${out}.data`), 'no data file was published');
      assert.deepEqual(temps(folder), [], 'no temp file left');
    });
  }
});

// --- small models --------------------------------------------------------------------------------

describe('failures write nothing', () => {
  const folder = join(root, 'fail');
  const input = join(folder, 'resnet.onnx');
  before(() => {
    mkdirSync(folder);
    copyFileSync(join(FIXTURES, 'resnet_tail.onnx'), input);
  });

  it('a failed verification: exit 1, no output, the old output untouched, no temp file', () => {
    // The rewrite is exact up to float32 rounding (~2e-7): a zero tolerance fails it, always.
    const before = hashFile(input);
    const out = join(folder, 'verify-fails.onnx');
    let e = gapifySync([input, '-o', out, '--atol', '0', '--rtol', '0']);
    assert.equal(e.code, 1, e.stderr);
    oneLine(e, /verification failed: .* — nothing written/);
    assert.ok(!existsSync(out));
    writeFileSync(out, 'old');
    e = gapifySync([input, '-o', out, '--atol', '0', '--rtol', '0']);
    assert.equal(e.code, 1);
    assert.equal(readFileSync(out, 'utf8'), 'old');
    assert.deepEqual(temps(folder), []);
    assert.equal(hashFile(input), before);
  });

  it('-o naming an existing folder: one line, exit 2, nothing written', () => {
    const sub = join(folder, 'a-folder');
    mkdirSync(sub);
    const e = gapifySync([input, '-o', sub, '--no-verify']);
    assert.equal(e.code, 2, e.stderr);
    oneLine(e, /a-folder/);
    assert.deepEqual(readdirSync(sub), []);
    assert.deepEqual(temps(folder), []);
  });

  it('-o in a folder that does not exist: one line, exit 2', () => {
    const e = gapifySync([input, '-o', join(folder, 'no', 'such', 'out.onnx'), '--no-verify']);
    assert.equal(e.code, 2, e.stderr);
    oneLine(e, /output folder does not exist/);
  });
});

describe('the input is never the output by accident', () => {
  const folder = join(root, 'inplace');
  const input = join(folder, 'model.onnx');
  before(() => {
    mkdirSync(folder);
    copyFileSync(join(FIXTURES, 'resnet_tail.onnx'), input);
    symlinkSync('model.onnx', join(folder, 'link.onnx'));
  });

  for (const [what, output, cwd] of [
    ['the same path', () => input, undefined],
    ['a ./ relative path', () => './model.onnx', () => folder],
    ['a path through ..', () => join(folder, '..', 'inplace', 'model.onnx'), undefined],
    ['a symlink to the input', () => join(folder, 'link.onnx'), undefined],
  ] as const) {
    it(`-o as ${what} is refused without --in-place`, () => {
      const h = hashFile(input);
      const e = gapifySync([input, '-o', output(), '--no-verify'], cwd ? { cwd: cwd() } : {});
      assert.equal(e.code, 2, e.stderr);
      oneLine(e, /is the input file; pass --in-place to replace it/);
      assert.equal(hashFile(input), h);
      assert.deepEqual(temps(folder), []);
    });
  }

  it('a hard link to the input as -o is the input (same device and inode): refused without --in-place', () => {
    const copy = join(folder, 'hard-src.onnx');
    copyFileSync(input, copy);
    const h = hashFile(copy);
    linkSync(copy, join(folder, 'hard.onnx'));
    const e = gapifySync([copy, '-o', join(folder, 'hard.onnx'), '--no-verify']);
    assert.equal(e.code, 2, e.stderr);
    oneLine(e, /is the input file; pass --in-place to replace it/);
    assert.equal(hashFile(copy), h);
    assert.equal(hashFile(join(folder, 'hard.onnx')), h);
  });

  it('--in-place replaces the input with the verified rewrite', () => {
    const copy = join(folder, 'replace-me.onnx');
    copyFileSync(input, copy);
    const h = hashFile(copy);
    const e = gapifySync([copy, '-o', copy, '--in-place']);
    assert.equal(e.code, 0, e.stderr);
    assert.notEqual(hashFile(copy), h);
    parseModel(copy, readFileSync(copy));
    assert.deepEqual(temps(folder), []);
  });
});

describe('concurrent runs', () => {
  const folder = join(root, 'concurrent');
  const input = join(folder, 'model.onnx');
  let reference = '';
  before(() => {
    mkdirSync(folder);
    copyFileSync(join(FIXTURES, 'resnet_tail.onnx'), input);
    const e = gapifySync([input, '-o', join(folder, 'reference.onnx')]);
    assert.equal(e.code, 0, e.stderr);
    reference = hashFile(join(folder, 'reference.onnx'));
  });

  it('4 processes, one input, different outputs: all succeed with the same bytes', async () => {
    const h = hashFile(input);
    const runs = Array.from({ length: 4 }, (_, i) => start([input, '-o', join(folder, `out${i}.onnx`)]).done);
    for (const [i, e] of (await Promise.all(runs)).entries()) {
      assert.equal(e.code, 0, e.stderr);
      assert.equal(hashFile(join(folder, `out${i}.onnx`)), reference);
    }
    assert.equal(hashFile(input), h);
    assert.deepEqual(temps(folder), []);
  });

  it('4 processes, one output: all succeed, the last writer wins with a complete file', async () => {
    const out = join(folder, 'shared.onnx');
    for (let round = 0; round < 3; round++) {
      rmSync(out, { force: true });
      const runs = Array.from({ length: 4 }, () => start([input, '-o', out]).done);
      for (const e of await Promise.all(runs)) assert.equal(e.code, 0, e.stderr);
      assert.equal(hashFile(out), reference);
      assert.deepEqual(temps(folder), []);
    }
  });

  it('the big model: 4 writers of one output while readers check it is always complete', async () => {
    // Covered by the kill test for a single writer; here several renames race.
    const big = join(folder, 'big.onnx');
    writeFileSync(big, bigModel());
    const first = await start([big, '-o', join(folder, 'big-ref.onnx'), '--no-verify']).done;
    assert.equal(first.code, 0, first.stderr);
    const ref = hashFile(join(folder, 'big-ref.onnx'));
    const out = join(folder, 'big-shared.onnx');
    const runs = Array.from({ length: 4 }, () => start([big, '-o', out, '--no-verify']));
    const seen = new Set<string>();
    while (runs.some((r) => running(r.child))) {
      if (existsSync(out)) {
        try { seen.add(hashFile(out)); } catch { /* replaced while reading: fine */ }
      }
      await sleep(5);
    }
    for (const e of await Promise.all(runs.map((r) => r.done))) assert.equal(e.code, 0, e.stderr);
    seen.add(hashFile(out));
    assert.deepEqual([...seen], [ref], 'every state of the output a reader saw was the complete model');
    assert.deepEqual(temps(folder), []);
    unlinkSync(out);
  });
});
