// Fuzzing: seeded mutations of the fixtures through the whole pipeline. Every case must end as a
// result (0/1) or a clean GapifyError (exit 2 from the CLI, one line on stderr) — never an
// internal error, a stack trace, a hang or a dead process.
//
// The mutator knows the protobuf wire format: besides blind byte damage (bit flips, byte changes,
// truncation, random insertions) it finds the tag-length-value spans of the file and corrupts
// length prefixes, duplicates, deletes and resizes fields, rewrites varint values (dims, types,
// attribute ints), copies strings between fields (value names: cycles, dangling reads,
// duplicates) and gives names bytes that are not UTF-8 or control characters. Structural edits
// fix up the enclosing length prefixes, so the damage reaches the validator, the graph checks and
// the rules instead of stopping at the decoder.
//
//   node --test dist/test/fuzz.test.js                              # 1000 cases + 30 CLI runs, ~10 s
//   GAPIFY_FUZZ_CASES=10000 node --test dist/test/fuzz.test.js      # the long run
//   GAPIFY_FUZZ_SEED=7 …                                            # another base seed
//
// Each mutant is also linted: lint must call broken exactly what the rewrite refuses as broken.
//
// In-process cases run in worker threads (so a hang can be cut off and a memory blow-up kills
// only the worker); ~30 cases go through the CLI binary. Failing inputs are kept in
// $TMPDIR/gapify-fuzz-failures/ to reproduce.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { decode } from '../src/onnx/codec.js';
import { GapifyError } from '../src/errors.js';
import { encodeModel, parseModel } from '../src/onnx/model-io.js';
import { analyzeModel, rewriteModel } from '../src/rewrite/index.js';
import { analysisInputs } from '../src/rewrite/index.js';
import { lintModel } from '../src/lint/index.js';
import { NO_INPUT_SHAPES } from '../src/verify/input-shapes.js';
import { concat, rng, varint } from './support/bytes.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = join(ROOT, 'fixtures');
const CLI = join(ROOT, 'dist/src/cli.js');

const TOTAL = Number(process.env.GAPIFY_FUZZ_CASES ?? 1000);
const BASE_SEED = Number(process.env.GAPIFY_FUZZ_SEED ?? 20240601);
const CLI_CASES = Number(process.env.GAPIFY_FUZZ_CLI_CASES ?? 30);
/** An in-process case taking longer than this is a hang. */
const CASE_TIMEOUT_MS = 10_000;
const CLI_TIMEOUT_MS = 10_000;

// --- PRNG ----------------------------------------------------------------------------------------


type Rand = () => number;
const int = (r: Rand, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)]!;

// --- wire structure ------------------------------------------------------------------------------

/** One field of a protobuf message as found in the bytes. */
interface Span {
  wire: number;
  /** Tag start. */
  start: number;
  /** Start of the length prefix (wire 2) or of the value. */
  lenStart: number;
  /** Start of the value (after the length prefix for wire 2). */
  valueStart: number;
  end: number;
  parent: Span | undefined;
  /** Fields inside, when the value parses as a message. */
  children?: Span[];
}

function readVarint(b: Uint8Array, pos: number, end: number): [number, number] | undefined {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) return undefined;
    const x = b[pos++]!;
    v += (x & 0x7f) * mul;
    if (x < 0x80) return [v, pos];
    mul *= 128;
  }
  return undefined;
}

/** The fields of b[start, end) as a message, or undefined when it does not parse as one. */
function scan(b: Uint8Array, start: number, end: number, parent: Span | undefined, depth: number): Span[] | undefined {
  const out: Span[] = [];
  let pos = start;
  while (pos < end) {
    const tag = readVarint(b, pos, end);
    if (!tag || tag[0] < 8 || tag[0] > 2 ** 29 * 8) return undefined;
    const wire = tag[0] & 7;
    const lenStart = tag[1];
    let valueStart = lenStart;
    let fieldEnd: number;
    if (wire === 0) {
      const v = readVarint(b, lenStart, end);
      if (!v) return undefined;
      fieldEnd = v[1];
    } else if (wire === 1) fieldEnd = lenStart + 8;
    else if (wire === 5) fieldEnd = lenStart + 4;
    else if (wire === 2) {
      const v = readVarint(b, lenStart, end);
      if (!v) return undefined;
      valueStart = v[1];
      fieldEnd = valueStart + v[0];
    } else return undefined;
    if (fieldEnd > end) return undefined;
    out.push({ wire, start: pos, lenStart, valueStart, end: fieldEnd, parent });
    pos = fieldEnd;
  }
  if (depth < 16) {
    for (const s of out) {
      if (s.wire !== 2 || s.end - s.valueStart < 2 || s.end - s.valueStart > 1 << 20) continue;
      const kids = scan(b, s.valueStart, s.end, s, depth + 1);
      if (kids && kids.length) s.children = kids;
    }
  }
  return out;
}

function flatten(spans: Span[], out: Span[] = []): Span[] {
  for (const s of spans) {
    out.push(s);
    if (s.children) flatten(s.children, out);
  }
  return out;
}



function ancestors(s: Span | undefined): Span[] {
  const out: Span[] = [];
  for (let a = s; a; a = a.parent) out.push(a);
  return out;
}

/**
 * Replaces b[at, at + del) with `ins` and fixes the length prefixes of `enclosing` (innermost
 * first) so the message structure stays valid.
 */
function spliceFix(b: Uint8Array, enclosing: Span[], at: number, del: number, ins: Uint8Array | number[]): Uint8Array {
  let out = concat(b.subarray(0, at), ins, b.subarray(at + del));
  let delta = ins.length - del;
  for (const a of enclosing) {
    // Prefixes lie before `at`, and outer ones before inner ones: earlier fixes don't move them.
    const len = a.end - a.valueStart + delta;
    const v = varint(BigInt(len));
    out = concat(out.subarray(0, a.lenStart), v, out.subarray(a.valueStart));
    delta += v.length - (a.valueStart - a.lenStart);
  }
  return out;
}

// --- the mutator ---------------------------------------------------------------------------------

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x08, 0x0a, 0x12];
const INTERESTING_INTS: bigint[] = [0n, 1n, 2n, 3n, 4n, 7n, 8n, 13n, 16n, 255n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 62n, 2n ** 63n - 1n, -1n, -2n, -(2n ** 31n), -(2n ** 63n)];

/** Bytes that make a name invalid UTF-8 (continuations, overlong and surrogate leads, 0xFE/0xFF) or put control characters (ESC, CSI, newline, NUL, DEL) in it. */
const NAME_BYTES = [0x80, 0xbf, 0xc0, 0xc1, 0xe0, 0xed, 0xf5, 0xfe, 0xff, 0x1b, 0x9b, 0x0a, 0x0d, 0x00, 0x7f, 0x07];

export const MUTATIONS = ['bitflip', 'byte', 'truncate', 'insert', 'length', 'duplicate', 'delete', 'varint', 'copy-string', 'resize', 'name-bytes'] as const;
export type Mutation = (typeof MUTATIONS)[number];

/** One mutation of `b` (structure from `spans`, which must describe `b`). */
function mutateOnce(r: Rand, b: Uint8Array, spans: Span[], kind: Mutation): Uint8Array {
  const all = spans;
  const lens = all.filter((s) => s.wire === 2);
  const varints = all.filter((s) => s.wire === 0);
  const leaves = lens.filter((s) => !s.children);
  const randomBytes = (n: number): number[] => Array.from({ length: n }, () => (r() < 0.5 ? pick(r, INTERESTING_BYTES) : int(r, 256)));
  switch (kind) {
    case 'bitflip': {
      const out = b.slice();
      const at = int(r, out.length);
      out[at] = out[at]! ^ (1 << int(r, 8));
      return out;
    }
    case 'byte': {
      const out = b.slice();
      // Aim at the structure half of the time: the bytes of a tag or a length prefix.
      const s = all.length && r() < 0.5 ? pick(r, all) : undefined;
      const at = s ? s.start + int(r, Math.max(1, s.valueStart - s.start)) : int(r, out.length);
      out[at] = r() < 0.5 ? pick(r, INTERESTING_BYTES) : int(r, 256);
      return out;
    }
    case 'truncate':
      return b.slice(0, int(r, b.length));
    case 'insert': {
      const at = int(r, b.length + 1);
      return concat(b.subarray(0, at), randomBytes(1 + int(r, 16)), b.subarray(at));
    }
    case 'length': {
      if (!lens.length) return mutateOnce(r, b, spans, 'byte');
      const s = pick(r, lens);
      const len = BigInt(s.end - s.valueStart);
      const v = pick(r, [len + 1n, len + BigInt(1 + int(r, 64)), len * 2n, len > 0n ? len - 1n : 0n, len / 2n, 0n, BigInt(b.length), 2n ** 31n - 1n, 2n ** 32n, 2n ** 53n, 2n ** 63n - 1n, 2n ** 64n - 1n]);
      // Fix the enclosing prefixes or not: both kinds of lie are worth telling.
      return r() < 0.5
        ? spliceFix(b, ancestors(s.parent), s.lenStart, s.valueStart - s.lenStart, varint(v))
        : concat(b.subarray(0, s.lenStart), varint(v), b.subarray(s.valueStart));
    }
    case 'duplicate': {
      if (!all.length) return mutateOnce(r, b, spans, 'insert');
      const s = pick(r, all);
      const copy = b.slice(s.start, s.end);
      // Right after itself, or after a random sibling.
      const siblings = s.parent?.children ?? spans.filter((x) => !x.parent);
      const at = r() < 0.5 ? s.end : pick(r, siblings).end;
      return spliceFix(b, ancestors(s.parent), at, 0, copy);
    }
    case 'delete': {
      if (!all.length) return mutateOnce(r, b, spans, 'truncate');
      const s = pick(r, all);
      return spliceFix(b, ancestors(s.parent), s.start, s.end - s.start, []);
    }
    case 'varint': {
      if (!varints.length) return mutateOnce(r, b, spans, 'byte');
      const s = pick(r, varints);
      const old = readVarint(b, s.valueStart, s.end)![0];
      const v = r() < 0.7 ? pick(r, INTERESTING_INTS) : BigInt(old) + BigInt(int(r, 5) - 2);
      return spliceFix(b, ancestors(s.parent), s.valueStart, s.end - s.valueStart, varint(v));
    }
    case 'copy-string': {
      if (leaves.length < 2) return mutateOnce(r, b, spans, 'byte');
      // Short leaves are mostly names: copying one over another rewires the graph.
      const short = leaves.filter((s) => s.end - s.valueStart <= 64);
      const pool = short.length >= 2 ? short : leaves;
      const from = pick(r, pool);
      const to = pick(r, pool);
      const value = b.slice(from.valueStart, from.end);
      return spliceFix(b, ancestors(to.parent), to.lenStart, to.end - to.lenStart, concat(varint(BigInt(value.length)), value));
    }
    case 'name-bytes': {
      // A short leaf is mostly a name: give it bytes that are not UTF-8, or control characters,
      // in place (same length) or appended.
      const names = leaves.filter((x) => x.end - x.valueStart > 0 && x.end - x.valueStart <= 64);
      if (!names.length) return mutateOnce(r, b, spans, 'byte');
      const s = pick(r, names);
      const bad = Array.from({ length: 1 + int(r, 3) }, () => pick(r, NAME_BYTES));
      if (r() < 0.5) return spliceFix(b, ancestors(s), s.end, 0, bad);
      const out = b.slice();
      for (const x of bad) out[s.valueStart + int(r, s.end - s.valueStart)] = x;
      return out;
    }
    case 'resize': {
      if (!lens.length) return mutateOnce(r, b, spans, 'insert');
      const s = pick(r, lens);
      const len = s.end - s.valueStart;
      if (len > 0 && r() < 0.6) {
        const del = 1 + int(r, Math.min(len, r() < 0.5 ? 4 : len));
        const at = s.valueStart + int(r, len - del + 1);
        return spliceFix(b, ancestors(s), at, del, []);
      }
      const at = s.valueStart + int(r, len + 1);
      return spliceFix(b, ancestors(s), at, 0, randomBytes(1 + int(r, 8)));
    }
  }
}

export interface Source {
  name: string;
  bytes: Uint8Array;
  spans: Span[];
}

export function loadSource(name: string): Source {
  const bytes = new Uint8Array(readFileSync(join(FIXTURES, name)));
  return { name, bytes, spans: flatten(scan(bytes, 0, bytes.length, undefined, 0) ?? []) };
}

/** 1–3 mutations of `src`, deterministic in `seed`; returns the bytes and what was done. */
export function mutate(src: Source, seed: number): { bytes: Uint8Array; ops: Mutation[] } {
  const r = rng(seed);
  const k = 1 + (r() < 0.3 ? 1 : 0) + (r() < 0.1 ? 1 : 0);
  let bytes = src.bytes;
  let spans = src.spans;
  const ops: Mutation[] = [];
  for (let i = 0; i < k; i++) {
    const kind = pick(r, MUTATIONS);
    if (i > 0) spans = flatten(scan(bytes, 0, bytes.length, undefined, 0) ?? []);
    bytes = mutateOnce(r, bytes, spans, kind);
    ops.push(kind);
  }
  return { bytes, ops };
}

// --- one case ------------------------------------------------------------------------------------

export type Outcome =
  | { kind: 'ok'; rewritten: number }
  | { kind: 'error'; error: string; message: string }
  | { kind: 'crash'; error: string; message: string; stack: string };

/** The CLI pipeline up to writing, in-process: read, analyse, rewrite, encode; then reread the output. */
export function runCase(path: string, bytes: Uint8Array): Outcome {
  try {
    const file = parseModel(path, bytes);
    const { dims } = analysisInputs(file, NO_INPUT_SHAPES);
    const analysis = analyzeModel(file, dims);
    const { model, changes } = rewriteModel(analysis, { order: 'auto' });
    if (changes.length) {
      // What we would write must itself be a model we accept.
      const out = Buffer.concat(encodeModel(model));
      try {
        const again = parseModel(path, out);
        analyzeModel(again, dims);
      } catch (e) {
        return { kind: 'crash', error: 'bad output', message: e instanceof Error ? e.message : String(e), stack: e instanceof Error ? (e.stack ?? '') : '' };
      }
      decode('onnx.ModelProto', out);
    }
    return { kind: 'ok', rewritten: changes.length };
  } catch (e) {
    if (e instanceof GapifyError && e.message && !e.message.startsWith('internal')) return { kind: 'error', error: e.name, message: e.message.split('\n')[0]! };
    const err = e instanceof Error ? e : new Error(String(e));
    return { kind: 'crash', error: err.name, message: err.message, stack: err.stack ?? '' };
  }
}

// --- worker side ---------------------------------------------------------------------------------

interface CaseSpec { index: number; file: string; seed: number }
type WorkerMsg = { type: 'start'; index: number } | { type: 'done'; index: number; ms: number; outcome: Outcome; ops: Mutation[] };

if (!isMainThread && (workerData as { fuzz?: boolean } | undefined)?.fuzz) {
  const { dir, cases } = workerData as { dir: string; cases: CaseSpec[] };
  const sources = new Map<string, Source>();
  for (const c of cases) {
    let src = sources.get(c.file);
    if (!src) sources.set(c.file, (src = loadSource(c.file)));
    parentPort!.postMessage({ type: 'start', index: c.index } satisfies WorkerMsg);
    const t0 = performance.now();
    const { bytes, ops } = mutate(src, c.seed);
    const path = join(dir, `case${c.index}.onnx`);
    let outcome = runCase(path, bytes);
    // lint and the rewrite judge a model alike: what the rewrite refuses as broken, lint reports,
    // and what lint calls broken, the rewrite refuses (maybe for a reason it finds first, such as
    // an input it can't size).
    writeFileSync(path, bytes);
    const lint = lintModel(path, { cwd: dir });
    rmSync(path, { force: true });
    const lintBroken = lint.findings.find((f) => f.ruleId === 'broken-model');
    if (outcome.kind === 'ok' && lintBroken) {
      outcome = { kind: 'crash', error: 'lint and rewrite disagree', message: `lint calls it broken (${lintBroken.message}) but the rewrite takes it`, stack: '' };
    } else if (outcome.kind === 'error' && outcome.error === 'ModelError' && !lintBroken) {
      outcome = { kind: 'crash', error: 'lint and rewrite disagree', message: `the rewrite refuses it (${outcome.message}) but lint passes it`, stack: '' };
    }
    parentPort!.postMessage({ type: 'done', index: c.index, ms: performance.now() - t0, outcome, ops } satisfies WorkerMsg);
  }
}

// --- the plan ------------------------------------------------------------------------------------

const SMALL = readdirSync(FIXTURES).filter((f) => f.endsWith('.onnx') && !/mobilenet|shufflenet|squeezenet|vgg/.test(f)).sort();
const BIG = readdirSync(FIXTURES).filter((f) => f.endsWith('.onnx') && /mobilenet|shufflenet|squeezenet|vgg/.test(f)).sort();

/** Case i: which fixture (mostly small ones: the big ones cost a 2–10 MB copy per case) and its seed. */
export function plan(i: number): CaseSpec {
  const r = rng((BASE_SEED ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
  const file = r() < 0.1 ? pick(r, BIG) : pick(r, SMALL);
  return { index: i, file, seed: int(r, 2 ** 32) };
}

interface Failure { index: number; file: string; seed: number; what: string; kept?: string }

const FAIL_DIR = join(tmpdir(), 'gapify-fuzz-failures');

function keep(spec: CaseSpec, bytes?: Uint8Array): string {
  mkdirSync(FAIL_DIR, { recursive: true });
  const p = join(FAIL_DIR, `${spec.file.replace(/\.onnx$/, '')}-${spec.seed}.onnx`);
  writeFileSync(p, bytes ?? mutate(loadSource(spec.file), spec.seed).bytes);
  return p;
}

interface Stats { cases: number; ok: number; rewritten: number; errors: number; maxMs: number; maxCase: number; byError: Map<string, number> }

/** Runs `cases` in `workers` worker threads, restarting a worker that hangs or dies. */
async function runInWorkers(cases: CaseSpec[], workers: number, dir: string): Promise<{ failures: Failure[]; stats: Stats }> {
  const failures: Failure[] = [];
  const stats: Stats = { cases: 0, ok: 0, rewritten: 0, errors: 0, maxMs: 0, maxCase: -1, byError: new Map() };
  const byIndex = new Map(cases.map((c) => [c.index, c]));
  const slices: CaseSpec[][] = Array.from({ length: workers }, () => []);
  cases.forEach((c, i) => slices[i % workers]!.push(c));

  const runSlice = (slice: CaseSpec[]): Promise<void> =>
    new Promise((done) => {
      let queue = slice;
      const startWorker = (): void => {
        if (!queue.length) return done();
        const w = new Worker(new URL(import.meta.url), { workerData: { fuzz: true, dir, cases: queue }, resourceLimits: { maxOldGenerationSizeMb: 1536 } });
        let current: number | undefined;
        let timer: NodeJS.Timeout | undefined;
        let finished = false;
        const fail = (what: string): void => {
          if (finished) return;
          finished = true;
          clearTimeout(timer);
          if (current !== undefined) {
            const spec = byIndex.get(current)!;
            failures.push({ index: spec.index, file: spec.file, seed: spec.seed, what, kept: keep(spec) });
            stats.cases++;
            queue = queue.slice(queue.findIndex((c) => c.index === current) + 1);
          } else {
            queue = [];
          }
          void w.terminate();
          startWorker();
        };
        w.on('message', (m: WorkerMsg) => {
          if (m.type === 'start') {
            current = m.index;
            clearTimeout(timer);
            timer = setTimeout(() => fail(`hang: no answer after ${CASE_TIMEOUT_MS} ms`), CASE_TIMEOUT_MS);
            return;
          }
          clearTimeout(timer);
          current = undefined;
          stats.cases++;
          if (m.ms > stats.maxMs) { stats.maxMs = m.ms; stats.maxCase = m.index; }
          const o = m.outcome;
          if (o.kind === 'ok') { stats.ok++; if (o.rewritten) stats.rewritten++; }
          else if (o.kind === 'error') {
            stats.errors++;
            // Group messages by their shape: drop the path and the names/numbers in them.
            const key = `${o.error}: ${o.message.replace(/^[^:]*\.onnx: /, '').replace(/'[^']*'/g, "'…'").replace(/\d+/g, 'N').slice(0, 80)}`;
            stats.byError.set(key, (stats.byError.get(key) ?? 0) + 1);
          } else {
            const spec = byIndex.get(m.index)!;
            failures.push({ index: m.index, file: spec.file, seed: spec.seed, what: `${o.error}: ${o.message} [${m.ops.join(', ')}]\n${o.stack.split('\n').slice(1, 6).join('\n')}`, kept: keep(spec) });
          }
          if (m.ms > CASE_TIMEOUT_MS) {
            const spec = byIndex.get(m.index)!;
            failures.push({ index: m.index, file: spec.file, seed: spec.seed, what: `slow: ${m.ms.toFixed(0)} ms`, kept: keep(spec) });
          }
        });
        w.on('error', (e) => fail(`worker died: ${e.message}`));
        w.on('exit', (code) => {
          if (finished) return;
          if (current !== undefined) return fail(`worker exited with ${code}`);
          finished = true;
          clearTimeout(timer);
          done();
        });
      };
      startWorker();
    });

  await Promise.all(slices.map(runSlice));
  return { failures, stats };
}

// --- CLI cases -----------------------------------------------------------------------------------

interface CliResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number; timedOut: boolean }

function runCli(args: string[], timeoutMs: number): Promise<CliResult> {
  return new Promise((resolveRun) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolveRun({ code, signal, stdout, stderr, ms: performance.now() - t0, timedOut });
    });
  });
}

/** Checks a CLI run of a broken or odd model: exit 0/1/2 in time, one clean stderr line on error. */
export function cliProblem(r: CliResult): string | undefined {
  if (r.timedOut) return `hang: killed after ${CLI_TIMEOUT_MS} ms`;
  if (r.signal) return `killed by ${r.signal}`;
  if (r.code !== 0 && r.code !== 1 && r.code !== 2) return `exit code ${r.code}`;
  if (r.code === 0) return undefined;
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  if (lines.length !== 1) return `stderr has ${lines.length} lines: ${r.stderr.slice(0, 500)}`;
  if (/internal error|^\s+at /m.test(r.stderr)) return `internal error: ${r.stderr.slice(0, 500)}`;
  if (!lines[0]!.startsWith('gapify: ')) return `stderr does not start with 'gapify: ': ${lines[0]}`;
  return undefined;
}

async function pool<T>(items: T[], n: number, f: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) await f(items[next++]!);
  }));
}

// --- the tests -----------------------------------------------------------------------------------

if (isMainThread) {
  const dir = mkdtempSync(join(tmpdir(), 'gapify-fuzz-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('fuzz', () => {
    it('the mutator is deterministic and finds the structure', () => {
      const src = loadSource('resnet_tail.onnx');
      assert.ok(src.spans.length > 50, `found ${src.spans.length} fields`);
      // Fixups keep the structure parseable: a duplicated node is still a well-formed model.
      for (let seed = 0; seed < 20; seed++) {
        assert.deepEqual(mutate(src, seed).bytes, mutate(src, seed).bytes);
      }
      const r = rng(1);
      const dup = mutateOnce(r, src.bytes, src.spans, 'duplicate');
      assert.ok(scan(dup, 0, dup.length, undefined, 0), 'a duplicated field keeps the message parseable');
    });

    it(`${TOTAL} mutated models through read → analyse → rewrite → encode, in-process`, { timeout: Math.max(120_000, TOTAL * 200) }, async (t) => {
      const cases = Array.from({ length: TOTAL }, (_, i) => plan(i));
      const t0 = performance.now();
      const { failures, stats } = await runInWorkers(cases, 2, dir);
      const secs = (performance.now() - t0) / 1000;
      t.diagnostic(`${stats.cases} cases in ${secs.toFixed(1)} s: ${stats.ok} ok (${stats.rewritten} rewritten), ${stats.errors} clean errors, ${failures.length} failures; slowest case #${stats.maxCase} ${stats.maxMs.toFixed(0)} ms`);
      for (const [k, v] of [...stats.byError].sort((a, b) => b[1] - a[1]).slice(0, 25)) t.diagnostic(`  ${v}× ${k}`);
      assert.equal(stats.cases, TOTAL);
      assert.deepEqual(failures.map((f) => `#${f.index} ${f.file} seed ${f.seed} (${f.kept}): ${f.what}`), []);
    });

    it(`${CLI_CASES} mutated models through the CLI (--no-verify)`, { timeout: 300_000 }, async (t) => {
      const problems: string[] = [];
      let maxMs = 0;
      const codes = new Map<number, number>();
      const cases = Array.from({ length: CLI_CASES }, (_, i) => plan(1_000_000 + i));
      await pool(cases, 2, async (spec) => {
        const { bytes } = mutate(loadSource(spec.file), spec.seed);
        const input = join(dir, `cli${spec.index}.onnx`);
        writeFileSync(input, bytes);
        const r = await runCli([input, '-o', join(dir, `cli${spec.index}.out.onnx`), '--no-verify'], CLI_TIMEOUT_MS);
        maxMs = Math.max(maxMs, r.ms);
        codes.set(r.code ?? -1, (codes.get(r.code ?? -1) ?? 0) + 1);
        const problem = cliProblem(r);
        if (problem) problems.push(`${spec.file} seed ${spec.seed} (${keep(spec, bytes)}): ${problem}`);
      });
      t.diagnostic(`exit codes ${JSON.stringify(Object.fromEntries(codes))}, slowest ${maxMs.toFixed(0)} ms`);
      assert.deepEqual(problems, []);
    });
  });
}
