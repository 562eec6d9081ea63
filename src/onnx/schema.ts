// TypeScript shapes of the ONNX messages in proto/onnx.proto (ONNX 1.20 line, IR_VERSION 13), as
// our codec decodes them.
//
// Representation:
//   - field names are the proto names (snake_case);
//   - singular fields are optional properties, present only when they were on the wire;
//   - repeated fields are always present (empty when absent): `repeated float` is a Float32Array,
//     `repeated double` a Float64Array, everything else a plain array;
//   - int64/uint64 are I64: a number when it is a safe integer, else a bigint;
//   - enum-typed fields are plain numbers (a newer model may use values this file does not list);
//   - members of a oneof are ordinary optional fields;
//   - fields this schema does not know are kept as raw bytes under the UNKNOWN symbol.

/** A 64-bit integer: `number` when it is a safe integer, `bigint` otherwise. */
export type I64 = number | bigint;

/** Key of the raw bytes of fields not in the schema, kept so they are written back unchanged. */
export const UNKNOWN: unique symbol = Symbol('onnx.unknownFields');

/** What every decoded message carries besides its fields. */
export interface OnnxMessage {
  /** Encoded fields (tag and value bytes) the schema does not know, in wire order. */
  readonly [UNKNOWN]?: readonly Uint8Array[];
}

// ---------------------------------------------------------------------------------------------
// Enums

/** IR versions (ModelProto.ir_version). */
export const Version = {
  _START_VERSION: 0,
  IR_VERSION_2017_10_10: 1,
  IR_VERSION_2017_10_30: 2,
  IR_VERSION_2017_11_3: 3,
  IR_VERSION_2019_1_22: 4,
  IR_VERSION_2019_3_18: 5,
  IR_VERSION_2019_9_19: 6,
  IR_VERSION_2020_5_8: 7,
  IR_VERSION_2021_7_30: 8,
  IR_VERSION_2023_5_5: 9,
  IR_VERSION_2024_3_25: 10,
  IR_VERSION_2025_05_12: 11,
  IR_VERSION_2025_08_26: 12,
  /** The newest IR version this schema describes. */
  IR_VERSION: 13,
} as const;
export type Version = (typeof Version)[keyof typeof Version];

/** AttributeProto.type: which value field of an attribute is in use. */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
} as const;
export type AttributeType = (typeof AttributeType)[keyof typeof AttributeType];

/** TensorProto.DataType: element types (TensorProto.data_type, TypeProto_Tensor.elem_type, ...). */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
  FLOAT8E8M0: 24,
  UINT2: 25,
  INT2: 26,
} as const;
export type DataType = (typeof DataType)[keyof typeof DataType];

/** TensorProto.DataLocation: inline data or an external file. */
export const DataLocation = {
  DEFAULT: 0,
  EXTERNAL: 1,
} as const;
export type DataLocation = (typeof DataLocation)[keyof typeof DataLocation];

/** Operator/function maturity (not referenced by any field any more). */
export const OperatorStatus = {
  EXPERIMENTAL: 0,
  STABLE: 1,
} as const;
export type OperatorStatus = (typeof OperatorStatus)[keyof typeof OperatorStatus];

// ---------------------------------------------------------------------------------------------
// Messages

export interface AttributeProto extends OnnxMessage {
  name?: string;
  /** In a function body: take the value from the caller's attribute of this name. */
  ref_attr_name?: string;
  doc_string?: string;
  /** An AttributeType value: says which of the value fields below is set. */
  type?: number;
  f?: number;
  i?: I64;
  /** UTF-8 text as bytes. */
  s?: Uint8Array;
  t?: TensorProto;
  /** Subgraph (If/Loop/Scan bodies). */
  g?: GraphProto;
  sparse_tensor?: SparseTensorProto;
  tp?: TypeProto;
  floats: Float32Array;
  ints: I64[];
  strings: Uint8Array[];
  tensors: TensorProto[];
  graphs: GraphProto[];
  sparse_tensors: SparseTensorProto[];
  type_protos: TypeProto[];
}

export interface ValueInfoProto extends OnnxMessage {
  name?: string;
  type?: TypeProto;
  doc_string?: string;
  metadata_props: StringStringEntryProto[];
}

export interface NodeProto extends OnnxMessage {
  /** Value names; '' marks an omitted optional input. */
  input: string[];
  /** Value names; '' marks an omitted optional output. */
  output: string[];
  name?: string;
  op_type?: string;
  /** Operator-set domain; absent or '' is the default ONNX domain. */
  domain?: string;
  /** Picks among model-local functions sharing (domain, op_type). */
  overload?: string;
  attribute: AttributeProto[];
  doc_string?: string;
  metadata_props: StringStringEntryProto[];
  device_configurations: NodeDeviceConfigurationProto[];
}

export interface IntIntListEntryProto extends OnnxMessage {
  key?: I64;
  value: I64[];
}

export interface NodeDeviceConfigurationProto extends OnnxMessage {
  /** Name of a ModelProto.configuration entry. */
  configuration_id?: string;
  sharding_spec: ShardingSpecProto[];
  pipeline_stage?: number;
}

export interface ShardingSpecProto extends OnnxMessage {
  tensor_name?: string;
  device: I64[];
  /** Device-group id (as used in `device`) to the devices of the group. */
  index_to_device_group_map: IntIntListEntryProto[];
  sharded_dim: ShardedDimProto[];
}

export interface ShardedDimProto extends OnnxMessage {
  axis?: I64;
  simple_sharding: SimpleShardedDimProto[];
}

export interface SimpleShardedDimProto extends OnnxMessage {
  /** oneof dim */
  dim_value?: I64;
  /** oneof dim */
  dim_param?: string;
  num_shards?: I64;
}

export interface TrainingInfoProto extends OnnxMessage {
  initialization?: GraphProto;
  algorithm?: GraphProto;
  /** (initializer name, output of `initialization`) pairs. */
  initialization_binding: StringStringEntryProto[];
  /** (initializer name, output of `algorithm`) pairs. */
  update_binding: StringStringEntryProto[];
}

export interface ModelProto extends OnnxMessage {
  ir_version?: I64;
  opset_import: OperatorSetIdProto[];
  producer_name?: string;
  producer_version?: string;
  domain?: string;
  model_version?: I64;
  doc_string?: string;
  graph?: GraphProto;
  metadata_props: StringStringEntryProto[];
  training_info: TrainingInfoProto[];
  /** Model-local functions. */
  functions: FunctionProto[];
  /** Multi-device configurations. */
  configuration: DeviceConfigurationProto[];
}

export interface DeviceConfigurationProto extends OnnxMessage {
  name?: string;
  num_devices?: number;
  device: string[];
}

export interface StringStringEntryProto extends OnnxMessage {
  key?: string;
  value?: string;
}

export interface TensorAnnotation extends OnnxMessage {
  tensor_name?: string;
  /** Role (e.g. 'SCALE_TENSOR', 'ZERO_POINT_TENSOR') to tensor name. */
  quant_parameter_tensor_names: StringStringEntryProto[];
}

export interface GraphProto extends OnnxMessage {
  /** In topological order. */
  node: NodeProto[];
  name?: string;
  /** Constant tensors (weights). */
  initializer: TensorProto[];
  sparse_initializer: SparseTensorProto[];
  doc_string?: string;
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  /** Optional type/shape information for intermediate values. */
  value_info: ValueInfoProto[];
  quantization_annotation: TensorAnnotation[];
  metadata_props: StringStringEntryProto[];
}

/**
 * A dense tensor. Its elements (row-major) are in exactly one place: `raw_data`, the typed field
 * that `data_type` selects (float_data, int32_data, string_data, int64_data, double_data,
 * uint64_data), or an external file described by `external_data`.
 */
export interface TensorProto extends OnnxMessage {
  dims: I64[];
  /** A DataType value. */
  data_type?: number;
  segment?: TensorProto_Segment;
  /** FLOAT; COMPLEX64 as interleaved (real, imaginary). */
  float_data: Float32Array;
  /**
   * INT32, INT16, INT8, UINT16, UINT8, BOOL, and the bit patterns of FLOAT16, BFLOAT16, the FLOAT8
   * types and FLOAT4E2M1; 4-bit types two per entry, 2-bit types four per entry, lowest bits first.
   */
  int32_data: number[];
  /** STRING: one UTF-8 string per entry. */
  string_data: Uint8Array[];
  /** INT64. */
  int64_data: I64[];
  name?: string;
  doc_string?: string;
  /** All elements, little-endian fixed width (sub-byte types packed, lowest bits first). Never for STRING. */
  raw_data?: Uint8Array;
  /** With data_location EXTERNAL: 'location' (relative path), 'offset', 'length', 'checksum'. */
  external_data: StringStringEntryProto[];
  /** A DataLocation value; absent means DEFAULT. */
  data_location?: number;
  /** DOUBLE; COMPLEX128 as interleaved (real, imaginary). */
  double_data: Float64Array;
  /** UINT32 and UINT64. */
  uint64_data: I64[];
  metadata_props: StringStringEntryProto[];
}

/** The element range [begin, end) a chunked tensor's piece holds. */
export interface TensorProto_Segment extends OnnxMessage {
  begin?: I64;
  end?: I64;
}

/** Coordinate-form sparse tensor; unstored elements are 0 (or '' for strings). */
export interface SparseTensorProto extends OnnxMessage {
  /** The [NNZ] stored values; its name names the sparse tensor. */
  values?: TensorProto;
  /** [NNZ, rank] coordinates or [NNZ] linear indices, ascending. */
  indices?: TensorProto;
  /** Dense shape. */
  dims: I64[];
}

export interface TensorShapeProto extends OnnxMessage {
  dim: TensorShapeProto_Dimension[];
}

/** A dimension: a size, a symbol, or (neither set) unknown. */
export interface TensorShapeProto_Dimension extends OnnxMessage {
  /** oneof value */
  dim_value?: I64;
  /** oneof value: symbolic size, e.g. 'batch'. */
  dim_param?: string;
  denotation?: string;
}

/** A value's type; at most one of the *_type fields (oneof value) is set. */
export interface TypeProto extends OnnxMessage {
  tensor_type?: TypeProto_Tensor;
  sequence_type?: TypeProto_Sequence;
  map_type?: TypeProto_Map;
  optional_type?: TypeProto_Optional;
  sparse_tensor_type?: TypeProto_SparseTensor;
  denotation?: string;
}

export interface TypeProto_Tensor extends OnnxMessage {
  /** A DataType value. */
  elem_type?: number;
  /** Absent means unknown rank. */
  shape?: TensorShapeProto;
}

export interface TypeProto_Sequence extends OnnxMessage {
  elem_type?: TypeProto;
}

export interface TypeProto_Map extends OnnxMessage {
  /** A DataType value: an integer type or STRING. */
  key_type?: number;
  value_type?: TypeProto;
}

export interface TypeProto_Optional extends OnnxMessage {
  elem_type?: TypeProto;
}

export interface TypeProto_SparseTensor extends OnnxMessage {
  /** A DataType value. */
  elem_type?: number;
  shape?: TensorShapeProto;
}

export interface OperatorSetIdProto extends OnnxMessage {
  /** Absent or '' is the default ONNX domain. */
  domain?: string;
  version?: I64;
}

export interface FunctionProto extends OnnxMessage {
  name?: string;
  input: string[];
  output: string[];
  /** Attributes without defaults. */
  attribute: string[];
  /** Attributes with defaults. */
  attribute_proto: AttributeProto[];
  node: NodeProto[];
  doc_string?: string;
  opset_import: OperatorSetIdProto[];
  domain?: string;
  overload?: string;
  value_info: ValueInfoProto[];
  metadata_props: StringStringEntryProto[];
}
