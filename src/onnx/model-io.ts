// The one place that reads and writes ONNX files.
//
// Reading checks what the rest of gapify relies on (a ModelProto with a graph, an IR version and
// opset it understands) and turns every failure into a ModelError naming the file. Writing goes to
// a temporary file in the target folder that is renamed into place only when complete, so the
// output path never holds a partial model, whatever happens to the process.
//
// Cost: readModel reads a file into one buffer and decoded tensors are views into it;
// readModelLazy (what the rewrite and lint use) reads only the structure and loads weights on
// demand (lazy-file.ts). The writer hands views to writev and copies unread weights file to file,
// so an unchanged tensor is never re-encoded. A model with external data is written with a data
// file of its own (see external-data.ts for the layout); model and data file are staged together
// in a temporary folder and renamed into place data file first, so the output model never points
// at a partial data file.

import { closeSync, ftruncateSync, mkdirSync, openSync, renameSync, rmSync, unlinkSync, writevSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { getHeapStatistics } from 'node:v8';
import { basename, dirname, join, resolve } from 'node:path';
import { decode, DecodeBudgetError, encodeChunks, WireError } from './codec.js';
import type { GraphProto, ModelProto, TensorProto } from './schema.js';
import { ModelError } from '../errors.js';
import { NotARegularFile, openRegularFile, readFully, type OpenedFile } from '../input-file.js';
import { resolveOutputPath, type InputFile } from '../output-path.js';
import { externalRef, isExternal, mapModelTensors, planExternalData, resolveExternalData, writeExternalData } from './external-data.js';
import { Pacer } from './file-copy.js';
import { LazyFile, ReusableBuffer, STRUCTURE_ONLY, UnloadedBytesError } from './lazy-file.js';
import type { TensorBytes } from './tensor.js';
import { validateModel } from './validate.js';

/** Newest IR version this schema describes; older ones are all readable. */
export const MAX_IR_VERSION = 13;
/** Opsets of the default domain gapify understands (the rules and every node they emit). */
export const MIN_OPSET = 7;
export const MAX_OPSET = 23;

/** A protobuf message can't exceed 2 GiB; bigger models keep their weights in external data. */
const MAX_MODEL_FILE = 2 ** 31 - 1;

export interface ModelFile {
  /** Absolute path of the .onnx file. */
  readonly path: string;
  /** The file's bytes: decoded tensors are views into it (for a lazily read file, unread ranges are zeros). */
  readonly bytes: Uint8Array;
  readonly model: ModelProto;
  /** Default-domain opset version. */
  readonly opset: number;
  /**
   * A tensor's raw bytes: its raw_data (loaded first when the file was read lazily) or its
   * external data (only what is asked for, never a whole data file). Use this, not raw_data.
   */
  readonly tensorBytes: TensorBytes;
  /** Set when the model was read lazily: the file behind `bytes`, for loading and copying what was skipped. */
  readonly lazy?: LazyFile;
}

/** Buffers readModel allocated (and may therefore free, see releaseModel). */
const ownBuffers = new WeakSet<ArrayBufferLike>();

// Node reads file names (argv, folder listings) as UTF-8 and puts U+FFFD for bytes that are not,
// so a name that isn't valid UTF-8 comes back as a path that names no file. Say that, not "no such
// file" for a file the user can see in the folder.
function missingFileReason(path: string): string {
  return path.includes('\uFFFD')
    ? 'no such file by this name: its name is probably not valid UTF-8, which Node.js cannot open; rename the file'
    : 'no such file';
}

function openModelFile(path: string): { fd: number; size: number } {
  let opened: OpenedFile;
  try {
    opened = openRegularFile(path);
  } catch (e) {
    if (e instanceof NotARegularFile) throw new ModelError(path, e.isDirectory ? 'is a directory, not an .onnx file' : `is not a regular file (${e.kind})`);
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModelError(path, code === 'ENOENT' ? missingFileReason(path) : code === 'EACCES' ? 'permission denied' : `cannot open (${code ?? String(e)})`);
  }
  const { fd, size } = opened;
  if (size === 0 || size > MAX_MODEL_FILE) {
    closeSync(fd);
    throw new ModelError(path, size === 0 ? 'empty file' : `${size} bytes: a protobuf model file can't exceed 2 GiB (store the weights as external data)`);
  }
  return { fd, size };
}

/** A buffer of its own (never a slice of Node's shared pool), so releaseModel may free it. */
function newFileBuffer(size: number): Buffer {
  const buf = Buffer.allocUnsafeSlow(size);
  ownBuffers.add(buf.buffer);
  return buf;
}

function readWholeFile(path: string): Uint8Array {
  const { fd, size } = openModelFile(path);
  try {
    const buf = newFileBuffer(size);
    if (readFully(fd, buf, 0, size, 0) !== size) throw new ModelError(path, 'file shrank while being read');
    return buf;
  } finally {
    closeSync(fd);
  }
}

// Memory. A graph of millions of nodes is legal, and V8 kills the process outright when its heap
// is exhausted, so what a model will take is estimated before it is taken: the decoder charges
// each message as it builds it (codec.ts), and the analysis every command runs next — graph
// indexes, topological order, shape inference, tail walks — is charged per node here, once the
// nodes are counted. Both together must fit in HEAP_SHARE of V8's heap limit; past it the model is
// refused with a ModelError (lint: a finding for that file, then the next file) instead of
// crashing. The rest of the heap is headroom for the garbage collector, which slows to a crawl
// near the limit. `npm run bench` prints what the estimates and the process really take.

/** The share of V8's heap limit one model may take, decoded and analysed. */
const HEAP_SHARE = 0.7;
/**
 * Heap the analysis takes per node (bytes), measured on long chains (GraphView ~120, shapes ~140,
 * topological order ~60 while it runs, the tail walk and pins a little) with a margin.
 */
export const ANALYSIS_BYTES_PER_NODE = 450;

function heapBudget(): number {
  return Math.floor(getHeapStatistics().heap_size_limit * HEAP_SHARE);
}

/** Nodes of the model: its graph, subgraphs, training graphs and functions. */
function countNodes(model: ModelProto): number {
  let n = 0;
  const graph = (g: GraphProto): void => {
    n += g.node.length;
    for (const node of g.node) {
      for (const a of node.attribute) {
        if (a.g) graph(a.g);
        a.graphs.forEach(graph);
      }
    }
  };
  if (model.graph) graph(model.graph);
  for (const ti of model.training_info) {
    if (ti.initialization) graph(ti.initialization);
    if (ti.algorithm) graph(ti.algorithm);
  }
  for (const f of model.functions) n += f.node.length;
  return n;
}

function checkAnalysisBudget(path: string, model: ModelProto, decodedBytes: number, budget: number): void {
  const nodes = countNodes(model);
  const analysis = nodes * ANALYSIS_BYTES_PER_NODE;
  if (decodedBytes + analysis <= budget) return;
  const mb = (b: number): string => `${Math.ceil(b / 2 ** 20)} MB`;
  throw new ModelError(path, `too big to analyse: ${nodes} nodes need about ${mb(analysis)} on top of the ${mb(decodedBytes)} the model takes, over the ${mb(budget)} gapify allows itself (${HEAP_SHARE * 100}% of the heap limit; raise it with node --max-old-space-size)`);
}

/**
 * Decodes and checks a model already in memory. `path` names it in errors and anchors external
 * data. `readOnly`: the model will not be written (lint), so its messages need not remember their
 * bytes (see DecodeOptions.keepSource); encoding it still works, message by message.
 */
export function parseModel(path: string, bytes: Uint8Array, lazy?: LazyFile, readOnly = false): ModelFile {
  let model: ModelProto;
  const budget = heapBudget();
  const decoded = { heapBytes: 0 };
  try {
    model = decode<ModelProto>('onnx.ModelProto', bytes, { keepSource: !readOnly, maxHeapBytes: budget, stats: decoded });
  } catch (e) {
    if (e instanceof DecodeBudgetError) throw new ModelError(path, `${e.reason} (${HEAP_SHARE * 100}% of the heap limit; raise it with node --max-old-space-size)`);
    if (e instanceof WireError) throw new ModelError(path, `not an ONNX model (${e.message})`);
    throw e;
  }
  if (!model.graph) throw new ModelError(path, 'not an ONNX model (ModelProto without a graph)');
  const ir = typeof model.ir_version === 'bigint' ? Infinity : model.ir_version;
  if (ir === undefined || ir < 3) throw new ModelError(path, `unsupported IR version ${model.ir_version ?? '(none)'}: gapify reads IR 3 to ${MAX_IR_VERSION}`);
  if (ir > MAX_IR_VERSION) throw new ModelError(path, `unsupported IR version ${model.ir_version}: gapify reads IR 3 to ${MAX_IR_VERSION}`);
  const def = model.opset_import.filter((o) => !o.domain || o.domain === 'ai.onnx');
  if (def.length !== 1) {
    throw new ModelError(path, def.length === 0 ? 'no opset import for the default ONNX domain' : 'the default ONNX domain is imported twice');
  }
  const v = def[0]!.version;
  const opset = typeof v === 'bigint' ? Infinity : (v ?? 0);
  if (opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new ModelError(path, `unsupported opset ${v ?? '(none)'}: gapify handles opsets ${MIN_OPSET} to ${MAX_OPSET}`);
  }
  validateModel(path, model);
  checkAnalysisBudget(path, model, decoded.heapBytes, budget);
  const abs = resolve(path);
  const external = resolveExternalData(abs);
  const tensorBytes: TensorBytes = (t) => {
    if (t.data_location === 1) return external(t);
    const raw = t.raw_data ?? new Uint8Array(0);
    if (!lazy) return raw;
    try {
      return lazy.ensureView(raw);
    } catch (e) {
      if (e instanceof UnloadedBytesError) throw new ModelError(abs, e.message);
      throw e;
    }
  };
  return { path: abs, bytes, model, opset, tensorBytes, ...(lazy ? { lazy } : {}) };
}

export function readModel(path: string): ModelFile {
  return parseModel(path, readWholeFile(resolve(path)));
}

export interface LazyReadOptions {
  /**
   * Keep the file open so skipped weights can be loaded or copied later (the rewrite, lint while it
   * analyses); false: structure only, the file is closed at once and unread weights can't be read.
   */
  keepOpen: boolean;
  /** raw_data payloads at least this long are left unread (default LAZY_MIN, 1 MiB; lint: STRUCTURE_ONLY). */
  lazyMin?: number;
  /** Read into this buffer, invalidating the model read into it before (lint's loop). */
  reuse?: ReusableBuffer;
  /**
   * The model will not be written (lint): its messages need not remember their bytes (see
   * parseModel). Default: true when the file is not kept open.
   */
  readOnly?: boolean;
}

/**
 * Reads a model's structure without the payloads of its big initializers (see lazy-file.ts): what
 * the rules need costs the I/O and memory of a few MB whatever the model's size, and a rewrite
 * copies the untouched weights file to file when it writes. With `keepOpen`, call releaseModel
 * when done.
 */
export function readModelLazy(path: string, options: LazyReadOptions): ModelFile {
  const abs = resolve(path);
  const { fd, size } = openModelFile(abs);
  const lazy = new LazyFile(fd, size, options.lazyMin, options.reuse);
  try {
    if (!lazy.readStructure()) lazy.ensureAll();
  } catch (e) {
    lazy.close();
    if (e instanceof UnloadedBytesError) throw new ModelError(abs, e.message);
    throw e;
  }
  if (!options.keepOpen) lazy.close();
  if (!options.reuse) ownBuffers.add(lazy.buf.buffer); // a shared buffer is not this model's to free
  try {
    return parseModel(abs, lazy.buf, lazy, options.readOnly ?? !options.keepOpen);
  } catch (e) {
    lazy.close();
    throw e;
  }
}

/** The one buffer readModelStructure reads into (see ReusableBuffer). */
const structureBuffer = new ReusableBuffer();

/**
 * Reads a model for analysis only (lint): every initializer payload of a page or more is left
 * unread, and loaded if something reads it (tensor.ts's readers do), so the file stays open until
 * releaseModel. One buffer serves every call: the model read before is invalid once this is called
 * again, so keep nothing of it but plain data.
 */
export function readModelStructure(path: string): ModelFile {
  return readModelLazy(path, { keepOpen: true, lazyMin: STRUCTURE_ONLY, reuse: structureBuffer, readOnly: true });
}

/**
 * The files reading `file` involves, as output-path.ts names them: the model, then each external
 * data file once (real paths; they were resolved and checked when the model was read).
 */
export function inputFilesOf(file: ModelFile, modelRole = 'the input model'): InputFile[] {
  const files: InputFile[] = [{ path: file.path, role: `${modelRole} (${file.path})` }];
  const seen = new Set<string>();
  mapModelTensors(file.model, (t) => {
    if (!isExternal(t)) return t;
    const { file: data } = externalRef(file.path, t);
    if (!seen.has(data)) {
      seen.add(data);
      files.push({ path: data, role: `external data of ${basename(file.path)} (${data})` });
    }
    return t;
  });
  return files;
}

/**
 * Frees the bytes of a model read by readModel / readModelLazy now, instead of when the last
 * reference to any of its decoded messages goes: the buffer is detached (transferred away and
 * dropped), so `file.model` and every message decoded from it must not be used afterwards — their
 * byte fields read as empty. gapify calls it once the output is staged, so that while onnxruntime
 * verifies, the process holds one model (onnxruntime's), not two. Models parsed from the caller's
 * bytes are left alone (and a shared buffer, readModelStructure's: only its file is closed).
 */
export function releaseModel(file: ModelFile): void {
  file.lazy?.close();
  const buffer = file.bytes.buffer;
  if (!ownBuffers.has(buffer) || buffer.byteLength === 0) return;
  ownBuffers.delete(buffer);
  structuredClone(buffer, { transfer: [buffer as ArrayBuffer] });
}

// --- writing -------------------------------------------------------------------------------------

const liveTemps = new Set<string>();
const liveTempDirs = new Set<string>();
let cleanupInstalled = false;

/** On Ctrl-C / SIGTERM, delete our temp files before dying (SIGKILL can't be caught: its temp
 * file stays, but the output path is still either the old file or the new one). */
function installTempCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  const onSignal = (signal: NodeJS.Signals): void => {
    for (const t of liveTemps) {
      try { unlinkSync(t); } catch { /* already gone */ }
    }
    for (const d of liveTempDirs) rmSync(d, { recursive: true, force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}

/** A model written completely to a temporary file beside its destination, not yet visible there. */
export interface StagedFile {
  /** The staged model: load it from here to verify it (its external data, if any, resolves). */
  readonly tempPath: string;
  readonly finalPath: string;
  /** Where the model's data file goes on commit; absent for a model without external data. */
  readonly dataPath?: string;
  /** Atomically moves the temp file to its destination (the data file first, when there is one). */
  commit(): void;
  /** Deletes the temp file (idempotent). */
  discard(): void;
}

const tempName = (abs: string): string => `.${basename(abs)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;

/**
 * Writes every chunk to `fd` (writev, at most IOV_MAX = 1024 buffers a call; short writes
 * finished), yielding to the event loop every 16 MB so that a signal is handled during a long
 * write. Chunks that are views of a lazily read file's unread bytes are copied from that file
 * instead (see LazyFile.copyTo).
 */
async function writeChunks(fd: number, chunks: readonly Uint8Array[], lazy?: LazyFile): Promise<void> {
  const pacer = new Pacer();
  let batch: Uint8Array[] = [];
  let batchBytes = 0;
  const flush = async (): Promise<void> => {
    writeBatch(fd, batch);
    batch = [];
    await pacer.wrote(batchBytes);
    batchBytes = 0;
  };
  for (const c of chunks) {
    const at = lazy?.offsetOf(c);
    if (lazy && at !== undefined && !lazy.isLoaded(at, at + c.length)) {
      await flush();
      await lazy.copyTo(fd, at, at + c.length, pacer);
      continue;
    }
    batch.push(c);
    batchBytes += c.length;
    if (batch.length === 1024 || batchBytes >= 1 << 24) await flush();
  }
  await flush();
}

function writeBatch(fd: number, batch: readonly Uint8Array[]): void {
  if (batch.length === 0) return;
  let want = 0;
  for (const c of batch) want += c.length;
  const done = writevSync(fd, batch as Uint8Array[]);
  if (done >= want) return;
  let skip = done;
  for (const c of batch) {
    if (skip >= c.length) { skip -= c.length; continue; }
    let rest = c.subarray(skip);
    skip = 0;
    while (rest.length > 0) rest = rest.subarray(writevSync(fd, [rest]));
  }
}

/**
 * Creates `path` and lets `fill` write it; on failure the file is removed. No fsync: the rename
 * that publishes it makes the output all-or-nothing for any failure of gapify's process (error,
 * Ctrl-C, SIGKILL), as for `cp` or onnx.save; surviving a power cut is the filesystem's job
 * (ext4 and btrfs flush the data of a file that replaces another by rename), and an fsync of a 500 MB model would
 * cost more than the rest of the rewrite.
 */
async function writeNewFile(path: string, fill: (fd: number) => Promise<void>): Promise<void> {
  const fd = openSync(path, 'wx', 0o644);
  try {
    await fill(fd);
  } catch (e) {
    closeSync(fd);
    try { unlinkSync(path); } catch { /* gone */ }
    throw e;
  }
  closeSync(fd);
}

/** Renames a staged file into place; failures (the target is a folder, another filesystem) are a ModelError. */
function publish(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (e) {
    throw cannotWrite(to, e);
  }
}

function cannotWrite(abs: string, e: unknown): Error {
  if (e instanceof ModelError) return e;
  return new ModelError(abs, `cannot write (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
}

/**
 * Writes `chunks` to a temp file in `finalPath`'s folder, ready to be renamed into place. `lazy`:
 * the lazily read file the chunks may point into (its unread ranges are copied from disk).
 * `finalPath` is checked as an output (see output-path.ts; a symlink is followed) and must be
 * none of `inputs`.
 */
export async function stageChunks(finalPath: string, chunks: readonly Uint8Array[], lazy?: LazyFile, inputs: readonly InputFile[] = []): Promise<StagedFile> {
  return stageAt(resolveOutputPath(finalPath, { inputs }), chunks, lazy);
}

/** stageChunks for `abs`, an output path already checked and resolved (resolveOutputPath). */
async function stageAt(abs: string, chunks: readonly Uint8Array[], lazy?: LazyFile): Promise<StagedFile> {
  installTempCleanup();
  const tempPath = join(dirname(abs), tempName(abs));
  liveTemps.add(tempPath);
  try {
    await writeNewFile(tempPath, (fd) => writeChunks(fd, chunks, lazy));
  } catch (e) {
    liveTemps.delete(tempPath);
    throw cannotWrite(abs, e);
  }
  let done = false;
  return {
    tempPath,
    finalPath: abs,
    commit() {
      if (done) return;
      publish(tempPath, abs);
      done = true;
      liveTemps.delete(tempPath);
    },
    discard() {
      if (done) return;
      try { unlinkSync(tempPath); } catch { /* already gone */ }
      done = true;
      liveTemps.delete(tempPath);
    },
  };
}

/**
 * What gapify writes passes the checks it reads with (validate.ts), so `--no-verify` never writes
 * a model `gapify lint` calls broken. The input passed them, so a failure here is gapify's bug:
 * not a ModelError (bad input), an internal error with its stack.
 */
function checkOwnOutput(source: ModelFile, model: ModelProto): void {
  try {
    validateModel(source.path, model);
  } catch (e) {
    if (e instanceof ModelError) throw new Error(`the rewritten model fails gapify's own checks: ${e.reason}`, { cause: e });
    throw e;
  }
}

function checkModelSize(abs: string, chunks: readonly Uint8Array[]): void {
  let total = 0;
  for (const c of chunks) total += c.length;
  if (total > MAX_MODEL_FILE) throw new ModelError(abs, `the rewritten model would be ${total} bytes, over protobuf's 2 GiB limit`);
}

/**
 * Stages `model` — the rewrite of `source` — for `finalPath`. Without external data: one temp file,
 * as stageChunks. With external data: a temp folder beside the destination holding the model and
 * its data file `<model file name>.data` (see planExternalData for the layout); commit renames the
 * data file into place first, then the model. A crash may leave the temp folder behind, never an
 * output model whose data file is partial. (Replacing an earlier output, a crash between the two
 * renames leaves the old model with the new data file: run again.)
 */
export async function stageModel(finalPath: string, model: ModelProto, source: ModelFile, log?: (line: string) => void): Promise<StagedFile> {
  checkOwnOutput(source, model);
  // The output may be the input model itself (--in-place, checked by the caller), never one of its data files.
  const [input, ...data] = inputFilesOf(source);
  const abs = resolveOutputPath(finalPath, { inputs: data });
  const dir = dirname(abs);
  const dataName = `${basename(abs)}.data`;
  const plan = planExternalData(source.path, model, dataName);
  if (!plan) {
    const chunks = encodeModel(model);
    checkModelSize(abs, chunks);
    return stageAt(abs, chunks, source.lazy);
  }
  // Nor may the data file: it sits beside the output under a name of gapify's choosing.
  const dataPath = resolveOutputPath(join(dir, dataName), { inputs: [input!, ...data], name: `the output's data file ${join(dir, dataName)}` });
  const chunks = encodeModel(plan.model);
  checkModelSize(abs, chunks);

  installTempCleanup();
  const tempDir = join(dir, tempName(abs));
  const tempModel = join(tempDir, basename(abs));
  const tempData = join(tempDir, dataName);
  try {
    mkdirSync(tempDir, { mode: 0o755 });
  } catch (e) {
    throw cannotWrite(abs, e);
  }
  liveTempDirs.add(tempDir);
  const remove = (): void => {
    rmSync(tempDir, { recursive: true, force: true });
    liveTempDirs.delete(tempDir);
  };
  // Tensors the rewrite built on an old tensor's bytes go to the data file from memory: load them.
  for (const piece of plan.pieces) if ('bytes' in piece) source.lazy?.ensureView(piece.bytes);
  try {
    if (plan.size >= 64 * 1024 * 1024) log?.(`writing ${(plan.size / 2 ** 20).toFixed(0)} MB of external data to ${dataPath}`);
    await writeNewFile(tempData, async (fd) => {
      await writeExternalData(fd, plan, source.path);
      ftruncateSync(fd, plan.size);
    });
    await writeNewFile(tempModel, (fd) => writeChunks(fd, chunks, source.lazy));
  } catch (e) {
    remove();
    throw cannotWrite(abs, e);
  }
  let done = false;
  return {
    tempPath: tempModel,
    finalPath: abs,
    dataPath,
    commit() {
      if (done) return;
      publish(tempData, dataPath);
      publish(tempModel, abs);
      done = true;
      remove();
    },
    discard() {
      if (done) return;
      done = true;
      remove();
    },
  };
}

export function encodeModel(model: ModelProto): Uint8Array[] {
  return encodeChunks('onnx.ModelProto', model);
}

// --- models for onnxruntime ------------------------------------------------------------------------

/**
 * A model onnxruntime can load: a file (it reads it itself, and external data resolves next to
 * it), or complete bytes in memory. `label` names it in messages (default: the path); `model` may
 * carry the decoded form when the caller has it (saves decoding it again to learn the inputs).
 */
export type ModelSource = ({ readonly path: string; readonly label?: string } | { readonly bytes: Uint8Array; readonly label: string }) & {
  readonly model?: ModelProto;
};

/**
 * Runs `fn` with a source for `model` — `file`'s model or a rewrite of it — whose every weight is
 * there: it is encoded by the writer that stages outputs, so weights a lazy read skipped are read
 * from the file, not taken as the zeros of the unread buffer. A model with external data is
 * written to a hidden temp file beside `file` (its data resolves relative to it), removed after.
 */
export async function withModelSource<T>(file: ModelFile, model: ModelProto, fn: (source: ModelSource) => Promise<T>): Promise<T> {
  const chunks = encodeModel(model);
  checkModelSize(file.path, chunks);
  if (!model.graph?.initializer.some(isExternal)) {
    let bytes: Uint8Array;
    try {
      bytes = gatherChunks(chunks, file.lazy);
    } catch (e) {
      if (e instanceof UnloadedBytesError) throw new ModelError(file.path, e.message);
      throw e;
    }
    return fn({ bytes, label: file.path, model });
  }
  installTempCleanup();
  const temp = join(dirname(file.path), `.${basename(file.path)}.run.${process.pid}.${randomBytes(4).toString('hex')}.onnx`);
  liveTemps.add(temp);
  try {
    await writeNewFile(temp, (fd) => writeChunks(fd, chunks, file.lazy));
  } catch (e) {
    liveTemps.delete(temp);
    throw new ModelError(file.path, `cannot write a temporary copy beside it for onnxruntime (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  try {
    return await fn({ path: temp, label: file.path, model });
  } finally {
    try { unlinkSync(temp); } catch { /* already gone */ }
    liveTemps.delete(temp);
  }
}

/** The chunks as one buffer; views of a lazily read file's unread bytes are read from the file. */
function gatherChunks(chunks: readonly Uint8Array[], lazy?: LazyFile): Uint8Array {
  let total = 0;
  for (const c of chunks) total += c.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    const from = lazy?.offsetOf(c);
    if (lazy && from !== undefined) lazy.copyInto(out, at, from, from + c.length);
    else out.set(c, at);
    at += c.length;
  }
  return out;
}
