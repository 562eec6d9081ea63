// A tiny network builder shared by the fixture script and the tests: deterministic weights and
// PyTorch-1.13-style names (node '/fc/Gemm', value '/fc/Gemm_output_0', weight 'fc.weight').

import { makeConstantNode, makeNode, makeTensor, type AttrValue } from '../../src/onnx/builder.js';
import { DataType, type NodeProto, type TensorProto } from '../../src/onnx/schema.js';
import { rng } from './bytes.js';

// ---------------------------------------------------------------------------------------------
// Deterministic random numbers (mulberry32 + Box–Muller).

export class Rng {
  /** Uniform in [0, 1). */
  readonly next: () => number;

  constructor(seed: number) {
    this.next = rng(seed);
  }

  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
}

// ---------------------------------------------------------------------------------------------
// A small network builder in the style of PyTorch 1.13 exports (node '/fc/Gemm', value
// '/fc/Gemm_output_0', weights 'fc.weight').

export class Net {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];

  constructor(
    readonly dtype: number,
    readonly rng: Rng,
  ) {}

  /** Adds an initializer of the net's float type. */
  weight(name: string, dims: number[], values: ArrayLike<number>): string {
    this.initializers.push(makeTensor(name, this.dtype, dims, values));
    return name;
  }

  /** `count` values, normal with standard deviation `std`. */
  normals(count: number, std: number): number[] {
    return Array.from({ length: count }, () => this.rng.normal() * std);
  }

  uniforms(count: number, bound: number): number[] {
    return Array.from({ length: count }, () => this.rng.uniform(-bound, bound));
  }

  /** Adds a node named `name`; returns its (first) output, `${name}_output_0` unless given. */
  op(opType: string, name: string, inputs: string[], attrs: Record<string, AttrValue> = {}, output = `${name}_output_0`): string {
    this.nodes.push(makeNode(opType, inputs, [output], attrs, name));
    return output;
  }

  /** A Constant node holding an int64 tensor. */
  constInt64(name: string, dims: number[], values: number[]): string {
    const output = `${name}_output_0`;
    this.nodes.push(makeConstantNode(output, makeTensor('', DataType.INT64, dims, values), name));
    return output;
  }

  /**
   * `values` (float, `dims`) as a QDQ model stores a weight: int8, symmetric, one scale per index
   * of `axis` (per tensor when undefined), behind a DequantizeLinear. Returns the dequantized value.
   */
  dequantized(name: string, dims: number[], values: ArrayLike<number>, axis?: number): string {
    const groups = axis === undefined ? 1 : dims[axis]!;
    const inner = axis === undefined ? values.length : dims.slice(axis + 1).reduce((a, b) => a * b, 1);
    const groupOf = (i: number): number => (axis === undefined ? 0 : Math.floor(i / inner) % groups);
    const scales = new Array<number>(groups).fill(0);
    for (let i = 0; i < values.length; i++) scales[groupOf(i)] = Math.max(scales[groupOf(i)]!, Math.abs(values[i]!) / 127);
    for (let g = 0; g < groups; g++) if (scales[g] === 0) scales[g] = 1;
    const q = Array.from(values, (v, i) => Math.max(-127, Math.min(127, Math.round(v / scales[groupOf(i)]!))));
    const shape = axis === undefined ? [] : [groups];
    this.initializers.push(
      makeTensor(`${name}_quantized`, DataType.INT8, dims, q),
      makeTensor(`${name}_scale`, DataType.FLOAT, shape, scales),
      makeTensor(`${name}_zero_point`, DataType.INT8, shape, new Array<number>(groups).fill(0)),
    );
    return this.op('DequantizeLinear', `${name}_DequantizeLinear`, [`${name}_quantized`, `${name}_scale`, `${name}_zero_point`], axis === undefined ? {} : { axis }, name);
  }

  /** A bias as quantize_static stores it: int32 with scale inputScale · weightScales[k], per output. */
  dequantizedBias(name: string, values: readonly number[], inputScale: number, weightScale: string): string {
    const w = this.initializers.find((t) => t.name === weightScale)!;
    const ws = Array.from(new Float32Array(w.raw_data!.buffer.slice(w.raw_data!.byteOffset, w.raw_data!.byteOffset + w.raw_data!.byteLength)));
    const scales = values.map((_, k) => inputScale * (ws[ws.length === 1 ? 0 : k] ?? 1));
    this.initializers.push(
      makeTensor(`${name}_quantized`, DataType.INT32, [values.length], values.map((v, k) => Math.round(v / scales[k]!))),
      makeTensor(`${name}_scale`, DataType.FLOAT, [values.length], scales),
      makeTensor(`${name}_zero_point`, DataType.INT32, [values.length], new Array<number>(values.length).fill(0)),
    );
    return this.op('DequantizeLinear', `${name}_DequantizeLinear`, [`${name}_quantized`, `${name}_scale`, `${name}_zero_point`], { axis: 0 }, name);
  }

  /** An activation's QuantizeLinear → DequantizeLinear pair: uint8, one scale and zero point. */
  qdq(scope: string, x: string, scale: number, zeroPoint: number): string {
    this.initializers.push(makeTensor(`${scope}_scale`, DataType.FLOAT, [], [scale]), makeTensor(`${scope}_zero_point`, DataType.UINT8, [], [zeroPoint]));
    const q = this.op('QuantizeLinear', `${scope}/QuantizeLinear`, [x, `${scope}_scale`, `${scope}_zero_point`]);
    return this.op('DequantizeLinear', `${scope}/DequantizeLinear`, [q, `${scope}_scale`, `${scope}_zero_point`]);
  }

  conv(scope: string, x: string, cin: number, cout: number, k: number, stride: number, pad: number): string {
    const fanIn = cin * k * k;
    const w = this.weight(`${scope}.weight`, [cout, cin, k, k], this.normals(cout * fanIn, Math.sqrt(2 / fanIn)));
    const b = this.weight(`${scope}.bias`, [cout], this.uniforms(cout, 1 / Math.sqrt(fanIn)));
    return this.op('Conv', `/${scope}/Conv`, [x, w, b], {
      dilations: [1, 1],
      group: 1,
      kernel_shape: [k, k],
      pads: [pad, pad, pad, pad],
      strides: [stride, stride],
    });
  }

  /** The shared backbone: input [N,3,32,32] → [N,16,16,16]. */
  backbone(input: string): string {
    let x = this.conv('conv1', input, 3, 8, 3, 1, 1);
    x = this.op('Relu', '/relu/Relu', [x]);
    x = this.conv('conv2', x, 8, 16, 3, 2, 1);
    return this.op('Relu', '/relu_1/Relu', [x]);
  }

  /** The classifier weights every tail uses: W [10,16] (out × in), b [10]. Drawn after the backbone. */
  classifier(): { w: number[]; b: number[] } {
    return { w: this.normals(10 * 16, Math.sqrt(1 / 16)), b: this.uniforms(10, 0.25) };
  }
}

