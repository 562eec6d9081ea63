// The one place that reads and writes ONNX files.
//
// Reading checks what the rest of gapify relies on (a ModelProto with a graph, an IR version and
// opset it understands) and turns every failure into a ModelError naming the file. Writing goes to
// a temporary file in the target folder that is renamed into place only when complete, so the
// output path never holds a partial model, whatever happens to the process.

import { closeSync, existsSync, fstatSync, fsyncSync, openSync, readSync, renameSync, statSync, unlinkSync, writevSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { decode, encodeChunks, WireError } from './codec.js';
import type { ModelProto, TensorProto } from './schema.js';
import { ModelError } from '../errors.js';
import { resolveExternalData, type ExternalDataReader } from './external-data.js';

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
  /** The file's bytes: decoded tensors are views into it. */
  readonly bytes: Uint8Array;
  readonly model: ModelProto;
  /** Default-domain opset version. */
  readonly opset: number;
  /** Reads a tensor's external data (only what is asked for, never a whole data file). */
  readonly external: ExternalDataReader;
}

function readWholeFile(path: string): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModelError(path, code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : `cannot open (${code ?? String(e)})`);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new ModelError(path, 'is a directory, not an .onnx file');
    if (!st.isFile()) throw new ModelError(path, 'is not a regular file');
    if (st.size === 0) throw new ModelError(path, 'empty file');
    if (st.size > MAX_MODEL_FILE) throw new ModelError(path, `${st.size} bytes: a protobuf model file can't exceed 2 GiB (store the weights as external data)`);
    const buf = Buffer.allocUnsafe(st.size);
    let off = 0;
    while (off < st.size) {
      const n = readSync(fd, buf, off, st.size - off, off);
      if (n === 0) break;
      off += n;
    }
    if (off !== st.size) throw new ModelError(path, 'file shrank while being read');
    return buf;
  } finally {
    closeSync(fd);
  }
}

/** Decodes and checks a model already in memory. `path` names it in errors and anchors external data. */
export function parseModel(path: string, bytes: Uint8Array): ModelFile {
  let model: ModelProto;
  try {
    model = decode<ModelProto>('onnx.ModelProto', bytes);
  } catch (e) {
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
  const abs = resolve(path);
  return { path: abs, bytes, model, opset, external: resolveExternalData(abs) };
}

export function readModel(path: string): ModelFile {
  return parseModel(path, readWholeFile(resolve(path)));
}

export type TensorBytes = (t: TensorProto) => Uint8Array;

// --- writing -------------------------------------------------------------------------------------

const liveTemps = new Set<string>();
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
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}

/** A model written completely to a temporary file beside its destination, not yet visible there. */
export interface StagedFile {
  readonly tempPath: string;
  readonly finalPath: string;
  /** Atomically moves the temp file to its destination. */
  commit(): void;
  /** Deletes the temp file (idempotent). */
  discard(): void;
}

/** Writes `chunks` to a temp file in `finalPath`'s folder, fsynced, ready to be renamed into place. */
export function stageChunks(finalPath: string, chunks: readonly Uint8Array[]): StagedFile {
  installTempCleanup();
  const abs = resolve(finalPath);
  const dir = dirname(abs);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ModelError(abs, 'output folder does not exist');
  const tempPath = join(dir, `.${basename(abs)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  liveTemps.add(tempPath);
  let fd: number | undefined;
  try {
    fd = openSync(tempPath, 'wx', 0o644);
    // writev takes at most IOV_MAX (1024) buffers per call.
    for (let i = 0; i < chunks.length; i += 1024) {
      const batch = chunks.slice(i, i + 1024);
      let want = 0;
      for (const c of batch) want += c.length;
      let done = writevSync(fd, batch as Uint8Array[]);
      // Short writes: finish the batch chunk by chunk.
      if (done < want) {
        let skip = done;
        for (const c of batch) {
          if (skip >= c.length) { skip -= c.length; continue; }
          let rest = c.subarray(skip);
          skip = 0;
          while (rest.length > 0) {
            const n = writevSync(fd, [rest]);
            rest = rest.subarray(n);
            done += n;
          }
        }
      }
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    try { unlinkSync(tempPath); } catch { /* never created */ }
    liveTemps.delete(tempPath);
    throw new ModelError(abs, `cannot write (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let done = false;
  return {
    tempPath,
    finalPath: abs,
    commit() {
      if (done) return;
      renameSync(tempPath, abs);
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

export function encodeModel(model: ModelProto): Uint8Array[] {
  return encodeChunks('onnx.ModelProto', model);
}
