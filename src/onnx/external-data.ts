// Tensors whose bytes live in side files (data_location = EXTERNAL). Only the tensors a rule needs
// are read, each by its own offset and length, so a model of any total size costs the memory of
// the tensors gapify touches. Locations are resolved against the model's folder and must stay in it.
//
// Writing a model that has external data (see planExternalData / writeExternalData): the output
// gets a data file of its own, `<output file name>.data` beside it (resnet.gap.onnx →
// resnet.gap.onnx.data), and every external tensor of the output points into it:
//   - each external tensor's byte range is copied from the input's data file by a read/write loop
//     in 16 MB blocks (never a whole file in memory; ranges shared by several tensors — a rewritten
//     weight that kept its old data — are copied once);
//   - new tensors the rewrite computed (a transposed or BatchNorm-folded weight) of 1 KB or more go
//     there too, like onnx's convert_model_to_external_data (size_threshold 1024); smaller ones and
//     every tensor that was inline in the input stay inline;
//   - offsets are aligned to 4096 bytes (as onnx does), so a runtime may map tensors in place;
//   - the input's data files are only ever read. The output model loads from wherever it is written,
//     because its one location is a bare file name in its own folder.
// Models without external data are written inline, as before.

import { closeSync, fstatSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { ModelError } from '../errors.js';
import { NotARegularFile, openRegularFile, readFully } from '../input-file.js';
import { SOURCE } from './codec.js';
import type { AttributeProto, GraphProto, ModelProto, NodeProto, SparseTensorProto, StringStringEntryProto, TensorProto } from './schema.js';
import { elementCount, elementSize } from './tensor.js';
import { copyBlock, copyRange, Pacer, writeAll } from './file-copy.js';

export interface ExternalRef {
  /** Location as written in the model (relative to the model's folder). */
  readonly location: string;
  /** Absolute path after resolution and the containment check. */
  readonly file: string;
  readonly offset: number;
  /** Undefined: to the end of the file. */
  readonly length: number | undefined;
}

export type ExternalDataReader = (t: TensorProto) => Uint8Array;

export function isExternal(t: TensorProto): boolean {
  return t.data_location === 1;
}

function entry(t: TensorProto, key: string): string | undefined {
  return t.external_data.find((e) => e.key === key)?.value;
}

function parseIntField(modelPath: string, t: TensorProto, key: string): number | undefined {
  const v = entry(t, key);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) {
    throw new ModelError(modelPath, `tensor '${t.name ?? ''}': external data ${key} '${v}' is not a byte count`);
  }
  return Number(v);
}

/**
 * A key given twice is ambiguous: gapify would read one entry and onnx (which keeps the last) the
 * other — a checked location first, then `../../etc/passwd`. Refused, whatever the key.
 */
function checkKeysUnique(modelPath: string, t: TensorProto): void {
  const seen = new Set<string | undefined>();
  for (const e of t.external_data) {
    if (!seen.has(e.key)) {
      seen.add(e.key);
      continue;
    }
    const count = t.external_data.filter((x) => x.key === e.key).length;
    throw new ModelError(modelPath, `tensor '${t.name ?? ''}': external data has ${count} '${e.key ?? ''}' entries (ambiguous: readers disagree on which one counts)`);
  }
}

/** Where a tensor's external bytes are; refuses locations that escape the model's folder. */
export function externalRef(modelPath: string, t: TensorProto): ExternalRef {
  checkKeysUnique(modelPath, t);
  const location = entry(t, 'location');
  if (!location) throw new ModelError(modelPath, `tensor '${t.name ?? ''}': external data without a location`);
  const baseDir = dirname(modelPath);
  if (isAbsolute(location) || /^[a-zA-Z]:[\\/]/.test(location) || location.startsWith('\\')) {
    throw new ModelError(modelPath, `tensor '${t.name ?? ''}': external data location '${location}' is an absolute path; it must be relative to the model's folder`);
  }
  const file = resolve(baseDir, location);
  const escapes = (p: string, base: string): boolean => {
    const rel = relative(base, p);
    return rel === '' || rel.startsWith('..' + sep) || rel === '..' || isAbsolute(rel);
  };
  if (escapes(file, baseDir)) {
    throw new ModelError(modelPath, `tensor '${t.name ?? ''}': external data location '${location}' points outside the model's folder`);
  }
  let real: string;
  try {
    real = realpathSync(file);
  } catch {
    throw new ModelError(modelPath, `tensor '${t.name ?? ''}': external data file '${location}' not found`);
  }
  if (escapes(real, realpathSync(baseDir))) {
    throw new ModelError(modelPath, `tensor '${t.name ?? ''}': external data location '${location}' is a link to a file outside the model's folder`);
  }
  return { location, file: real, offset: parseIntField(modelPath, t, 'offset') ?? 0, length: parseIntField(modelPath, t, 'length') };
}

/** A tensor's external bytes as a checked range of its data file. */
export interface ExternalRange {
  readonly location: string;
  readonly file: string;
  readonly offset: number;
  readonly length: number;
}

/** Bytes a fixed-size tensor's dims and dtype call for; undefined when that can't be known. */
function dataBytes(t: TensorProto): number | undefined {
  const size = elementSize(t.data_type ?? 0);
  if (size === undefined) return undefined;
  try {
    return elementCount(t.dims) * size;
  } catch {
    return undefined;
  }
}

/** Where a tensor's bytes are, checked to lie inside its data file (`fd` open on `ref.file`). */
function checkedRange(modelPath: string, t: TensorProto, ref: ExternalRef, fd: number): ExternalRange {
  const size = fstatSync(fd).size;
  // Without a `length` entry the tensor holds exactly what its dims and dtype need (as onnxruntime
  // and validate.ts read it), not the rest of a data file other tensors share.
  const length = ref.length ?? dataBytes(t) ?? size - ref.offset;
  if (ref.offset + length > size || length < 0) {
    throw new ModelError(modelPath, `tensor '${t.name ?? ''}': external data '${ref.location}' is too short (needs bytes ${ref.offset}..${ref.offset + length}, file has ${size})`);
  }
  return { location: ref.location, file: ref.file, offset: ref.offset, length };
}

/**
 * Opens a data file without blocking (see openRegularFile); a failure is a ModelError on
 * `modelPath` naming the file by its `location`, after `prefix` (which tensor, when one is asked for).
 */
function openDataFile(modelPath: string, file: string, location: string, prefix = ''): number {
  try {
    return openRegularFile(file).fd;
  } catch (e) {
    const why = e instanceof NotARegularFile ? `is not a regular file (${e.kind})` : `can't be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`;
    throw new ModelError(modelPath, `${prefix}external data '${location}' ${why}`);
  }
}

function openData(modelPath: string, t: TensorProto, ref: ExternalRef): number {
  return openDataFile(modelPath, ref.file, ref.location, `tensor '${t.name ?? ''}': `);
}

/** The tensor's byte range in its data file, after the containment and length checks. */
export function externalRange(modelPath: string, t: TensorProto): ExternalRange {
  const ref = externalRef(modelPath, t);
  const fd = openData(modelPath, t, ref);
  try {
    return checkedRange(modelPath, t, ref, fd);
  } finally {
    closeSync(fd);
  }
}

/** Reads one tensor's bytes from its data file. */
export function readExternal(modelPath: string, t: TensorProto): Uint8Array {
  const ref = externalRef(modelPath, t);
  const fd = openData(modelPath, t, ref);
  try {
    const { offset, length } = checkedRange(modelPath, t, ref, fd);
    const buf = Buffer.allocUnsafe(length);
    if (readFully(fd, buf, 0, length, offset) !== length) throw new ModelError(modelPath, `tensor '${t.name ?? ''}': external data '${ref.location}' ended early`);
    return buf;
  } finally {
    closeSync(fd);
  }
}

export function resolveExternalData(modelPath: string): ExternalDataReader {
  return (t) => readExternal(modelPath, t);
}

// --- every tensor of a model ---------------------------------------------------------------------

type TensorFn = (t: TensorProto) => TensorProto;

/** `arr` with `f` applied to each item: the same array when no item changed (copy-on-write). */
function mapList<T>(arr: readonly T[], f: (x: T) => T): T[] {
  let out: T[] | undefined;
  for (let i = 0; i < arr.length; i++) {
    const x = arr[i]!;
    const y = f(x);
    if (y !== x) (out ??= arr.slice())[i] = y;
  }
  return out ?? (arr as T[]);
}

/** `obj` with some fields replaced, or `obj` itself when none changed — so unchanged decoded
 * messages keep their source bytes and are written back verbatim. */
function withFields<T extends object>(obj: T, fields: Partial<T>): T {
  for (const k of Object.keys(fields) as (keyof T)[]) {
    if (fields[k] !== obj[k]) return { ...obj, ...fields };
  }
  return obj;
}

function mapSparse(s: SparseTensorProto, f: TensorFn): SparseTensorProto {
  return withFields(s, { ...(s.values ? { values: f(s.values) } : {}), ...(s.indices ? { indices: f(s.indices) } : {}) });
}

function mapAttribute(a: AttributeProto, f: TensorFn): AttributeProto {
  return withFields(a, {
    ...(a.t ? { t: f(a.t) } : {}),
    tensors: mapList(a.tensors, f),
    ...(a.sparse_tensor ? { sparse_tensor: mapSparse(a.sparse_tensor, f) } : {}),
    sparse_tensors: mapList(a.sparse_tensors, (s) => mapSparse(s, f)),
    ...(a.g ? { g: mapGraph(a.g, f) } : {}),
    graphs: mapList(a.graphs, (g) => mapGraph(g, f)),
  });
}

function mapNode(n: NodeProto, f: TensorFn): NodeProto {
  return withFields(n, { attribute: mapList(n.attribute, (a) => mapAttribute(a, f)) });
}

function mapGraph(g: GraphProto, f: TensorFn): GraphProto {
  return withFields(g, {
    initializer: mapList(g.initializer, f),
    sparse_initializer: mapList(g.sparse_initializer, (s) => mapSparse(s, f)),
    node: mapList(g.node, (n) => mapNode(n, f)),
  });
}

/**
 * Applies `f` to every tensor of the model — initializers, sparse initializers, tensor attributes
 * (Constant values), in the main graph, subgraphs, training graphs and model-local functions — and
 * rebuilds only the messages on the way to a tensor `f` replaced.
 */
export function mapModelTensors(model: ModelProto, f: TensorFn): ModelProto {
  return withFields(model, {
    ...(model.graph ? { graph: mapGraph(model.graph, f) } : {}),
    training_info: mapList(model.training_info, (ti) => withFields(ti, {
      ...(ti.initialization ? { initialization: mapGraph(ti.initialization, f) } : {}),
      ...(ti.algorithm ? { algorithm: mapGraph(ti.algorithm, f) } : {}),
    })),
    functions: mapList(model.functions, (fn) => withFields(fn, {
      node: mapList(fn.node, (n) => mapNode(n, f)),
      attribute_proto: mapList(fn.attribute_proto, (a) => mapAttribute(a, f)),
    })),
  });
}

export function hasExternalData(model: ModelProto): boolean {
  let found = false;
  mapModelTensors(model, (t) => {
    if (isExternal(t)) found = true;
    return t;
  });
  return found;
}

// --- writing a model's external data -------------------------------------------------------------

/** Tensors written by the rewrite of at least this many bytes go to the data file (onnx's default). */
export const EXTERNAL_THRESHOLD = 1024;
/** Offsets in the output data file are multiples of this (as onnx aligns them). */
export const EXTERNAL_ALIGNMENT = 4096;

/** One tensor's bytes in the output data file: copied from an input data file, or from memory. */
export type DataPiece = { readonly at: number; readonly length: number } & ({ readonly from: ExternalRange } | { readonly bytes: Uint8Array });

export interface ExternalPlan {
  /** The model with every external tensor pointing into `dataName`. */
  readonly model: ModelProto;
  /** File name of the data file (no folder: it sits beside the model). */
  readonly dataName: string;
  readonly pieces: readonly DataPiece[];
  /** Size of the data file in bytes. */
  readonly size: number;
}

function entries(t: TensorProto, location: string, offset: number, length: number): StringStringEntryProto[] {
  const keep = t.external_data.filter((e) => e.key !== 'location' && e.key !== 'offset' && e.key !== 'length');
  return [{ key: 'location', value: location }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(length) }, ...keep];
}

/**
 * Lays out the output data file `dataName` for `model` (read from `modelPath`), or returns
 * undefined when no tensor of the model is external (the output is then written inline).
 * Only checks and stats the input data files; nothing is read or written.
 */
export function planExternalData(modelPath: string, model: ModelProto, dataName: string): ExternalPlan | undefined {
  if (!hasExternalData(model)) return undefined;
  const pieces: DataPiece[] = [];
  const placed = new Map<string, number>();
  let size = 0;
  const place = (length: number): number => {
    const at = Math.ceil(size / EXTERNAL_ALIGNMENT) * EXTERNAL_ALIGNMENT;
    size = at + length;
    return at;
  };
  const out = mapModelTensors(model, (t) => {
    if (isExternal(t)) {
      const from = externalRange(modelPath, t);
      // Several tensors may share a range (a rewritten weight keeps its old data): copy it once.
      const key = `${from.offset}:${from.length}:${from.file}`;
      let at = placed.get(key);
      if (at === undefined) {
        at = place(from.length);
        placed.set(key, at);
        pieces.push({ at, length: from.length, from });
      }
      return { ...t, external_data: entries(t, dataName, at, from.length) };
    }
    // Tensors gapify built (no source bytes) that are big: into the data file too.
    if (!(SOURCE in t) && t.raw_data !== undefined && t.raw_data.length >= EXTERNAL_THRESHOLD) {
      const { raw_data: bytes, ...rest } = t;
      const at = place(bytes.length);
      pieces.push({ at, length: bytes.length, bytes });
      return { ...rest, data_location: 1, external_data: entries(t, dataName, at, bytes.length) } as TensorProto;
    }
    return t;
  });
  return { model: out, dataName, pieces, size };
}

/**
 * Writes the data file of `plan` to the open (empty) file `fd`: input ranges are copied block by
 * block through one 16 MB buffer, yielding to the event loop every 16 MB written. `modelPath`
 * names the input in errors.
 */
export async function writeExternalData(fd: number, plan: ExternalPlan, modelPath: string): Promise<void> {
  const sources = new Map<string, number>();
  const pacer = new Pacer();
  let block: Buffer | undefined;
  try {
    for (const piece of plan.pieces) {
      if ('bytes' in piece) {
        writeAll(fd, piece.bytes, piece.at);
        await pacer.wrote(piece.length);
        continue;
      }
      const { from } = piece;
      let src = sources.get(from.file);
      if (src === undefined) {
        // Checked when the model was read; it may have changed since.
        src = openDataFile(modelPath, from.file, from.location);
        sources.set(from.file, src);
      }
      block ??= copyBlock(plan.size);
      if (!(await copyRange(src, from.offset, from.length, fd, pacer, piece.at, block))) {
        throw new ModelError(modelPath, `external data '${from.location}' ended early (it shrank while being copied)`);
      }
    }
  } finally {
    for (const src of sources.values()) closeSync(src);
  }
}
