// Which inputs a model is fed when it is verified, with which shapes, and the seeded data fed.
//
// Shapes: a dim fixed in the model is used as is; a dim the user gave with --input-shape is used (it
// must agree with a fixed dim); any other dim (symbolic like 'batch', or unknown) gets a default:
//   - the first dim of an input of rank >= 2 is taken as the batch: 1;
//   - a rank-4 input is taken as an image, NCHW unless it looks like NHWC (dim 1 unknown, dim 3
//     fixed at 1, 3 or 4): channels 3, height and width 224 (ImageNet classifiers, which is what
//     gapify rewrites);
//   - anything else: 1.
// Each defaulted dim is recorded so the caller can say which values were assumed.
//
// Data: a small seeded PRNG (mulberry32), one stream per input derived from (seed, input name), so
// the same seed always feeds the same values and adding an input does not change the others':
//   - float32 / float16 / float64: uniform in [-1, 1). Bounded (no N(0,1) outliers), zero-mean and
//     of the same scale as normalized image pixels, so activations stay in a realistic range;
//   - int8 / uint8: the whole type range (quantized or raw image data);
//   - int16 / uint16 / int32 / uint32 / int64 / uint64: 0..7 (such inputs are usually indices or
//     sizes; small non-negative values are the most likely to be valid);
//   - bool: 0 or 1.

import type { Tensor } from 'onnxruntime-node';
import { RuntimeError, UsageError } from '../errors.js';
import { DataType, type ModelProto, type ValueInfoProto } from '../onnx/schema.js';
import { dtypeName, floatToHalf } from '../onnx/tensor.js';
import { NO_INPUT_SHAPES, type InputShapeSpec } from './input-shapes.js';
import { dimsText } from '../text.js';
import { loadOrt } from './ort.js';

/** onnxruntime's tensor element type names. */
export type OrtDType =
  | 'float32' | 'float16' | 'float64'
  | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64'
  | 'bool' | 'string';

const ONNX_TO_ORT: ReadonlyMap<number, OrtDType> = new Map<number, OrtDType>([
  [DataType.FLOAT, 'float32'],
  [DataType.FLOAT16, 'float16'],
  [DataType.DOUBLE, 'float64'],
  [DataType.INT8, 'int8'],
  [DataType.UINT8, 'uint8'],
  [DataType.INT16, 'int16'],
  [DataType.UINT16, 'uint16'],
  [DataType.INT32, 'int32'],
  [DataType.UINT32, 'uint32'],
  [DataType.INT64, 'int64'],
  [DataType.UINT64, 'uint64'],
  [DataType.BOOL, 'bool'],
  [DataType.STRING, 'string'],
]);

/** The onnxruntime type name of an ONNX element type (undefined: onnxruntime-node can't feed or return it, e.g. bfloat16). */
export function ortDType(elemType: number | undefined): OrtDType | undefined {
  return elemType === undefined ? undefined : ONNX_TO_ORT.get(elemType);
}

/** A dim as declared: a size, a symbol, or (neither) unknown. */
export interface DeclaredDim {
  readonly value?: number;
  readonly param?: string;
}

/** A graph input as the model declares it. */
export interface DeclaredInput {
  readonly name: string;
  /** ONNX DataType; undefined when the input is not a tensor or has no element type. */
  readonly elemType: number | undefined;
  /** Undefined: unknown rank. */
  readonly dims: readonly DeclaredDim[] | undefined;
}

/** The graph inputs that are really fed: inputs that are also initializers (overridable weights) are not. */
export function declaredInputs(model: ModelProto): DeclaredInput[] {
  const graph = model.graph;
  if (!graph) return [];
  const init = new Set<string>();
  for (const t of graph.initializer) if (t.name !== undefined) init.add(t.name);
  for (const s of graph.sparse_initializer) if (s.values?.name !== undefined) init.add(s.values.name);
  return graph.input.filter((v) => !init.has(v.name ?? '')).map(declaredInput);
}

function declaredInput(v: ValueInfoProto): DeclaredInput {
  const tt = v.type?.tensor_type;
  const name = v.name ?? '';
  if (!tt) return { name, elemType: undefined, dims: undefined };
  const dims = tt.shape?.dim.map((d): DeclaredDim => {
    if (d.dim_value !== undefined) {
      const n = Number(d.dim_value);
      // Negative sizes (some exporters write -1) mean "unknown".
      return n >= 0 && Number.isSafeInteger(n) ? { value: n } : {};
    }
    return d.dim_param !== undefined && d.dim_param !== '' ? { param: d.dim_param } : {};
  });
  return { name, elemType: tt.elem_type, dims };
}

export type DimSource = 'model' | 'user' | 'default';

/** An input as it will be fed. */
export interface ResolvedInput {
  readonly name: string;
  /** ONNX DataType. */
  readonly elemType: number;
  readonly dtype: OrtDType;
  readonly shape: readonly number[];
  /** Where each dim of `shape` came from. */
  readonly sources: readonly DimSource[];
  /** The declared dims (number, symbol, or null for unknown); undefined for an unknown rank. */
  readonly declared: readonly (number | string | null)[] | undefined;
  /** Says which dims were defaulted, e.g. `input: batch N=1 (default) → 1×3×224×224`; absent when none were. */
  readonly note?: string;
}

export interface DimDefaults {
  /** First dim of an input of rank >= 2. */
  batch: number;
  /** Channels of a rank-4 (image) input. */
  channels: number;
  /** Height and width of a rank-4 (image) input. */
  imageSize: number;
  /** Any other unknown dim. */
  other: number;
}

export const DEFAULT_DIMS: Readonly<DimDefaults> = { batch: 1, channels: 3, imageSize: 224, other: 1 };

export interface ResolveOptions {
  /** Names the model in messages (its path). */
  label?: string;
  defaults?: Partial<DimDefaults>;
}

/** Largest input gapify will allocate (elements). */
const MAX_INPUT_ELEMENTS = 2 ** 28;

type Role = 'batch' | 'channels' | 'height' | 'width' | 'other';

/**
 * Is a rank-4 image input channels-last (NHWC)? When its last dim is fixed at 1, 3 or 4 and dim 1
 * is unknown or too big to be a channel count; NCHW otherwise. The one layout rule of gapify:
 * verification's defaults, --dynamic-size and lint all use it.
 */
export function isChannelsLast(dims: readonly { readonly value?: number }[]): boolean {
  if (dims.length !== 4) return false;
  const d1 = dims[1]!.value;
  const d3 = dims[3]!.value;
  return d3 !== undefined && [1, 3, 4].includes(d3) && (d1 === undefined || d1 > 4);
}

function rolesOf(dims: readonly DeclaredDim[]): Role[] {
  const roles: Role[] = dims.map(() => 'other');
  if (dims.length >= 2) roles[0] = 'batch';
  if (dims.length === 4) {
    if (isChannelsLast(dims)) roles.splice(1, 3, 'height', 'width', 'channels');
    else roles.splice(1, 3, 'channels', 'height', 'width');
  }
  return roles;
}

function defaultFor(role: Role, d: DimDefaults): number {
  switch (role) {
    case 'batch': return d.batch;
    case 'channels': return d.channels;
    case 'height': case 'width': return d.imageSize;
    default: return d.other;
  }
}

/** Resolves a model's fed inputs (see the top of this file for the rules). */
export function resolveInputs(model: ModelProto, spec: InputShapeSpec = NO_INPUT_SHAPES, opts: ResolveOptions = {}): ResolvedInput[] {
  return resolveDeclaredInputs(declaredInputs(model), spec, opts);
}

/** resolveInputs on an already extracted input list. */
export function resolveDeclaredInputs(inputs: readonly DeclaredInput[], spec: InputShapeSpec = NO_INPUT_SHAPES, opts: ResolveOptions = {}): ResolvedInput[] {
  const label = opts.label ?? 'the model';
  const defaults: DimDefaults = { ...DEFAULT_DIMS, ...opts.defaults };
  const names = inputs.map((i) => i.name);
  const list = names.length > 0 ? names.map((n) => `'${n}'`).join(', ') : 'none';

  const given = new Map<string, readonly number[]>(spec.byName);
  if (spec.unnamed !== undefined) {
    if (inputs.length !== 1) {
      throw new UsageError(`--input-shape ${spec.unnamed.join(',')}: ${label} has ${inputs.length} inputs (${list}), so the spec must name one (NAME:D1,D2,...)`);
    }
    given.set(inputs[0]!.name, spec.unnamed);
  }
  for (const name of given.keys()) {
    if (!names.includes(name)) {
      throw new UsageError(`--input-shape names '${name}', which is not an input of ${label} (inputs: ${list})`);
    }
  }

  return inputs.map((input): ResolvedInput => {
    const dtype = ortDType(input.elemType);
    if (input.elemType === undefined) {
      throw new RuntimeError(`${label}: input '${input.name}' is not a tensor with an element type; gapify can only feed tensors`);
    }
    if (dtype === undefined || dtype === 'string') {
      throw new RuntimeError(`${label}: input '${input.name}' is ${dtypeName(input.elemType)}, which gapify can't feed to onnxruntime`);
    }
    const user = given.get(input.name);
    const declared = input.dims?.map((d) => d.value ?? d.param ?? null);
    let shape: number[];
    let sources: DimSource[];
    const defaulted: string[] = [];
    if (input.dims === undefined) {
      if (user === undefined) {
        throw new UsageError(`${label}: input '${input.name}' has no declared rank; give its shape with --input-shape ${input.name}:D1,D2,...`);
      }
      shape = [...user];
      sources = user.map(() => 'user');
    } else {
      const dims = input.dims;
      if (user !== undefined && user.length !== dims.length) {
        throw new UsageError(`--input-shape ${input.name}:${user.join(',')} has rank ${user.length}, but ${label} declares '${input.name}' with rank ${dims.length} (${dimsText(declared!.map((d) => d ?? '?'))})`);
      }
      const roles = rolesOf(dims);
      shape = [];
      sources = [];
      dims.forEach((d, i) => {
        const u = user?.[i];
        if (d.value !== undefined) {
          if (u !== undefined && u !== d.value) {
            throw new UsageError(`--input-shape ${input.name}:${user!.join(',')}: dim ${i} is ${u}, but ${label} fixes it at ${d.value}`);
          }
          shape.push(d.value);
          sources.push('model');
        } else if (u !== undefined) {
          shape.push(u);
          sources.push('user');
        } else {
          const role = roles[i]!;
          const v = defaultFor(role, defaults);
          shape.push(v);
          sources.push('default');
          const what = role === 'other' ? `dim ${i}` : role;
          // `batch N=1`, but `batch=1` when the symbol is just 'batch'.
          const symbol = d.param !== undefined && d.param.toLowerCase() !== what ? ` ${d.param}` : '';
          defaulted.push(`${what}${symbol}=${v}`);
        }
      });
    }
    let n = 1;
    for (const d of shape) n *= d;
    if (n > MAX_INPUT_ELEMENTS) {
      throw new UsageError(`input '${input.name}' of ${label}: shape ${dimsText(shape)} has ${n} elements, more than gapify feeds (${MAX_INPUT_ELEMENTS})`);
    }
    const base = { name: input.name, elemType: input.elemType, dtype, shape, sources, declared };
    if (defaulted.length === 0) return base;
    return { ...base, note: `${input.name}: ${defaulted.map((s) => `${s} (default)`).join(', ')} → ${dimsText(shape)}` };
  });
}

/** The notes of the inputs that had defaulted dims. */
export function inputNotes(inputs: readonly ResolvedInput[]): string[] {
  return inputs.flatMap((i) => (i.note === undefined ? [] : [i.note]));
}

// --- seeded data ---------------------------------------------------------------------------------

/** Seed used when the caller gives none. */
export const DEFAULT_SEED = 0;

/** mulberry32: a tiny, fast 32-bit PRNG; returns uint32 values. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** FNV-1a of a string's UTF-16 code units. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export type InputData =
  | Float32Array | Float64Array | Uint16Array | Int8Array | Uint8Array | Int16Array
  | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

/** The seeded values of one input, in the typed array onnxruntime-node takes for its dtype (float16: Uint16Array bit patterns). */
export function seededData(input: Pick<ResolvedInput, 'name' | 'dtype' | 'shape'>, seed: number = DEFAULT_SEED): InputData {
  let n = 1;
  for (const d of input.shape) n *= d;
  const next = mulberry32(Math.imul(hashString(input.name), 0x9e3779b1) ^ (seed >>> 0) ^ ((seed / 2 ** 32) >>> 0));
  const unit = (): number => (next() / 2 ** 32) * 2 - 1; // U[-1, 1)
  const small = (): number => next() & 7; // 0..7
  switch (input.dtype) {
    case 'float32': { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = unit(); return a; }
    case 'float64': { const a = new Float64Array(n); for (let i = 0; i < n; i++) a[i] = unit(); return a; }
    case 'float16': { const a = new Uint16Array(n); for (let i = 0; i < n; i++) a[i] = floatToHalf(unit()); return a; }
    case 'int8': { const a = new Int8Array(n); for (let i = 0; i < n; i++) a[i] = next() & 0xff; return a; }
    case 'uint8': { const a = new Uint8Array(n); for (let i = 0; i < n; i++) a[i] = next() & 0xff; return a; }
    case 'bool': { const a = new Uint8Array(n); for (let i = 0; i < n; i++) a[i] = next() & 1; return a; }
    case 'int16': { const a = new Int16Array(n); for (let i = 0; i < n; i++) a[i] = small(); return a; }
    case 'uint16': { const a = new Uint16Array(n); for (let i = 0; i < n; i++) a[i] = small(); return a; }
    case 'int32': { const a = new Int32Array(n); for (let i = 0; i < n; i++) a[i] = small(); return a; }
    case 'uint32': { const a = new Uint32Array(n); for (let i = 0; i < n; i++) a[i] = small(); return a; }
    case 'int64': { const a = new BigInt64Array(n); for (let i = 0; i < n; i++) a[i] = BigInt(small()); return a; }
    case 'uint64': { const a = new BigUint64Array(n); for (let i = 0; i < n; i++) a[i] = BigInt(small()); return a; }
    case 'string': throw new RuntimeError(`input '${input.name}' is a string tensor, which gapify can't feed`);
  }
}

/** Seeded onnxruntime tensors for `inputs` (imports onnxruntime-node on first use). */
export async function makeSeededInputs(inputs: readonly ResolvedInput[], seed: number = DEFAULT_SEED): Promise<Record<string, Tensor>> {
  const ort = await loadOrt();
  const feeds: Record<string, Tensor> = {};
  for (const input of inputs) {
    // The constructor's overloads are keyed by dtype literal; the data matches the dtype by construction.
    feeds[input.name] = new ort.Tensor(input.dtype as 'float32', seededData(input, seed) as Float32Array, [...input.shape]);
  }
  return feeds;
}
