// Checks on a decoded model that the decoder can't make and the rules must be able to rely on:
// every tensor the model carries (initializers, Constant values, any tensor attribute, sparse
// tensors, in the main graph, its subgraphs, training_info and model-local functions) has sane dims and exactly
// as much data as its dims and element type say; external data stays in the model's folder and
// its data file is long enough; initializer names are present and unique; and what onnx.checker
// and onnxruntime refuse in names and declared types (see Validator.names). The same checks run on
// what gapify writes (stageModel), so it never writes a model `gapify lint` calls broken.
//
// Cheap by design: it reads array lengths and byte counts, never tensor values, and external data
// files are only stat'ed (once each), never read. Called from parseModel, so every path that
// loads a model (rewrite, lint, the library) gets it.

import { statSync } from 'node:fs';
import { ModelError } from '../errors.js';
import { externalRef } from './external-data.js';
import type { AttributeProto, GraphProto, I64, ModelProto, NodeProto, SparseTensorProto, TensorProto, ValueInfoProto } from './schema.js';
import { AttributeType, DataType } from './schema.js';
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

  /** Domains the model imports ('' for the default domain, however it is spelled). */
  private domains = new Set<string>();

  /** Every tensor the model carries (the ones mapModelTensors, and so the writer, visits), every graph's names. */
  model(m: ModelProto): void {
    this.metadata(m);
    this.domains = new Set(m.opset_import.map((o) => domainOf(o.domain)));
    if (m.graph) this.graph(m.graph, 'graph', true);
    m.training_info.forEach((ti, i) => {
      if (ti.initialization) this.graph(ti.initialization, `training_info[${i}] initialization`, false);
      if (ti.algorithm) this.graph(ti.algorithm, `training_info[${i}] algorithm`, false);
    });
    const modelDomains = this.domains;
    for (const f of m.functions) {
      const where = `function '${f.name ?? ''}'`;
      this.domains = new Set([...modelDomains, ...f.opset_import.map((o) => domainOf(o.domain))]);
      for (const n of f.node) this.node(n, where);
      for (const a of f.attribute_proto) this.attribute(a, `${where} default`, where);
    }
    this.domains = modelDomains;
  }

  /** onnx.checker's check_model: metadata keys are unique. */
  metadata(m: ModelProto): void {
    const keys = new Set<string>();
    for (const e of m.metadata_props) {
      const key = e.key ?? '';
      if (keys.has(key)) this.fail(`metadata key '${key}' is given twice`);
      keys.add(key);
    }
  }

  /**
   * What onnx.checker (check_graph, check_value_info, check_node) and onnxruntime's graph
   * construction refuse in a graph's names and declared types, so that nothing gapify lints as
   * sound fails to load, and nothing it writes does: inputs named once, every graph input, output
   * and value_info entry named; in the main graph, inputs and outputs typed; element types that
   * exist; nodes with an op_type, some input or output, a name of their own (onnxruntime), in a
   * domain the model imports.
   */
  names(g: GraphProto, where: string, main: boolean): void {
    const inputs = new Set<string>();
    for (const v of g.input) {
      this.valueInfo(v, 'graph input', where, main);
      if (inputs.has(v.name!)) this.fail(`${where}: graph input '${v.name}' is listed twice`);
      inputs.add(v.name!);
    }
    for (const v of g.output) this.valueInfo(v, 'graph output', where, main);
    for (const v of g.value_info) this.valueInfo(v, 'value_info entry', where, false);
    const nodeNames = new Set<string>();
    for (const n of g.node) {
      const label = n.name || n.output[0] || n.input[0] || '';
      if (!n.op_type) this.fail(`${where}: node '${label}' has no op_type`);
      if (n.input.length === 0 && n.output.length === 0) this.fail(`${where}: node '${label}' has neither inputs nor outputs`);
      if (n.name) {
        if (nodeNames.has(n.name)) this.fail(`${where}: two nodes are named '${n.name}'`);
        nodeNames.add(n.name);
      }
      const domain = domainOf(n.domain);
      if (!this.domains.has(domain)) this.fail(`${where}: node '${label}' is in domain '${n.domain}', which the model does not import`);
    }
  }

  valueInfo(v: ValueInfoProto, kind: string, where: string, main: boolean): void {
    if (!v.name) this.fail(`${where}: a ${kind} has no name`);
    const what = `${where}: ${kind} '${v.name}'`;
    // Subgraph inputs and outputs may leave their types to inference (check_value_info).
    if (main && !v.type) this.fail(`${what} has no type`);
    const tensor = v.type?.tensor_type ?? v.type?.sparse_tensor_type;
    const elem = tensor?.elem_type;
    if (main && tensor && elem === undefined) this.fail(`${what} has no element type`);
    if (elem === undefined || (elem === DataType.UNDEFINED && !main)) return;
    if (elem === DataType.UNDEFINED) this.fail(`${what} has element type 0 (UNDEFINED)`);
    if (!storageOf(elem)) this.fail(`${what} has element type ${elem}, which is not an ONNX element type`);
  }

  graph(g: GraphProto, where: string, main: boolean): void {
    this.names(g, where, main);
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
    this.attributeType(a, what(''));
    if (a.t) this.tensor(a.t, what(''));
    a.tensors.forEach((t, i) => this.tensor(t, what(`[${i}]`)));
    if (a.sparse_tensor) this.sparse(a.sparse_tensor, what(''));
    a.sparse_tensors.forEach((s, i) => this.sparse(s, what(`[${i}]`)));
    // Subgraphs nest at most as deep as the decoder's depth limit allows.
    if (a.g) this.graph(a.g, `${where} → ${label} subgraph`, false);
    a.graphs.forEach((g, i) => this.graph(g, `${where} → ${label} subgraph ${i}`, false));
  }

  /** check_attribute: a name, a type, and values (if any) in the field the type names. */
  attributeType(a: AttributeProto, what: string): void {
    if (!a.name) this.fail(`${what}: an attribute has no name`);
    if (!a.type) this.fail(`${what} has no type`);
    const held = ATTRIBUTE_FIELDS.filter(([, has]) => has(a)).map(([type]) => type);
    const typeName = (t: number): string => ATTRIBUTE_TYPE_NAMES[t] ?? String(t);
    if (held.length > 1) this.fail(`${what} holds values of ${held.length} types (${held.map(typeName).join(', ')})`);
    if (held.length === 1 && held[0] !== a.type) this.fail(`${what} is typed ${typeName(a.type)} but holds ${typeName(held[0]!)}`);
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
    // The schema has every element type of the IR versions gapify reads; onnxruntime refuses others.
    if (!storage) this.fail(`${what} has element type ${dt}, which is not an ONNX element type`);
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

/** Each attribute type and whether an attribute holds a value of it. */
const ATTRIBUTE_FIELDS: readonly [number, (a: AttributeProto) => boolean][] = [
  [AttributeType.FLOAT, (a) => a.f !== undefined],
  [AttributeType.INT, (a) => a.i !== undefined],
  [AttributeType.STRING, (a) => a.s !== undefined],
  [AttributeType.TENSOR, (a) => a.t !== undefined],
  [AttributeType.GRAPH, (a) => a.g !== undefined],
  [AttributeType.SPARSE_TENSOR, (a) => a.sparse_tensor !== undefined],
  [AttributeType.TYPE_PROTO, (a) => a.tp !== undefined],
  [AttributeType.FLOATS, (a) => a.floats.length > 0],
  [AttributeType.INTS, (a) => a.ints.length > 0],
  [AttributeType.STRINGS, (a) => a.strings.length > 0],
  [AttributeType.TENSORS, (a) => a.tensors.length > 0],
  [AttributeType.GRAPHS, (a) => a.graphs.length > 0],
  [AttributeType.SPARSE_TENSORS, (a) => a.sparse_tensors.length > 0],
  [AttributeType.TYPE_PROTOS, (a) => a.type_protos.length > 0],
];

const ATTRIBUTE_TYPE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(AttributeType).map(([k, v]) => [v, k]));

/** The default domain is spelled '' or 'ai.onnx'. */
const domainOf = (d: string | undefined): string => (!d || d === 'ai.onnx' ? '' : d);

/** `base` followed by an index suffix ('' or '[i]'). */
function indexed(base: string): (suffix: string) => string {
  return (suffix) => base + suffix;
}

/**
 * Throws a ModelError naming `path` when a tensor's data doesn't match its dims, dims overflow,
 * external data is missing, too short or outside the model's folder, initializers are unnamed or
 * defined twice, or names and declared types break what onnx.checker requires.
 */
export function validateModel(path: string, model: ModelProto): void {
  new Validator(path).model(model);
}
