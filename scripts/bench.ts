// `npm run bench`: how fast gapify is against the floor a model file sets (a plain copy, and
// onnxruntime loading and running the models), and what the rewrite does to inference latency.
// A benchmark, not a test: it prints tables (Markdown, for the README) and asserts nothing.
//
//   1. gapify --no-verify vs `cp` of the same file: wall time and peak RSS of the child process
//      (`/usr/bin/time -f %M` when present; else a tiny wrapper reporting its own maxRSS).
//   2. the default run (rewrite + onnxruntime verification) vs a bare onnxruntime load + run of the
//      original and the rewritten model, one session at a time (the least verification can cost).
//   3. inference latency (onnxruntime's default session options, median of interleaved runs) of
//      the original, gapify's default output and the rewrites with --order conv-first and
//      pool-first, at the trained size: the default must never be slower than the original.
//   4. `gapify lint` of a folder of torchvision-shaped models (large-models.ts's zoo, 3.1 GB) plus
//      fixtures/ against `cat` of the same files, page cache warm, and the bytes lint read (the
//      `rchar` of /proc/<pid>/io, less that of `gapify --version`: Node and gapify's own modules).
//   5. big graphs (skip with --no-big-graphs): `gapify lint` on a 3.64 M-node chain (~100 MB) — time,
//      nodes per second, peak RSS; the heap per node of each stage against the budget's estimates;
//      the rewrite of a 1 M-node chain; models with 10 M metadata entries.
//
// Models: a generated VGG16-shaped model (553 MB, inline weights), a generated model whose 2.2 GB
// weight is external data (skip with --no-large), and fixtures/*.onnx. Generated models go to a
// fresh folder under os.tmpdir(), deleted at the end. Every timed run starts after `sync`, so
// write-back of the previous run's output does not slow the next one down.
//
//   node dist/scripts/bench.js [--no-large] [--no-big-graphs] [--reps N] [--only SUBSTRING] [--lint-only | --no-lint]

import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeHugeExternal, writeVgg16, writeZoo } from './large-models.js';
import { writeChainModel, writeMetadataModel } from './big-graphs.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli.js');
const SELF = fileURLToPath(import.meta.url);
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

interface Run {
  seconds: number;
  /** Peak RSS of the child in bytes (undefined when it can't be measured). */
  rss: number | undefined;
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `cmd args` once and measures its wall time and peak RSS. */
function run(cmd: string, args: readonly string[], scratch: string): Run {
  spawnSync('sync');
  const timeOut = join(scratch, 'time.out');
  let argv: string[];
  if (TIME) {
    argv = [TIME, '-f', '%M', '-o', timeOut, cmd, ...args];
  } else if (cmd === process.execPath) {
    // No /usr/bin/time: a node child reports its own peak RSS (see `--rss-of` below).
    argv = [process.execPath, SELF, '--rss-of', timeOut, ...args];
  } else {
    argv = [cmd, ...args];
  }
  rmSync(timeOut, { force: true });
  const start = performance.now();
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const seconds = (performance.now() - start) / 1000;
  let rss: number | undefined;
  if (existsSync(timeOut)) {
    const kb = Number(readFileSync(timeOut, 'utf8').trim().split('\n').pop());
    if (Number.isFinite(kb)) rss = kb * 1024;
  }
  return { seconds, rss, status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median wall time and the largest peak RSS over `reps` runs (setup before each). */
function repeat(reps: number, setup: () => void, once: () => Run): Run & { all: number[] } {
  const runs: Run[] = [];
  for (let i = 0; i < reps; i++) {
    setup();
    runs.push(once());
  }
  const rss = runs.map((r) => r.rss).filter((x): x is number => x !== undefined);
  const last = runs[runs.length - 1]!;
  return { ...last, seconds: median(runs.map((r) => r.seconds)), rss: rss.length ? Math.max(...rss) : undefined, all: runs.map((r) => r.seconds) };
}

const mb = (n: number | undefined): string => (n === undefined ? '–' : n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GB` : n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(0)} MB` : `${(n / 2 ** 10).toFixed(0)} KB`);
const sec = (s: number): string => (s >= 10 ? `${s.toFixed(1)} s` : `${s.toFixed(2)} s`);
const ms = (s: number): string => (s >= 0.1 ? `${(s * 1000).toFixed(0)} ms` : `${(s * 1000).toFixed(2)} ms`);
const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

interface Model {
  name: string;
  path: string;
  /** Input model plus its data files. */
  bytes: number;
  /** Repetitions for the timed runs. */
  reps: number;
  /** Iterations for the latency medians. */
  iters: number;
  external: boolean;
}

function fileSize(path: string): number {
  return statSync(path).size;
}

// --- child modes ---------------------------------------------------------------------------------

/** `--rss-of FILE script args…`: runs a node script in-process and writes its peak RSS (KB) to FILE. */
async function rssOf(file: string, script: string, args: string[]): Promise<void> {
  const { writeFileSync } = await import('node:fs');
  process.argv = [process.argv[0]!, script, ...args];
  process.on('exit', () => writeFileSync(file, `${process.resourceUsage().maxRSS}\n`));
  if (script === SELF) await main(args);
  else await import(script);
}

type Ort = typeof import('onnxruntime-node');

async function feeds(ort: Ort, session: import('onnxruntime-node').InferenceSession): Promise<Record<string, import('onnxruntime-node').Tensor>> {
  const out: Record<string, import('onnxruntime-node').Tensor> = {};
  let seed = 1;
  for (const m of session.inputMetadata) {
    if (!m.isTensor) throw new Error(`input ${m.name} is not a tensor`);
    const dims = m.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
    const n = dims.reduce((a, b) => a * b, 1);
    if (m.type === 'float32') {
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
      out[m.name] = new ort.Tensor('float32', data, dims);
    } else if (m.type === 'float16') {
      out[m.name] = new ort.Tensor('float16', new Uint16Array(n).fill(0x3c00), dims);
    } else {
      throw new Error(`input ${m.name}: ${m.type} inputs are not supported by the benchmark`);
    }
  }
  return out;
}

/** `--bare-ort A [B]`: what verification can't go below — load and run each model once, in turn. */
async function bareOrt(paths: string[]): Promise<void> {
  const ort = await import('onnxruntime-node');
  const opts = { graphOptimizationLevel: 'disabled', executionProviders: ['cpu'], logSeverityLevel: 4 } as const;
  for (const p of paths) {
    const s = await ort.InferenceSession.create(p, opts);
    await s.run(await feeds(ort, s));
    await s.release();
  }
}

/**
 * `--latency ITERS A B…`: median session.run time per model with onnxruntime's default options, as
 * JSON. Where the default level ('all') can't load a model, 'extended' is used and named: onnxruntime
 * 1.30's NCHWc layout transformer copies a Conv weight into an embedded initializer, which fails
 * past 2 GiB ("exceeds the 2147483648 byte limit for embedded initializer data").
 */
async function latency(iters: number, paths: string[]): Promise<void> {
  const ort = await import('onnxruntime-node');
  const sessions: { s: import('onnxruntime-node').InferenceSession; level: string; feeds: Record<string, import('onnxruntime-node').Tensor>; times: number[] }[] = [];
  for (const p of paths) {
    let level: 'all' | 'extended' = 'all';
    let s: import('onnxruntime-node').InferenceSession;
    try {
      s = await ort.InferenceSession.create(p, { executionProviders: ['cpu'], logSeverityLevel: 4 });
    } catch {
      level = 'extended';
      s = await ort.InferenceSession.create(p, { executionProviders: ['cpu'], logSeverityLevel: 4, graphOptimizationLevel: level });
    }
    const f = await feeds(ort, s);
    await s.run(f); // warm-up
    sessions.push({ s, level, feeds: f, times: [] });
  }
  // Interleaved: a slow phase of the machine (another process, frequency scaling) hits every model alike.
  for (let i = 0; i < iters; i++) {
    for (const x of sessions) {
      const t = performance.now();
      await x.s.run(x.feeds);
      x.times.push((performance.now() - t) / 1000);
    }
  }
  for (const x of sessions) await x.s.release();
  process.stdout.write(`${JSON.stringify(sessions.map((x) => ({ seconds: median(x.times), level: x.level })))}\n`);
}

// --- lint vs cat ---------------------------------------------------------------------------------

/** Bytes a node script read through read(2) (`rchar`), from a wrapper that reads /proc/self/io at exit; undefined off Linux. */
function bytesRead(script: string, args: readonly string[], scratch: string): number | undefined {
  if (!existsSync('/proc/self/io')) return undefined;
  const out = join(scratch, 'io.out');
  rmSync(out, { force: true });
  const wrapper = `import { readFileSync, writeFileSync } from 'node:fs';
process.on('exit', () => writeFileSync(${JSON.stringify(out)}, readFileSync('/proc/self/io', 'utf8')));
process.argv = [process.argv[0], ${JSON.stringify(script)}, ...${JSON.stringify(args)}];
await import(${JSON.stringify(pathToFileURL(script).href)});`;
  spawnSync(process.execPath, ['--input-type=module', '-e', wrapper], { stdio: 'ignore' });
  const rchar = existsSync(out) ? /^rchar: (\d+)$/m.exec(readFileSync(out, 'utf8'))?.[1] : undefined;
  return rchar === undefined ? undefined : Number(rchar);
}

/** `gapify lint` of the zoo and the fixtures vs `cat` of the same files: wall time (median) and bytes read. */
function lintVsCat(scratch: string, reps: number, log: (s: string) => void): string {
  const zoo = join(scratch, 'zoo');
  mkdirSync(zoo);
  log('generating the zoo (torchvision-shaped models, 3.1 GB)');
  const files = [...writeZoo(zoo), ...readdirSync(join(ROOT, 'fixtures')).filter((f) => f.endsWith('.onnx')).sort().map((f) => join(ROOT, 'fixtures', f))];
  const total = files.reduce((n, f) => n + fileSize(f), 0);
  const devNull = openSync('/dev/null', 'w');
  const timeOut = join(scratch, 'cpu.out');
  /** Wall time, and CPU time (user + sys, by /usr/bin/time) which other load on the machine disturbs less. */
  const timed = (cmd: string, args: readonly string[]): { wall: number; cpu: number | undefined; status: number | null; stderr: string } => {
    rmSync(timeOut, { force: true });
    const argv = TIME ? [TIME, '-f', '%U %S', '-o', timeOut, cmd, ...args] : [cmd, ...args];
    const start = performance.now();
    const r = spawnSync(argv[0]!, argv.slice(1), { stdio: ['ignore', devNull, 'pipe'], encoding: 'utf8' });
    const wall = (performance.now() - start) / 1000;
    const cpu = existsSync(timeOut) ? readFileSync(timeOut, 'utf8').trim().split('\n').pop()!.split(' ').map(Number).reduce((a, b) => a + b, 0) : undefined;
    return { wall, cpu, status: r.status, stderr: r.stderr };
  };
  const lintArgs = [CLI, 'lint', ...files, '--format', 'json', '--fail-on', 'never'];
  log('lint vs cat (page cache warm)');
  timed('cat', files); // warm the page cache
  timed(process.execPath, lintArgs);
  // Interleaved, so a change of load on the machine falls on both.
  const cats: ReturnType<typeof timed>[] = [];
  const lints: ReturnType<typeof timed>[] = [];
  for (let i = 0; i < reps; i++) {
    cats.push(timed('cat', files));
    lints.push(timed(process.execPath, lintArgs));
  }
  closeSync(devNull);
  const failed = lints.find((l) => l.status !== 0);
  if (failed) throw new Error(`gapify lint failed: ${failed.stderr}`);
  const wall = (runs: typeof cats): number => median(runs.map((r) => r.wall));
  const cpu = (runs: typeof cats): number | undefined => (runs.every((r) => r.cpu !== undefined) ? median(runs.map((r) => r.cpu!)) : undefined);
  const catCpu = cpu(cats);
  const lintCpu = cpu(lints);
  const own = bytesRead(CLI, ['--version'], scratch);
  const linted = bytesRead(CLI, lintArgs.slice(1), scratch);
  const read = own !== undefined && linted !== undefined ? linted - own : undefined;
  const rows = [[
    `${files.length} models (zoo + fixtures/)`, mb(total),
    sec(wall(cats)), sec(wall(lints)), ratio(wall(lints), wall(cats)),
    catCpu === undefined || lintCpu === undefined ? '–' : `${sec(catCpu)} / ${sec(lintCpu)} (${ratio(lintCpu, catCpu)})`,
    read === undefined ? '–' : `${mb(read)} (${((read / total) * 100).toFixed(2)}%)`,
  ]];
  return `### gapify lint vs cat (median of ${reps} interleaved runs, page cache warm)\n\n${table(['models', 'size', 'cat', 'gapify lint', 'lint vs cat', 'CPU cat / lint', 'bytes lint read'], rows)}\n\n`
    + `(bytes lint read: rchar of the lint process less that of \`gapify --version\`, ${own === undefined ? '–' : mb(own)}, which Node and gapify's modules account for)`;
}

/**
 * `--heap-per-node MODEL NODES`: (run with --expose-gc) the heap each stage of an analysis keeps per
 * node — read as lint reads (no source views), then as the rewrite reads — next to what the
 * budget (model-io.ts) estimates. Prints one JSON line.
 */
async function heapPerNode(path: string, nodes: number): Promise<void> {
  const { readModelLazy, releaseModel, ANALYSIS_BYTES_PER_NODE } = await import('../src/onnx/model-io.js');
  const { decode } = await import('../src/onnx/codec.js');
  const { analyzeModel } = await import('../src/rewrite/index.js');
  const gc = (globalThis as { gc?: () => void }).gc!;
  const heap = (): number => {
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };
  const bytes = readFileSync(path);
  const est = (keepSource: boolean): number => {
    const stats = { heapBytes: 0 };
    decode('onnx.ModelProto', bytes, { keepSource, stats });
    return stats.heapBytes / nodes;
  };
  const estimate = { lint: est(false), rewrite: est(true), analysis: ANALYSIS_BYTES_PER_NODE };
  const h0 = heap();
  const lintFile = readModelLazy(path, { keepOpen: false });
  const h1 = heap();
  const analysis = analyzeModel(lintFile, new Map([['x', [1, 16, 4, 4]]]));
  const h2 = heap();
  void analysis.findings.length;
  const rewriteFile = readModelLazy(path, { keepOpen: true });
  const h3 = heap();
  releaseModel(rewriteFile);
  const perNode = (b: number): number => Math.round(b / nodes);
  console.log(JSON.stringify({ estimate: { lint: Math.round(estimate.lint), rewrite: Math.round(estimate.rewrite), analysis: estimate.analysis }, measured: { lint: perNode(h1 - h0), analysis: perNode(h2 - h1), rewrite: perNode(h3 - h2) } }));
}

/** Section 5: models big in structure rather than in weights. */
function bigGraphs(scratch: string, log: (s: string) => void): void {
  const dir = join(scratch, 'big-graphs');
  mkdirSync(dir);
  const CHAIN = 3_640_000;
  log(`big graphs: writing a ${CHAIN}-node chain`);
  const chain = join(dir, 'chain.onnx');
  writeChainModel(chain, CHAIN);
  log('big graphs: gapify lint on it');
  const lint = run(process.execPath, [CLI, 'lint', chain, '--format', 'json'], scratch);
  const ok = lint.status === 0 && lint.stdout.includes('rewritable-tail');
  const rows: string[][] = [[`gapify lint, ${(CHAIN / 1e6).toFixed(2)} M-node chain`, mb(fileSize(chain)), ok ? sec(lint.seconds) : `exit ${lint.status}`,
    `${Math.round(CHAIN / lint.seconds / 1000)} k nodes/s`, mb(lint.rss), lint.rss === undefined ? '–' : `${Math.round(lint.rss / CHAIN)} B`]];
  rmSync(chain);

  const MID = 1_000_000;
  const mid = join(dir, 'chain-1m.onnx');
  writeChainModel(mid, MID);
  log('big graphs: gapify --no-verify on a 1 M-node chain');
  const rewrite = run(process.execPath, [CLI, mid, '-o', join(dir, 'out.onnx'), '--no-verify'], scratch);
  rows.push([`gapify --no-verify, ${MID / 1e6} M-node chain`, mb(fileSize(mid)), rewrite.status === 0 ? sec(rewrite.seconds) : `exit ${rewrite.status}`,
    `${Math.round(MID / rewrite.seconds / 1000)} k nodes/s`, mb(rewrite.rss), rewrite.rss === undefined ? '–' : `${Math.round(rewrite.rss / MID)} B`]);
  rmSync(join(dir, 'out.onnx'), { force: true });

  log('big graphs: heap per node, measured against the estimates');
  const probe = spawnSync(process.execPath, ['--expose-gc', SELF, '--heap-per-node', mid, String(MID)], { encoding: 'utf8' });
  rmSync(mid);

  const meta = join(dir, 'meta.onnx');
  writeMetadataModel(meta, 10_000_000);
  log('big graphs: 10 M metadata entries');
  for (const [what, args] of [['gapify lint', ['lint', meta]], ['gapify --no-verify', [meta, '-o', join(dir, 'meta.out.onnx'), '--no-verify']]] as const) {
    const r = run(process.execPath, [CLI, ...args], scratch);
    const outcome = r.status === 0 ? sec(r.seconds) : `${sec(r.seconds)}, exit ${r.status}: ${(r.stderr.trim().split('\n').pop() ?? '').replace(/^gapify: \S+: /, '').slice(0, 60)}`;
    rows.push([`${what}, 10 M metadata entries`, mb(fileSize(meta)), outcome, '', mb(r.rss), '']);
  }

  console.log('\n### big graphs: structure, not weights (one run each)\n');
  console.log(table(['run', 'size', 'time', 'throughput', 'peak RSS', 'RSS per node'], rows));
  if (probe.status === 0) {
    const h = JSON.parse(probe.stdout.trim().split('\n').pop()!) as { estimate: Record<string, number>; measured: Record<string, number> };
    console.log(`\nHeap per node of a 1 M-node chain (after a full GC), measured vs the budget's estimate (model-io.ts): decoded for lint ${h.measured.lint} B vs ${h.estimate.lint} B, `
      + `the analysis the rewrite runs ${h.measured.analysis} B vs ${h.estimate.analysis} B (the estimate also covers lint's size analysis, which runs on top of it and is gone after), `
      + `decoded for a rewrite (with source views) ${h.measured.rewrite} B vs ${h.estimate.rewrite} B. `
      + 'The budget refuses a model whose estimate is over 70% of the heap limit; peak RSS is higher than the heap kept: garbage between collections.');
  } else {
    console.log(`\n(heap per node: the probe failed: ${probe.stderr.trim().split('\n')[0] ?? ''})`);
  }
  rmSync(dir, { recursive: true, force: true });
}

// --- the benchmark -------------------------------------------------------------------------------

function machine(): string {
  const cpu = cpus();
  const time = TIME ? `peak RSS by ${TIME} -f %M` : 'peak RSS by process.resourceUsage() in a wrapper (no /usr/bin/time)';
  return `Machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GB RAM, Node ${process.version}, ${process.platform}; ${time}.`;
}

async function bench(args: string[]): Promise<void> {
  const large = !args.includes('--no-large');
  const repsArg = args.indexOf('--reps');
  const reps = repsArg >= 0 ? Number(args[repsArg + 1]) : 5;
  const onlyArg = args.indexOf('--only');
  const only = onlyArg >= 0 ? args[onlyArg + 1] ?? '' : '';
  const scratch = mkdtempSync(join(tmpdir(), 'gapify-bench-'));
  const started = performance.now();
  const log = (s: string): void => void process.stderr.write(`bench: ${s}\n`);
  console.log(machine());
  console.log('');
  if (args.includes('--lint-only')) {
    try {
      console.log(lintVsCat(scratch, Math.max(reps, 5), log));
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
    return;
  }
  try {
    const models: Model[] = [];
    if ('vgg16 (generated)'.includes(only)) {
      log('generating a VGG16-shaped model');
      const vgg = join(scratch, 'vgg16.onnx');
      writeVgg16(vgg);
      models.push({ name: 'vgg16 (generated)', path: vgg, bytes: fileSize(vgg), reps, iters: 5, external: false });
    }
    if (large && 'huge, 2.2 GB external data (generated)'.includes(only)) {
      log('generating a model with 2.2 GB of external data');
      const dir = join(scratch, 'huge');
      mkdirSync(dir);
      const huge = writeHugeExternal(dir);
      models.push({ name: 'huge, 2.2 GB external data (generated)', path: huge.model, bytes: fileSize(huge.model) + huge.dataBytes, reps: 3, iters: 3, external: true });
    }
    const fixtures = join(ROOT, 'fixtures');
    for (const f of readdirSync(fixtures).filter((f) => f.endsWith('.onnx')).sort()) {
      const p = join(fixtures, f);
      models.push({ name: f, path: p, bytes: fileSize(p), reps: 3, iters: 50, external: false });
    }

    const selected = models.filter((m) => m.name.includes(only));
    const copyRows: string[][] = [];
    const verifyRows: string[][] = [];
    const latencyRows: string[][] = [];
    const out = join(scratch, 'out');
    mkdirSync(out);
    for (const m of selected) {
      log(`${m.name}: cp vs gapify --no-verify`);
      const dest = join(out, basename(m.path));
      const clean = (): void => {
        for (const f of readdirSync(out)) rmSync(join(out, f), { recursive: true, force: true });
      };
      // cp of the model and its data file(s): what writing the output can't beat.
      const cpArgs = m.external ? ['-r', dirname(m.path), join(out, 'copy')] : [m.path, dest];
      const cp = repeat(m.reps, clean, () => run('cp', cpArgs, scratch));
      const gap = repeat(m.reps, clean, () => run(process.execPath, [CLI, m.path, '-o', dest, '--no-verify'], scratch));
      const wrote = gap.status === 0 && existsSync(dest);
      copyRows.push([m.name, mb(m.bytes), sec(cp.seconds), mb(cp.rss), wrote ? sec(gap.seconds) : `(${gap.status === 0 ? 'nothing to rewrite' : `exit ${gap.status}`}) ${sec(gap.seconds)}`, mb(gap.rss), ratio(gap.seconds, cp.seconds), gap.rss === undefined || m.bytes < 10 * 2 ** 20 ? '–' : ratio(gap.rss, m.bytes)]);
      if (!wrote) continue;

      log(`${m.name}: default run (verification) vs bare onnxruntime`);
      const verifyReps = m.bytes > 100 * 2 ** 20 ? 1 : m.reps;
      const full = repeat(verifyReps, clean, () => run(process.execPath, [CLI, m.path, '-o', dest], scratch));
      // The rewritten model for the bare run (and latency): from a --no-verify run, kept.
      clean();
      const def = join(out, `default.${basename(m.path)}`);
      const conv = join(out, `conv-first.${basename(m.path)}`);
      const pool = join(out, `pool-first.${basename(m.path)}`);
      run(process.execPath, [CLI, m.path, '-o', def, '--no-verify'], scratch);
      const convRun = run(process.execPath, [CLI, m.path, '-o', conv, '--no-verify', '--order', 'conv-first', '--json'], scratch);
      const convReport = JSON.parse(convRun.stdout) as { written: boolean; rewritten: { order?: string }[]; refused: { code: string }[] };
      // A tail that can't be written conv-first (a quantized head) is refused: no model to time.
      const convRefused = convReport.written ? undefined : `refused (${[...new Set(convReport.refused.map((r) => r.code))].join(', ')})`;
      // --order only matters for global tails; a spatial tail's rewrite is one model.
      const same = convReport.written && convReport.rewritten.every((c) => c.order === undefined);
      if (!same) run(process.execPath, [CLI, m.path, '-o', pool, '--no-verify', '--order', 'pool-first'], scratch);
      const bare = repeat(verifyReps, () => {}, () => run(process.execPath, [SELF, '--bare-ort', m.path, def], scratch));
      verifyRows.push([m.name, full.status === 0 ? sec(full.seconds) : `exit ${full.status}`, mb(full.rss), sec(bare.seconds), mb(bare.rss), ratio(full.seconds, bare.seconds), full.rss !== undefined && bare.rss !== undefined ? ratio(full.rss, bare.rss) : '–']);

      log(`${m.name}: inference latency`);
      const timed = [m.path, def, ...(convRefused ? [] : [conv]), ...(same ? [] : [pool])];
      const lat = spawnSync(process.execPath, [SELF, '--latency', String(m.iters), ...timed], { encoding: 'utf8' });
      if (lat.status === 0) {
        const times = JSON.parse(lat.stdout.trim().split('\n').pop()!) as { seconds: number; level: string }[];
        const [orig, d] = times as [{ seconds: number; level: string }, { seconds: number; level: string }];
        const c = convRefused ? undefined : times[2];
        const p = same ? undefined : times[convRefused ? 2 : 3];
        const cell = (x: { seconds: number; level: string }): string => `${ms(x.seconds)} (${ratio(x.seconds, orig.seconds)})${x.level === 'all' ? '' : ` [level '${x.level}']`}`;
        latencyRows.push([m.name, `${ms(orig.seconds)}${orig.level === 'all' ? '' : ` [level '${orig.level}']`}`, cell(d), c ? cell(c) : convRefused!, p ? cell(p) : 'same model (spatial tail)']);
      } else {
        latencyRows.push([m.name, `failed: ${lat.stderr.trim().split('\n')[0] ?? ''}`, '', '', '']);
      }
      clean();
    }

    console.log(`### gapify --no-verify vs cp (median of ${reps} runs for the generated models, 3 for fixtures; \`sync\` before each)\n`);
    console.log(table(['model', 'size', 'cp', 'cp peak RSS', 'gapify --no-verify', 'gapify peak RSS', 'time vs cp', 'RSS vs size'], copyRows));
    console.log('\n### default run (rewrite + verify) vs bare onnxruntime load + run of both models\n');
    console.log(table(['model', 'gapify', 'gapify peak RSS', 'bare onnxruntime', 'bare peak RSS', 'time', 'RSS'], verifyRows));
    console.log('\n### inference latency at the trained size (onnxruntime defaults, median of interleaved runs)\n');
    console.log(table(['model', 'original', 'gapify (default)', '--order conv-first', '--order pool-first'], latencyRows));
    if (!args.includes('--no-lint')) {
      console.log('');
      console.log(lintVsCat(scratch, Math.max(reps, 5), log));
    }
    if (!args.includes('--no-big-graphs') && 'big graphs'.includes(only)) bigGraphs(scratch, log);
    console.log(`\n(benchmark took ${sec((performance.now() - started) / 1000)}; RSS vs size only for models of 10 MB or more: below that, Node's own ~60 MB dominates)`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function main(argv: string[]): Promise<void> {
  const mode = argv[0];
  if (mode === '--rss-of') await rssOf(argv[1]!, argv[2]!, argv.slice(3));
  else if (mode === '--bare-ort') await bareOrt(argv.slice(1));
  else if (mode === '--latency') await latency(Number(argv[1]), argv.slice(2));
  else if (mode === '--heap-per-node') await heapPerNode(argv[1]!, Number(argv[2]));
  else await bench(argv);
}

await main(process.argv.slice(2));
