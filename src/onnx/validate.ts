// Checks on a decoded model that the decoder can't make and the rules must be able to rely on:
// every tensor the model carries (initializers, Constant values, any tensor attribute, sparse
// tensors, in the main graph, its subgraphs, training_info and model-local functions) has sane dims and exactly
// as much data as its dims and element type say; external data stays in the model's folder and
// its data file is long enough; initializer names are present and unique.
//
// Cheap by design: it reads array lengths and byte counts, never tensor values, and external data
// files are only stat'ed (once each), never read. Called from parseModel, so every path that
// loads a model (rewrite, lint, the library) gets it.

import { statSync } from 'node:fs';
import { ModelError } from '../errors.js';
import { externalRef } from './external-data.js';
import type { AttributeProto, GraphProto, I64, ModelProto, NodeProto, SparseTensorProto, TensorProto } from './schema.js';
import { DataType } from './schema.js';
import { dtypeName, elementCount, TensorError } from './tensor.js';

/** How a dtype's elements are stored: bytes in raw_data, and which typed field (and how many entries). */
interface Storage {
  /** Bytes for `n` elements in raw_data; undefined: raw_data is not allowed (STRING). */
  rawBytes: ((n: number) => number) | undefined;
  field: 'float_data' | 'double_data' | 'int32_data' | 'int64_data' | 'uint64_data' | 'string_data';
  /** Entries in `field` for `n` elements. */
  entries: (n: number) => number;
}

const per = (k: number) => (n: number): number => n * k;
const packed = (perUnit: number) => (n: number): number => Math.ceil(n / perUnit);

function storageOf(dt: number): Storage | undefined {
  switch (dt) {
    case DataType.FLOAT: return { rawBytes: per(4), field: 'float_data', entries: per(1) };
    case DataType.COMPLEX64: return { rawBytes: per(8), field: 'float_data', entries: per(2) };
    case DataType.DOUBLE: return { rawBytes: per(8), field: 'double_data', entries: per(1) };
    case DataType.COMPLEX128: return { rawBytes: per(16), field: 'double_data', entries: per(2) };
    case DataType.INT64: return { rawBytes: per(8), field: 'int64_data', entries: per(1) };
    case DataType.UINT32: return { rawBytes: per(4), field: 'uint64_data', entries: per(1) };
    case DataType.UINT64: return { rawBytes: per(8), field: 'uint64_data', entries: per(1) };
    case DataType.INT32: return { rawBytes: per(4), field: 'int32_data', entries: per(1) };
    case DataType.INT16: case DataType.UINT16: case DataType.FLOAT16: case DataType.BFLOAT16:
      return { rawBytes: per(2), field: 'int32_data', entries: per(1) };
    case DataType.INT8: case DataType.UINT8: case DataType.BOOL:
    case DataType.FLOAT8E4M3FN: case DataType.FLOAT8E4M3FNUZ: case DataType.FLOAT8E5M2: case DataType.FLOAT8E5M2FNUZ: case DataType.FLOAT8E8M0:
      return { rawBytes: per(1), field: 'int32_data', entries: per(1) };
    // Sub-byte types: packed, lowest bits first, in raw_data and (one byte's worth per entry) in int32_data.
    case DataType.UINT4: case DataType.INT4: case DataType.FLOAT4E2M1:
      return { rawBytes: packed(2), field: 'int32_data', entries: packed(2) };
    case DataType.UINT2: case DataType.INT2:
      return { rawBytes: packed(4), field: 'int32_data', entries: packed(4) };
    case DataType.STRING: return { rawBytes: undefined, field: 'string_data', entries: per(1) };
    default: return undefined;
  }
}

const TYPED_FIELDS = ['float_data', 'double_data', 'int32_data', 'int64_data', 'uint64_data', 'string_data'] as const;

const num = (v: I64 | undefined): number | undefined => (typeof v === 'number' ? v : undefined);

class Validator {
  /** Sizes of external data files, stat'ed once each. */
  private readonly fileSizes = new Map<string, number>();

  constructor(readonly path: string) {}

  fail(reason: string): never {
    throw new ModelError(this.path, reason);
  }

  /** Every tensor the model carries: the ones mapModelTensors (and so the writer) visits. */
  model(m: ModelProto): void {
    if (m.graph) this.graph(m.graph, 'graph');
    m.training_info.forEach((ti, i) => {
      if (ti.initialization) this.graph(ti.initialization, `training_info[${i}] initialization`);
      if (ti.algorithm) this.graph(ti.algorithm, `training_info[${i}] algorithm`);
    });
    for (const f of m.functions) {
      const where = `function '${f.name ?? ''}'`;
      for (const n of f.node) this.node(n, where);
      for (const a of f.attribute_proto) this.attribute(a, `${where} default`, where);
    }
  }

  graph(g: GraphProto, where: string): void {
    const names = new Set<string>();
    for (const t of g.initializer) {
      if (!t.name) this.fail(`${where}: an initializer has no name`);
      if (names.has(t.name)) this.fail(`${where}: initializer '${t.name}' is defined twice`);
      names.add(t.name);
      this.tensor(t, `initializer '${t.name}'`);
    }
    for (const s of g.sparse_initializer) this.sparse(s, `sparse initializer '${s.values?.name ?? ''}'`);
    for (const n of g.node) this.node(n, where);
  }

  node(n: NodeProto, where: string): void {
    const label = `${n.op_type ?? 'node'} '${n.name || n.output[0] || ''}'`;
    for (const a of n.attribute) this.attribute(a, label, where);
  }

  attribute(a: AttributeProto, label: string, where: string): void {
    const what = indexed(`${label} attribute '${a.name ?? ''}'`);
    if (a.t) this.tensor(a.t, what(''));
    a.tensors.forEach((t, i) => this.tensor(t, what(`[${i}]`)));
    if (a.sparse_tensor) this.sparse(a.sparse_tensor, what(''));
    a.sparse_tensors.forEach((s, i) => this.sparse(s, what(`[${i}]`)));
    // Subgraphs nest at most as deep as the decoder's depth limit allows.
    if (a.g) this.graph(a.g, `${where} → ${label} subgraph`);
    a.graphs.forEach((g, i) => this.graph(g, `${where} → ${label} subgraph ${i}`));
  }

  sparse(s: SparseTensorProto, what: string): void {
    this.dims(s.dims, what);
    if (s.values) this.tensor(s.values, `${what} values`);
    if (s.indices) this.tensor(s.indices, `${what} indices`);
  }

  dims(dims: readonly I64[], what: string): number {
    try {
      return elementCount(dims);
    } catch (e) {
      if (e instanceof TensorError) this.fail(`${what}: ${e.message}`);
      throw e;
    }
  }

  tensor(t: TensorProto, what: string): void {
    const count = this.dims(t.dims, what);
    const dt = t.data_type ?? DataType.UNDEFINED;
    if (dt === DataType.UNDEFINED) this.fail(`${what} has no element type`);
    const external = t.data_location === 1;
    if (t.data_location !== undefined && t.data_location !== 0 && !external) this.fail(`${what}: unknown data_location ${t.data_location}`);
    const typed = TYPED_FIELDS.filter((f) => t[f].length > 0);
    const places = (t.raw_data !== undefined ? 1 : 0) + (external ? 1 : 0) + typed.length;
    if (places > 1) {
      const list = [...(t.raw_data !== undefined ? ['raw_data'] : []), ...(external ? ['external data'] : []), ...typed];
      this.fail(`${what} stores its data in more than one place (${list.join(', ')})`);
    }
    // A tensor split into segments holds only its [begin, end) range.
    let elements = count;
    if (t.segment) {
      const begin = num(t.segment.begin) ?? 0;
      const end = num(t.segment.end) ?? count;
      if (!(begin >= 0 && begin <= end && end <= count)) this.fail(`${what}: segment [${t.segment.begin}, ${t.segment.end}) is outside its ${count} elements`);
      elements = end - begin;
    }
    const storage = storageOf(dt);
    // A dtype newer than this schema: its storage is unknown, so its length can't be checked.
    if (!storage) return;
    if (external) {
      this.externalTensor(t, what, storage.rawBytes?.(elements));
      return;
    }
    if (t.raw_data !== undefined) {
      if (!storage.rawBytes) this.fail(`${what} is ${dtypeName(dt)}, which can't be stored in raw_data`);
      const want = storage.rawBytes(elements);
      if (t.raw_data.length !== want) this.fail(`${what}: raw_data holds ${t.raw_data.length} bytes but dims [${t.dims.join(', ')}] of ${dtypeName(dt)} need ${want}`);
      return;
    }
    const got = typed[0];
    const want = storage.entries(elements);
    if (got !== undefined && got !== storage.field) this.fail(`${what} is ${dtypeName(dt)} but its values are in ${got}, not ${storage.field}`);
    const have = t[storage.field].length;
    if (have !== want) this.fail(`${what}: ${storage.field} holds ${have} values but dims [${t.dims.join(', ')}] of ${dtypeName(dt)} need ${want}`);
  }

  /** Location inside the model's folder, offset/length within the data file; no data is read. */
  externalTensor(t: TensorProto, what: string, want: number | undefined): void {
    const ref = externalRef(this.path, t);
    const size = this.fileSize(ref.file, ref.location, what);
    const end = ref.offset + (ref.length ?? want ?? 0);
    if (end > size) this.fail(`${what}: external data '${ref.location}' is too short (needs bytes ${ref.offset}..${end}, file has ${size})`);
    // Without a length the tensor takes `want` bytes from the offset: checked just above.
    if (want !== undefined && ref.length !== undefined && ref.length !== want) {
      this.fail(`${what}: external data length is ${ref.length} bytes but dims [${t.dims.join(', ')}] of ${dtypeName(t.data_type)} need ${want}`);
    }
  }

  fileSize(file: string, location: string, what: string): number {
    const known = this.fileSizes.get(file);
    if (known !== undefined) return known;
    let size: number;
    try {
      const st = statSync(file);
      if (!st.isFile()) this.fail(`${what}: external data '${location}' is not a regular file`);
      size = st.size;
    } catch (e) {
      if (e instanceof ModelError) throw e;
      this.fail(`${what}: external data '${location}' can't be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    this.fileSizes.set(file, size);
    return size;
  }
}

/** `base` followed by an index suffix ('' or '[i]'). */
function indexed(base: string): (suffix: string) => string {
  return (suffix) => base + suffix;
}

/**
 * Throws a ModelError naming `path` when a tensor's data doesn't match its dims, dims overflow,
 * external data is missing, too short or outside the model's folder, or initializers are unnamed
 * or defined twice.
 */
export function validateModel(path: string, model: ModelProto): void {
  new Validator(path).model(model);
}
