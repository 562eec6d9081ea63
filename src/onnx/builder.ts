// Building ONNX messages in code, modelled on Python's `onnx.helper` (make_node, make_graph,
// make_tensor_value_info, make_model). Used by the tests, scripts/make-fixtures.ts and gapify's own
// rewrites to create nodes.
//
// Everything built here has the shape the codec's decoder produces (see schema.ts): every repeated
// field of the message type is present (an empty array, or an empty Float32Array for `repeated
// float`), singular fields are present only when set, int64 values are numbers when they are safe
// integers and bigints otherwise, float attributes are rounded to float32. So code written against
// decoded models reads built ones the same way, and encode → decode of a built message gives back an
// equal structure. Built messages are plain, unfrozen objects without source bytes: the encoder
// always writes them out field by field.

import {
  AttributeType,
  type AttributeProto,
  type GraphProto,
  type I64,
  type ModelProto,
  type NodeProto,
  type OperatorSetIdProto,
  type TensorProto,
  type TensorShapeProto_Dimension,
  type ValueInfoProto,
} from './schema.js';
import { BuilderError } from '../errors.js';

export { BuilderError };

export { makeTensor, emptyTensor } from './tensor.js';

/**
 * An attribute value. Explicit wrappers pick the attribute type; bare values are inferred as in
 * `onnx.helper.make_attribute`:
 *   - an integer number or a bigint → INT; any other number → FLOAT (use `{ f: 1 }` for a float 1.0);
 *   - a string → STRING;
 *   - a number[] whose entries are all integers (or bigints) → INTS, else FLOATS; `[]` → INTS;
 *   - a string[] → STRINGS;
 *   - a TensorProto → TENSOR; a GraphProto → GRAPH.
 */
export type AttrValue =
  | number
  | bigint
  | string
  | readonly (number | bigint)[]
  | readonly string[]
  | TensorProto
  | GraphProto
  | { readonly f: number }
  | { readonly i: I64 }
  | { readonly s: string | Uint8Array }
  | { readonly t: TensorProto }
  | { readonly g: GraphProto }
  | { readonly floats: ArrayLike<number> }
  | { readonly ints: readonly I64[] }
  | { readonly strings: readonly (string | Uint8Array)[] }
  | { readonly tensors: readonly TensorProto[] }
  | { readonly graphs: readonly GraphProto[] };

const utf8 = new TextEncoder();

/** An int64 in the decoder's form: a number when it is a safe integer, else a bigint. */
function i64(v: I64, what: string): I64 {
  if (typeof v === 'bigint') {
    if (v < -(2n ** 63n) || v >= 2n ** 63n) throw new BuilderError(`${what}: ${v} does not fit in int64`);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
  if (!Number.isSafeInteger(v)) throw new BuilderError(`${what}: ${v} is not a safe integer (pass a bigint)`);
  return v;
}

function bytesOf(s: string | Uint8Array): Uint8Array {
  return typeof s === 'string' ? utf8.encode(s) : s;
}

function isTensor(v: object): v is TensorProto {
  return Array.isArray((v as TensorProto).dims) && Array.isArray((v as TensorProto).int64_data);
}

function isGraph(v: object): v is GraphProto {
  return Array.isArray((v as GraphProto).node) && Array.isArray((v as GraphProto).initializer);
}

/** An AttributeProto with every repeated field present. */
function emptyAttribute(fields: Partial<AttributeProto>): AttributeProto {
  return {
    floats: new Float32Array(0), ints: [], strings: [], tensors: [], graphs: [], sparse_tensors: [], type_protos: [],
    ...fields,
  };
}

/** One attribute, its `type` set from the value (see AttrValue for the inference rules). */
export function makeAttribute(name: string, value: AttrValue): AttributeProto {
  const what = `attribute '${name}'`;
  if (typeof value === 'number') {
    return Number.isInteger(value)
      ? emptyAttribute({ name, type: AttributeType.INT, i: i64(value, what) })
      : emptyAttribute({ name, type: AttributeType.FLOAT, f: Math.fround(value) });
  }
  if (typeof value === 'bigint') return emptyAttribute({ name, type: AttributeType.INT, i: i64(value, what) });
  if (typeof value === 'string') return emptyAttribute({ name, type: AttributeType.STRING, s: utf8.encode(value) });
  if (Array.isArray(value)) {
    const arr = value as readonly (number | bigint | string)[];
    if (arr.length > 0 && arr.every((x) => typeof x === 'string')) {
      return emptyAttribute({ name, type: AttributeType.STRINGS, strings: (arr as string[]).map((x) => utf8.encode(x)) });
    }
    if (arr.every((x) => typeof x === 'bigint' || (typeof x === 'number' && Number.isInteger(x)))) {
      return emptyAttribute({ name, type: AttributeType.INTS, ints: (arr as I64[]).map((x) => i64(x, what)) });
    }
    if (arr.every((x) => typeof x === 'number')) {
      return emptyAttribute({ name, type: AttributeType.FLOATS, floats: Float32Array.from(arr as number[]) });
    }
    throw new BuilderError(`${what}: a list must hold only numbers or only strings`);
  }
  if (typeof value !== 'object' || value === null) throw new BuilderError(`${what}: unsupported value ${String(value)}`);
  if (isTensor(value)) return emptyAttribute({ name, type: AttributeType.TENSOR, t: value });
  if (isGraph(value)) return emptyAttribute({ name, type: AttributeType.GRAPH, g: value });
  if ('f' in value) return emptyAttribute({ name, type: AttributeType.FLOAT, f: Math.fround(value.f) });
  if ('i' in value) return emptyAttribute({ name, type: AttributeType.INT, i: i64(value.i, what) });
  if ('s' in value) return emptyAttribute({ name, type: AttributeType.STRING, s: bytesOf(value.s) });
  if ('t' in value) return emptyAttribute({ name, type: AttributeType.TENSOR, t: value.t });
  if ('g' in value) return emptyAttribute({ name, type: AttributeType.GRAPH, g: value.g });
  if ('floats' in value) return emptyAttribute({ name, type: AttributeType.FLOATS, floats: Float32Array.from(value.floats) });
  if ('ints' in value) return emptyAttribute({ name, type: AttributeType.INTS, ints: value.ints.map((x) => i64(x, what)) });
  if ('strings' in value) return emptyAttribute({ name, type: AttributeType.STRINGS, strings: value.strings.map(bytesOf) });
  if ('tensors' in value) return emptyAttribute({ name, type: AttributeType.TENSORS, tensors: [...value.tensors] });
  if ('graphs' in value) return emptyAttribute({ name, type: AttributeType.GRAPHS, graphs: [...value.graphs] });
  throw new BuilderError(`${what}: unsupported value`);
}

/**
 * A node. Attributes keep the order of `attrs`; an `undefined` value is skipped (handy for optional
 * attributes). `name` and `domain` are set only when given.
 */
export function makeNode(
  opType: string,
  inputs: readonly string[],
  outputs: readonly string[],
  attrs: Readonly<Record<string, AttrValue | undefined>> = {},
  name?: string,
  domain?: string,
): NodeProto {
  const node: NodeProto = {
    input: [...inputs],
    output: [...outputs],
    attribute: [],
    metadata_props: [],
    device_configurations: [],
  };
  if (name !== undefined) node.name = name;
  node.op_type = opType;
  if (domain !== undefined) node.domain = domain;
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined) node.attribute.push(makeAttribute(key, value));
  }
  return node;
}

/** A `Constant` node producing `output` from `value` (its `value` attribute). */
export function makeConstantNode(output: string, value: TensorProto, name?: string): NodeProto {
  return makeNode('Constant', [], [output], { value: { t: value } }, name);
}

/** A tensor dimension: a size, a symbol (dim_param), or unknown (`undefined`). */
export type DimSpec = number | bigint | string | undefined;

/**
 * A tensor-typed value. `dims` undefined: unknown rank (no shape); a string entry is a symbolic
 * dimension (dim_param), an undefined entry an unknown one.
 */
export function makeValueInfo(name: string, elemType: number, dims: readonly DimSpec[] | undefined): ValueInfoProto {
  const tensor: { elem_type: number; shape?: { dim: TensorShapeProto_Dimension[] } } = { elem_type: elemType };
  if (dims !== undefined) {
    tensor.shape = {
      dim: dims.map((d): TensorShapeProto_Dimension =>
        d === undefined ? {} : typeof d === 'string' ? { dim_param: d } : { dim_value: i64(d, `value '${name}' dimension`) },
      ),
    };
  }
  return { name, type: { tensor_type: tensor }, metadata_props: [] };
}

export function makeGraph(
  nodes: readonly NodeProto[],
  name: string,
  inputs: readonly ValueInfoProto[],
  outputs: readonly ValueInfoProto[],
  initializers: readonly TensorProto[] = [],
  valueInfo: readonly ValueInfoProto[] = [],
): GraphProto {
  return {
    node: [...nodes],
    name,
    initializer: [...initializers],
    sparse_initializer: [],
    input: [...inputs],
    output: [...outputs],
    value_info: [...valueInfo],
    quantization_annotation: [],
    metadata_props: [],
  };
}

export function makeOpsetImport(domain: string, version: number): OperatorSetIdProto {
  return { domain, version };
}

export interface ModelOptions {
  /** Default-domain opset (default 13). */
  opset?: number;
  /** IR version (default 8). */
  irVersion?: number;
  /** producer_name (default 'gapify-tests'). */
  producer?: string;
  producerVersion?: string;
  docString?: string;
  /** Imports of other domains, after the default domain's. */
  extraOpsets?: readonly OperatorSetIdProto[];
}

export function makeModel(graph: GraphProto, options: ModelOptions = {}): ModelProto {
  const model: ModelProto = {
    ir_version: options.irVersion ?? 8,
    opset_import: [makeOpsetImport('', options.opset ?? 13), ...(options.extraOpsets ?? [])],
    producer_name: options.producer ?? 'gapify-tests',
    metadata_props: [],
    training_info: [],
    functions: [],
    configuration: [],
  };
  if (options.producerVersion !== undefined) model.producer_version = options.producerVersion;
  if (options.docString !== undefined) model.doc_string = options.docString;
  model.graph = graph;
  return model;
}
