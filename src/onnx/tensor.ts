// Tensor values in and out of TensorProto: the element types a classifier head's weights come in
// (float32, float16, bfloat16, double) and the integer tensors shape logic reads (int64, int32).
// Values are handed out as float64 so folding arithmetic (alpha, BatchNorm) is done once at full
// precision and rounded once when written back in the weight's own dtype.

import { loadedView } from './lazy-file.js';
import { DataType, type I64, type TensorProto } from './schema.js';
import { TensorError } from '../errors.js';

export { TensorError };

export type FloatDType = typeof DataType.FLOAT | typeof DataType.FLOAT16 | typeof DataType.BFLOAT16 | typeof DataType.DOUBLE;

const FLOAT_DTYPES = new Set<number>([DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16, DataType.DOUBLE]);

export function isFloatDType(t: number | undefined): t is FloatDType {
  return t !== undefined && FLOAT_DTYPES.has(t);
}

const DTYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(DataType).map(([k, v]) => [v, k.toLowerCase()]));

export function dtypeName(t: number | undefined): string {
  return (t !== undefined && DTYPE_NAMES[t]) || `dtype ${t}`;
}

/** Bytes per element in raw_data, for the types gapify reads (undefined: not a fixed-size type). */
export function elementSize(t: number): number | undefined {
  switch (t) {
    case DataType.FLOAT: case DataType.INT32: case DataType.UINT32: return 4;
    case DataType.DOUBLE: case DataType.INT64: case DataType.UINT64: case DataType.COMPLEX64: return 8;
    case DataType.COMPLEX128: return 16;
    case DataType.FLOAT16: case DataType.BFLOAT16: case DataType.INT16: case DataType.UINT16: return 2;
    case DataType.INT8: case DataType.UINT8: case DataType.BOOL:
    case DataType.FLOAT8E4M3FN: case DataType.FLOAT8E4M3FNUZ: case DataType.FLOAT8E5M2: case DataType.FLOAT8E5M2FNUZ:
      return 1;
    default: return undefined;
  }
}

export function toNumber(v: I64, what: string): number {
  if (typeof v === 'bigint') throw new TensorError(`${what} ${v} is out of range`);
  return v;
}

/** Element count; refuses negative or absurd dims (a product past 2^53 is an attack or corruption). */
export function elementCount(dims: readonly I64[]): number {
  let n = 1;
  for (const d of dims) {
    const v = toNumber(d, 'dimension');
    if (v < 0) throw new TensorError(`negative dimension ${v}`);
    n *= v;
    if (!Number.isSafeInteger(n)) throw new TensorError(`dims [${dims.join(', ')}] overflow`);
  }
  return n;
}

// --- half precision ----------------------------------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** float → IEEE half, round to nearest even (as numpy's astype(float16)). */
export function floatToHalf(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

export function bfloat16ToFloat(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0]!;
}

/** float → bfloat16, round to nearest even. */
export function floatToBfloat16(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

// --- reading -------------------------------------------------------------------------------------

/**
 * Where a tensor's raw bytes come from: its raw_data (loaded from the file first, when the model
 * was read lazily) or its external data file. A ModelFile provides one (`file.tensorBytes`).
 */
export type TensorBytes = (t: TensorProto) => Uint8Array;

/** The tensor's bytes in raw_data layout, or undefined when its values are in the typed fields. */
export function rawBytes(t: TensorProto, bytes?: TensorBytes): Uint8Array | undefined {
  if (t.data_location === 1) {
    if (!bytes) throw new TensorError(`tensor '${t.name ?? ''}' has external data`);
    return bytes(t);
  }
  if (t.raw_data === undefined) return undefined;
  // Without a TensorBytes, a lazily read payload is loaded here (or refused), never read unloaded.
  return bytes ? bytes(t) : loadedView(t.raw_data);
}

function checkLength(t: TensorProto, got: number, want: number, unit: string): void {
  if (got !== want) {
    throw new TensorError(`tensor '${t.name ?? ''}' holds ${got} ${unit} but its dims [${t.dims.join(', ')}] need ${want}`);
  }
}

/** A float tensor's values as float64, whichever field and dtype they are stored in. */
export function readFloats(t: TensorProto, bytes?: TensorBytes): Float64Array {
  const n = elementCount(t.dims);
  const dt = t.data_type ?? 0;
  const raw = rawBytes(t, bytes);
  const out = new Float64Array(n);
  if (raw) {
    const size = elementSize(dt);
    if (!isFloatDType(dt) || size === undefined) throw new TensorError(`tensor '${t.name ?? ''}' is ${dtypeName(dt)}, not a float type`);
    checkLength(t, raw.length, n * size, 'bytes');
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < n; i++) {
      switch (dt) {
        case DataType.FLOAT: out[i] = view.getFloat32(i * 4, true); break;
        case DataType.DOUBLE: out[i] = view.getFloat64(i * 8, true); break;
        case DataType.FLOAT16: out[i] = halfToFloat(view.getUint16(i * 2, true)); break;
        default: out[i] = bfloat16ToFloat(view.getUint16(i * 2, true));
      }
    }
    return out;
  }
  switch (dt) {
    case DataType.FLOAT: checkLength(t, t.float_data.length, n, 'values'); out.set(t.float_data); return out;
    case DataType.DOUBLE: checkLength(t, t.double_data.length, n, 'values'); out.set(t.double_data); return out;
    case DataType.FLOAT16: case DataType.BFLOAT16: {
      // 16-bit floats in the typed fields are stored as their bit patterns in int32_data.
      checkLength(t, t.int32_data.length, n, 'values');
      const conv = dt === DataType.FLOAT16 ? halfToFloat : bfloat16ToFloat;
      for (let i = 0; i < n; i++) out[i] = conv(t.int32_data[i]! & 0xffff);
      return out;
    }
    default: throw new TensorError(`tensor '${t.name ?? ''}' is ${dtypeName(dt)}, not a float type`);
  }
}

/** An integer tensor (int64/int32/…) as numbers; int64 values past 2^53 saturate (they mean "to the end"). */
export function readInts(t: TensorProto, bytes?: TensorBytes): number[] {
  const n = elementCount(t.dims);
  const dt = t.data_type ?? 0;
  const raw = rawBytes(t, bytes);
  const out: number[] = new Array(n);
  if (raw) {
    const size = elementSize(dt);
    if (size === undefined) throw new TensorError(`tensor '${t.name ?? ''}' has unsupported ${dtypeName(dt)}`);
    checkLength(t, raw.length, n * size, 'bytes');
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < n; i++) {
      switch (dt) {
        case DataType.INT64: out[i] = Number(view.getBigInt64(i * 8, true)); break;
        case DataType.UINT64: out[i] = Number(view.getBigUint64(i * 8, true)); break;
        case DataType.INT32: out[i] = view.getInt32(i * 4, true); break;
        case DataType.UINT32: out[i] = view.getUint32(i * 4, true); break;
        case DataType.INT16: out[i] = view.getInt16(i * 2, true); break;
        case DataType.UINT16: out[i] = view.getUint16(i * 2, true); break;
        case DataType.INT8: out[i] = view.getInt8(i); break;
        case DataType.UINT8: case DataType.BOOL: out[i] = view.getUint8(i); break;
        case DataType.FLOAT: out[i] = view.getFloat32(i * 4, true); break;
        case DataType.DOUBLE: out[i] = view.getFloat64(i * 8, true); break;
        default: throw new TensorError(`tensor '${t.name ?? ''}' has unsupported ${dtypeName(dt)}`);
      }
    }
    return out;
  }
  const src: readonly (I64 | number)[] | Float32Array | Float64Array =
    dt === DataType.INT64 ? t.int64_data
      : dt === DataType.UINT64 || dt === DataType.UINT32 ? t.uint64_data
        : dt === DataType.FLOAT ? t.float_data
          : dt === DataType.DOUBLE ? t.double_data
            : t.int32_data;
  checkLength(t, src.length, n, 'values');
  for (let i = 0; i < n; i++) out[i] = Number(src[i]!);
  return out;
}

// --- writing -------------------------------------------------------------------------------------

/** A new tensor in raw_data layout, values rounded once to `dtype`. */
export function makeTensor(name: string, dtype: number, dims: readonly number[], values: ArrayLike<number>): TensorProto {
  const n = elementCount(dims);
  if (values.length !== n) throw new TensorError(`makeTensor '${name}': ${values.length} values for dims [${dims.join(', ')}]`);
  const size = elementSize(dtype);
  if (size === undefined) throw new TensorError(`makeTensor '${name}': unsupported ${dtypeName(dtype)}`);
  const raw = new Uint8Array(n * size);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    switch (dtype) {
      case DataType.FLOAT: view.setFloat32(i * 4, v, true); break;
      case DataType.DOUBLE: view.setFloat64(i * 8, v, true); break;
      case DataType.FLOAT16: view.setUint16(i * 2, floatToHalf(v), true); break;
      case DataType.BFLOAT16: view.setUint16(i * 2, floatToBfloat16(v), true); break;
      case DataType.INT64: view.setBigInt64(i * 8, BigInt(Math.trunc(v)), true); break;
      case DataType.INT32: view.setInt32(i * 4, v, true); break;
      case DataType.INT16: view.setInt16(i * 2, v, true); break;
      case DataType.UINT16: view.setUint16(i * 2, v, true); break;
      case DataType.UINT8: case DataType.BOOL: view.setUint8(i, v); break;
      case DataType.INT8: view.setInt8(i, v); break;
      default: throw new TensorError(`makeTensor '${name}': unsupported ${dtypeName(dtype)}`);
    }
  }
  return emptyTensor({ name, data_type: dtype, dims: [...dims], raw_data: raw });
}

/** A TensorProto with every repeated field present, as the codec's decoded form has them. */
export function emptyTensor(fields: Partial<TensorProto>): TensorProto {
  return {
    dims: [], float_data: new Float32Array(0), int32_data: [], string_data: [], int64_data: [],
    double_data: new Float64Array(0), uint64_data: [], external_data: [], metadata_props: [],
    ...fields,
  } as TensorProto;
}
