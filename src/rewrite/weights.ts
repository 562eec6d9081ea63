// Turning a linear layer's constants into Conv weights. The common case — PyTorch's Gemm with
// transB=1, alpha=1, beta=1 — needs no arithmetic at all: [K, C·H·W] and [K, C, H, W] are the same
// bytes, so the new tensor shares the old one's data (raw_data view, typed field or external
// reference) and only its name and dims change. Everything else is computed in float64 and rounded
// once into the weight's own dtype.

import type { TensorProto } from '../onnx/schema.js';
import { elementCount, elementSize, emptyTensor, makeTensor, rawBytes, readFloats, type TensorBytes } from '../onnx/tensor.js';
import type { LinearLayer } from './linear.js';

/** y = x·scale + shift per input channel (a folded BatchNormalization). */
export interface ChannelAffine {
  scale: Float64Array;
  shift: Float64Array;
}

export interface ConvParams {
  weight: TensorProto;
  bias?: TensorProto;
}

/** The same data under a new name and dims — no bytes copied. */
export function sameData(t: TensorProto, name: string, dims: number[]): TensorProto {
  return { ...t, name, dims };
}

/** Transposes a [rows, cols] matrix stored in raw bytes, element by element, in its own dtype. */
function transposeBytes(src: Uint8Array, rows: number, cols: number, size: number): Uint8Array {
  const out = new Uint8Array(src.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const from = (r * cols + c) * size;
      const to = (c * rows + r) * size;
      for (let b = 0; b < size; b++) out[to + b] = src[from + b]!;
    }
  }
  return out;
}

/**
 * Conv weight [K, C, ...kernel] and bias [K] equal to the layer, with `affine` (a BatchNorm on its
 * input features) folded in:  W'[k][c] = alpha·W[k][c]·scale[c],  b'[k] = beta·b[k] + alpha·Σc W[k][c]·shift[c].
 */
export function linearToConv(layer: LinearLayer, spatial: number[], names: { weight: string; bias: () => string }, bytes: TensorBytes, affine?: ChannelAffine): ConvParams {
  const K = layer.outFeatures;
  const Cin = layer.inFeatures;
  const channels = Cin / spatial.reduce((a, b) => a * b, 1);
  const dims = [K, channels, ...spatial];
  const w = layer.weight;
  const dtype = w.data_type!;
  const simple = layer.alpha === 1 && !affine;
  /** Input features per channel: H·W for a spatial tail's first layer, else 1. */
  const perChannel = Cin / channels;
  /** The weight as [K][Cin] float64, when arithmetic is needed (read once: it may be external data). */
  let kc: Float64Array | undefined;

  let weight: TensorProto;
  if (simple && layer.transB) {
    weight = sameData(w, names.weight, dims);
  } else if (simple) {
    const raw = rawBytes(w, bytes);
    const size = elementSize(dtype)!;
    weight = raw
      ? emptyTensor({ name: names.weight, data_type: dtype, dims, raw_data: transposeBytes(raw, Cin, K, size) })
      : makeTensor(names.weight, dtype, dims, transposeValues(readFloats(w, bytes), Cin, K));
  } else {
    const values = readFloats(w, bytes);
    kc = layer.transB ? values : transposeValues(values, Cin, K);
    const out = new Float64Array(K * Cin);
    for (let k = 0; k < K; k++) {
      for (let i = 0; i < Cin; i++) {
        out[k * Cin + i] = layer.alpha * kc[k * Cin + i]! * (affine ? affine.scale[Math.floor(i / perChannel)]! : 1);
      }
    }
    weight = makeTensor(names.weight, dtype, dims, out);
  }

  const biasValues = new Float64Array(K);
  let hasBias = false;
  if (layer.bias) {
    const b = layer.bias;
    const n = elementCount(b.dims);
    if (layer.beta === 1 && n === K && !affine) {
      return { weight, bias: sameData(b, names.bias(), [K]) };
    }
    const values = readFloats(b, bytes);
    for (let k = 0; k < K; k++) biasValues[k] = layer.beta * values[n === 1 ? 0 : k]!;
    hasBias = true;
  }
  if (affine && kc) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let i = 0; i < Cin; i++) s += kc[k * Cin + i]! * affine.shift[Math.floor(i / perChannel)]!;
      biasValues[k] = biasValues[k]! + layer.alpha * s;
    }
    hasBias = true;
  }
  if (!hasBias) return { weight };
  return { weight, bias: makeTensor(names.bias(), layer.bias?.data_type ?? dtype, [K], biasValues) };
}

/** Transposes a [rows, cols] matrix of values into [cols, rows]. */
export function transposeValues(values: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c]!;
  return out;
}

/** BatchNormalization(x) = x·scale + shift, per channel, from its constant statistics. */
export function batchNormAffine(params: { scale: TensorProto; bias: TensorProto; mean: TensorProto; variance: TensorProto; epsilon: number }, bytes: TensorBytes): ChannelAffine {
  const gamma = readFloats(params.scale, bytes);
  const beta = readFloats(params.bias, bytes);
  const mean = readFloats(params.mean, bytes);
  const variance = readFloats(params.variance, bytes);
  const n = gamma.length;
  const scale = new Float64Array(n);
  const shift = new Float64Array(n);
  for (let c = 0; c < n; c++) {
    scale[c] = gamma[c]! / Math.sqrt(variance[c]! + params.epsilon);
    shift[c] = beta[c]! - mean[c]! * scale[c]!;
  }
  return { scale, shift };
}

/** Composes two per-channel affine maps: first `a`, then `b`. */
export function composeAffine(a: ChannelAffine, b: ChannelAffine): ChannelAffine {
  const n = a.scale.length;
  const scale = new Float64Array(n);
  const shift = new Float64Array(n);
  for (let c = 0; c < n; c++) {
    scale[c] = a.scale[c]! * b.scale[c]!;
    shift[c] = a.shift[c]! * b.scale[c]! + b.shift[c]!;
  }
  return { scale, shift };
}
