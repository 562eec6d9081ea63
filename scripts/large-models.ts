// Large generated models for the benchmark (scripts/bench.ts) and the opt-in large tests
// (test/large.test.ts). Nothing here is kept in the repo: models are written to a folder the caller
// picks (os.tmpdir()), and weights are streamed out block by block, so writing a 2 GB model costs a
// few MB of memory.
//
//   vgg16:   input [1,3,224,224] → VGG16's 13 convs (5 stages, ReLU, MaxPool) → [1,512,7,7]
//            → Flatten → Gemm 25088→4096 → Relu → Gemm 4096→4096 → Relu → Gemm 4096→1000 → logits
//            553 MB, all weights inline (the size and tail of torchvision's VGG16 export).
//   huge:    input [1,512,7,7] → Flatten → Gemm(W [K, 25088], transB 1) → logits, W in one external
//            data file past 2 GiB (K = 22000: 2.2 GB); everything else inline.

import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { encodeChunks } from '../src/onnx/codec.js';
import { emptyTensor, makeGraph, makeModel, makeNode, makeValueInfo } from '../src/onnx/builder.js';
import { DataType, type NodeProto, type TensorProto } from '../src/onnx/schema.js';

/** Fills `out` with uniform values in [-bound, bound) from a xorshift32 stream seeded by `seed`. */
export function fillUniform(out: Float32Array, seed: number, bound: number): void {
  let s = (seed ^ 0x9e3779b9) >>> 0 || 1;
  const scale = (2 * bound) / 4294967296;
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    out[i] = s * scale - bound;
  }
}

function floatTensor(name: string, dims: number[], seed: number, bound: number): TensorProto {
  const n = dims.reduce((a, b) => a * b, 1);
  const values = new Float32Array(n);
  fillUniform(values, seed, bound);
  return emptyTensor({ name, data_type: DataType.FLOAT, dims, raw_data: new Uint8Array(values.buffer) });
}

function writeAll(path: string, chunks: readonly Uint8Array[]): void {
  const fd = openSync(path, 'w');
  try {
    for (const c of chunks) {
      let off = 0;
      while (off < c.length) off += writeSync(fd, c, off, c.length - off);
    }
  } finally {
    closeSync(fd);
  }
}

const VGG16_STAGES = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]];

/** Writes a VGG16-shaped model (torchvision layout, random Kaiming-uniform weights) to `path`. */
export function writeVgg16(path: string, seed = 16): void {
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  let x = 'input';
  let cin = 3;
  let layer = 0;
  let s = seed;
  for (const [stage, widths] of VGG16_STAGES.entries()) {
    for (const cout of widths) {
      const fanIn = cin * 9;
      const w = `features.${layer}.weight`;
      const b = `features.${layer}.bias`;
      inits.push(floatTensor(w, [cout, cin, 3, 3], s++, Math.sqrt(6 / fanIn)), floatTensor(b, [cout], s++, 1 / Math.sqrt(fanIn)));
      nodes.push(makeNode('Conv', [x, w, b], [`/features/${layer}/Conv_output_0`], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] }, `/features/${layer}/Conv`));
      x = `/features/${layer}/Conv_output_0`;
      nodes.push(makeNode('Relu', [x], [`/features/${layer + 1}/Relu_output_0`], {}, `/features/${layer + 1}/Relu`));
      x = `/features/${layer + 1}/Relu_output_0`;
      layer += 2;
      cin = cout;
    }
    nodes.push(makeNode('MaxPool', [x], [`/features/${layer}/MaxPool_output_0`], { kernel_shape: [2, 2], strides: [2, 2] }, `/features/${layer}/MaxPool`));
    x = `/features/${layer}/MaxPool_output_0`;
    layer += 1;
    void stage;
  }
  nodes.push(makeNode('Flatten', [x], ['/Flatten_output_0'], { axis: 1 }, '/Flatten'));
  x = '/Flatten_output_0';
  const fcs: [number, number, number][] = [[0, 25088, 4096], [3, 4096, 4096], [6, 4096, 1000]];
  for (const [i, fin, fout] of fcs) {
    const w = `classifier.${i}.weight`;
    const b = `classifier.${i}.bias`;
    inits.push(floatTensor(w, [fout, fin], s++, Math.sqrt(6 / fin)), floatTensor(b, [fout], s++, 1 / Math.sqrt(fin)));
    const out = i === 6 ? 'logits' : `/classifier/${i}/Gemm_output_0`;
    nodes.push(makeNode('Gemm', [x, w, b], [out], { alpha: { f: 1 }, beta: { f: 1 }, transB: 1 }, `/classifier/${i}/Gemm`));
    x = out;
    if (i !== 6) {
      nodes.push(makeNode('Relu', [x], [`/classifier/${i + 1}/Relu_output_0`], {}, `/classifier/${i + 1}/Relu`));
      x = `/classifier/${i + 1}/Relu_output_0`;
    }
  }
  const graph = makeGraph(nodes, 'main_graph', [makeValueInfo('input', DataType.FLOAT, [1, 3, 224, 224])], [makeValueInfo('logits', DataType.FLOAT, [1, 1000])], inits);
  writeAll(path, encodeChunks('onnx.ModelProto', makeModel(graph, { opset: 13, producer: 'gapify-bench' })));
}

export interface HugeModel {
  model: string;
  data: string;
  /** Bytes in the data file. */
  dataBytes: number;
}

/**
 * Writes `<dir>/huge.onnx` and its data file `<dir>/huge.weights` (W [classes, 25088] float32,
 * transB 1), streamed in 16 MB blocks of seeded random values — no buffer the size of the weight.
 */
export function writeHugeExternal(dir: string, classes = 22000, seed = 7): HugeModel {
  const features = 512 * 7 * 7;
  const model = join(dir, 'huge.onnx');
  const data = join(dir, 'huge.weights');
  const total = classes * features * 4;
  const block = new Float32Array(4 * 1024 * 1024);
  const fd = openSync(data, 'w');
  try {
    let written = 0;
    for (let i = 0; written < total; i++) {
      fillUniform(block, seed * 100003 + i, Math.sqrt(6 / features));
      const bytes = new Uint8Array(block.buffer, 0, Math.min(block.byteLength, total - written));
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off, written + off);
      written += bytes.length;
    }
  } finally {
    closeSync(fd);
  }
  const weight = emptyTensor({
    name: 'fc.weight', data_type: DataType.FLOAT, dims: [classes, features], data_location: 1,
    external_data: [{ key: 'location', value: 'huge.weights' }, { key: 'offset', value: '0' }, { key: 'length', value: String(total) }],
  });
  const bias = floatTensor('fc.bias', [classes], seed + 1, 0.01);
  const graph = makeGraph([
    makeNode('Flatten', ['input'], ['/Flatten_output_0'], { axis: 1 }, '/Flatten'),
    makeNode('Gemm', ['/Flatten_output_0', 'fc.weight', 'fc.bias'], ['logits'], { alpha: { f: 1 }, beta: { f: 1 }, transB: 1 }, '/fc/Gemm'),
  ], 'main_graph', [makeValueInfo('input', DataType.FLOAT, [1, 512, 7, 7])], [makeValueInfo('logits', DataType.FLOAT, [1, classes])], [weight, bias]);
  writeAll(model, encodeChunks('onnx.ModelProto', makeModel(graph, { opset: 13, producer: 'gapify-bench' })));
  return { model, data, dataBytes: total };
}
