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
//   zoo:     the shapes of torchvision's classifier exports (BatchNorm folded into the convs, as
//            torch.onnx.export leaves them): VGG 11/13/16/19, ResNet 18/34/50/101/152, MobileNetV2,
//            DenseNet-121, AlexNet — 3.1 GB in all, for the lint-vs-cat benchmark (tensors of every
//            size, from DenseNet's hundreds of small BatchNorm vectors to VGG's 400 MB Gemm).

import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { encodeChunks } from '../src/onnx/codec.js';
import { emptyTensor, makeGraph, makeModel, makeNode, makeValueInfo, type AttrValue } from '../src/onnx/builder.js';
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

const VGG_STAGES: Readonly<Record<11 | 13 | 16 | 19, number[][]>> = {
  11: [[64], [128], [256, 256], [512, 512], [512, 512]],
  13: [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]],
  16: [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]],
  19: [[64, 64], [128, 128], [256, 256, 256, 256], [512, 512, 512, 512], [512, 512, 512, 512]],
};

/** Writes a VGG16-shaped model (torchvision layout, random Kaiming-uniform weights) to `path`. */
export function writeVgg16(path: string, seed = 16): void {
  writeVgg(path, 16, seed);
}

/** Writes a VGG-shaped model of the given depth (torchvision layout, random weights) to `path`. */
export function writeVgg(path: string, depth: 11 | 13 | 16 | 19, seed: number = depth): void {
  const VGG16_STAGES = VGG_STAGES[depth];
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

// --- the zoo ---------------------------------------------------------------------------------------

/** Builds a torchvision-style export: Conv (BatchNorm folded in, so with a bias) and friends. */
class Exporter {
  readonly nodes: NodeProto[] = [];
  readonly inits: TensorProto[] = [];
  private seed: number;
  private n = 0;

  constructor(seed: number) {
    this.seed = seed;
  }

  conv(scope: string, x: string, cin: number, cout: number, k: number, stride: number, groups = 1): string {
    const fanIn = (cin / groups) * k * k;
    const w = `${scope}.weight`;
    const b = `${scope}.bias`;
    this.inits.push(floatTensor(w, [cout, cin / groups, k, k], this.seed++, Math.sqrt(6 / fanIn)), floatTensor(b, [cout], this.seed++, 1 / Math.sqrt(fanIn)));
    const pad = (k - 1) >> 1;
    return this.op('Conv', `/${scope.replace(/\./g, '/')}/Conv`, [x, w, b], { kernel_shape: [k, k], pads: [pad, pad, pad, pad], strides: [stride, stride], group: groups });
  }

  op(op: string, name: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    const out = `${name}_output_${this.n++}`;
    this.nodes.push(makeNode(op, inputs, [out], attrs, name));
    return out;
  }

  /** GlobalAveragePool → Flatten → Gemm(cin → 1000) → logits. */
  head(x: string, cin: number, fc = 'fc'): void {
    x = this.op('GlobalAveragePool', '/avgpool/GlobalAveragePool', [x]);
    x = this.op('Flatten', '/Flatten', [x], { axis: 1 });
    this.inits.push(floatTensor(`${fc}.weight`, [1000, cin], this.seed++, Math.sqrt(6 / cin)), floatTensor(`${fc}.bias`, [1000], this.seed++, 1 / Math.sqrt(cin)));
    this.nodes.push(makeNode('Gemm', [x, `${fc}.weight`, `${fc}.bias`], ['logits'], { alpha: { f: 1 }, beta: { f: 1 }, transB: 1 }, `/${fc}/Gemm`));
  }

  write(path: string): void {
    const graph = makeGraph(this.nodes, 'main_graph', [makeValueInfo('input', DataType.FLOAT, [1, 3, 224, 224])], [makeValueInfo('logits', DataType.FLOAT, [1, 1000])], this.inits);
    writeAll(path, encodeChunks('onnx.ModelProto', makeModel(graph, { opset: 13, producer: 'gapify-bench' })));
  }
}

const RESNET_BLOCKS: Readonly<Record<18 | 34 | 50 | 101 | 152, [number, number, number, number]>> = {
  18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3],
};

/** A ResNet of torchvision's shape: basic blocks for 18/34, bottlenecks (×4 expansion) from 50 on. */
export function writeResnet(path: string, depth: 18 | 34 | 50 | 101 | 152, seed: number = depth): void {
  const e = new Exporter(seed);
  const bottleneck = depth >= 50;
  let x = e.op('Relu', '/relu/Relu', [e.conv('conv1', 'input', 3, 64, 7, 2)]);
  x = e.op('MaxPool', '/maxpool/MaxPool', [x], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2] });
  let cin = 64;
  RESNET_BLOCKS[depth].forEach((blocks, stage) => {
    const width = 64 << stage;
    const cout = bottleneck ? width * 4 : width;
    for (let i = 0; i < blocks; i++) {
      const scope = `layer${stage + 1}.${i}`;
      const stride = i === 0 && stage > 0 ? 2 : 1;
      let y: string;
      if (bottleneck) {
        y = e.op('Relu', `/${scope}/relu/Relu`, [e.conv(`${scope}.conv1`, x, cin, width, 1, 1)]);
        y = e.op('Relu', `/${scope}/relu_1/Relu`, [e.conv(`${scope}.conv2`, y, width, width, 3, stride)]);
        y = e.conv(`${scope}.conv3`, y, width, cout, 1, 1);
      } else {
        y = e.op('Relu', `/${scope}/relu/Relu`, [e.conv(`${scope}.conv1`, x, cin, width, 3, stride)]);
        y = e.conv(`${scope}.conv2`, y, width, cout, 3, 1);
      }
      const skip = stride !== 1 || cin !== cout ? e.conv(`${scope}.downsample.0`, x, cin, cout, 1, stride) : x;
      x = e.op('Relu', `/${scope}/relu_2/Relu`, [e.op('Add', `/${scope}/Add`, [y, skip])]);
      cin = cout;
    }
  });
  e.head(x, cin);
  e.write(path);
}

/** MobileNetV2 (torchvision): inverted residuals with depthwise 3×3 convs, Clip as ReLU6, a 1280-wide head. */
export function writeMobilenetV2(path: string, seed = 2): void {
  const e = new Exporter(seed);
  // Opset 13's Clip takes its bounds as inputs: two scalar initializers, as the exporter writes them.
  const scalar = (name: string, v: number): TensorProto => emptyTensor({ name, data_type: DataType.FLOAT, dims: [], raw_data: new Uint8Array(Float32Array.of(v).buffer) });
  e.inits.push(scalar('relu6.min', 0), scalar('relu6.max', 6));
  const relu6 = (name: string, x: string): string => e.op('Clip', name, [x, 'relu6.min', 'relu6.max']);
  let x = relu6('/features/features.0/features.0.2/Clip', e.conv('features.0.0', 'input', 3, 32, 3, 2));
  let cin = 32;
  let layer = 1;
  for (const [t, c, n, s] of [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]] as const) {
    for (let i = 0; i < n; i++) {
      const scope = `features.${layer++}.conv`;
      const hidden = cin * t;
      let y = x;
      if (t !== 1) y = relu6(`/${scope}/expand/Clip`, e.conv(`${scope}.0.0`, y, cin, hidden, 1, 1));
      y = relu6(`/${scope}/dw/Clip`, e.conv(`${scope}.1.0`, y, hidden, hidden, 3, i === 0 ? s : 1, hidden));
      y = e.conv(`${scope}.2`, y, hidden, c, 1, 1);
      x = i > 0 || (s === 1 && cin === c) ? e.op('Add', `/${scope}/Add`, [x, y]) : y;
      cin = c;
    }
  }
  x = relu6('/features/features.18/Clip', e.conv('features.18.0', x, cin, 1280, 1, 1));
  e.head(x, 1280, 'classifier.1');
  e.write(path);
}

/** AlexNet (torchvision): five convs, an adaptive pool that is a no-op at 224, and a 9216→4096→4096→1000 spatial head. */
export function writeAlexnet(path: string, seed = 5): void {
  const e = new Exporter(seed);
  let x = 'input';
  const convs: [number, number, number, number, boolean][] = [[3, 64, 11, 4, true], [64, 192, 5, 1, true], [192, 384, 3, 1, false], [384, 256, 3, 1, false], [256, 256, 3, 1, true]];
  convs.forEach(([cin, cout, k, stride, pool], i) => {
    x = e.op('Relu', `/features/${i}/Relu`, [e.conv(`features.${i}`, x, cin, cout, k, stride)]);
    if (pool) x = e.op('MaxPool', `/features/${i}/MaxPool`, [x], { kernel_shape: [3, 3], strides: [2, 2] });
  });
  x = e.op('Flatten', '/Flatten', [x], { axis: 1 });
  const fcs: [number, number][] = [[9216, 4096], [4096, 4096], [4096, 1000]];
  fcs.forEach(([fin, fout], i) => {
    const w = `classifier.${i}.weight`;
    const b = `classifier.${i}.bias`;
    e.inits.push(floatTensor(w, [fout, fin], seed * 10 + i, Math.sqrt(6 / fin)), floatTensor(b, [fout], seed * 10 + i + 5, 1 / Math.sqrt(fin)));
    const out = i === 2 ? 'logits' : `/classifier/${i}/Gemm_output_0`;
    e.nodes.push(makeNode('Gemm', [x, w, b], [out], { alpha: { f: 1 }, beta: { f: 1 }, transB: 1 }, `/classifier/${i}/Gemm`));
    x = i === 2 ? out : e.op('Relu', `/classifier/${i}/Relu`, [out]);
  });
  e.write(path);
}

/**
 * DenseNet-121 (torchvision): pre-activation BatchNorms stay BatchNormalization nodes (only the one
 * after each bottleneck conv folds), so ~600 small tensors and none of 1 MiB — every byte of the
 * file is a small tensor.
 */
export function writeDensenet121(path: string, seed = 121): void {
  const e = new Exporter(seed);
  let s = seed * 1000;
  const bn = (scope: string, x: string, c: number): string => {
    const names = ['weight', 'bias', 'running_mean', 'running_var'].map((n) => `${scope}.${n}`);
    e.inits.push(floatTensor(names[0]!, [c], s++, 1), floatTensor(names[1]!, [c], s++, 0.1), floatTensor(names[2]!, [c], s++, 0.1));
    const variance = new Float32Array(c).fill(1);
    e.inits.push(emptyTensor({ name: names[3]!, data_type: DataType.FLOAT, dims: [c], raw_data: new Uint8Array(variance.buffer) }));
    return e.op('BatchNormalization', `/${scope.replace(/\./g, '/')}/BatchNormalization`, [x, ...names], { epsilon: { f: 1e-5 } });
  };
  let x = e.op('Relu', '/features/relu0/Relu', [e.conv('features.conv0', 'input', 3, 64, 7, 2)]);
  x = e.op('MaxPool', '/features/pool0/MaxPool', [x], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2] });
  let c = 64;
  [6, 12, 24, 16].forEach((layers, b) => {
    for (let i = 1; i <= layers; i++) {
      const scope = `features.denseblock${b + 1}.denselayer${i}`;
      let y = e.op('Relu', `/${scope}/relu1/Relu`, [bn(`${scope}.norm1`, x, c)]);
      y = e.op('Relu', `/${scope}/relu2/Relu`, [e.conv(`${scope}.conv1`, y, c, 128, 1, 1)]);
      y = e.conv(`${scope}.conv2`, y, 128, 32, 3, 1);
      x = e.op('Concat', `/${scope}/Concat`, [x, y], { axis: 1 });
      c += 32;
    }
    if (b < 3) {
      const scope = `features.transition${b + 1}`;
      let y = e.op('Relu', `/${scope}/relu/Relu`, [bn(`${scope}.norm`, x, c)]);
      y = e.conv(`${scope}.conv`, y, c, c / 2, 1, 1);
      x = e.op('AveragePool', `/${scope}/pool/AveragePool`, [y], { kernel_shape: [2, 2], strides: [2, 2] });
      c /= 2;
    }
  });
  x = e.op('Relu', '/Relu', [bn('features.norm5', x, c)]);
  e.head(x, c, 'classifier');
  e.write(path);
}

/** Writes the zoo into `dir`; returns the paths written, smallest first. */
export function writeZoo(dir: string): string[] {
  const paths: string[] = [];
  const add = (name: string, write: (p: string) => void): void => {
    const p = join(dir, `${name}.onnx`);
    write(p);
    paths.push(p);
  };
  add('mobilenet_v2', (p) => writeMobilenetV2(p));
  add('densenet121', (p) => writeDensenet121(p));
  for (const d of [18, 34, 50, 101, 152] as const) add(`resnet${d}`, (p) => writeResnet(p, d));
  add('alexnet', (p) => writeAlexnet(p));
  for (const d of [11, 13, 16, 19] as const) add(`vgg${d}`, (p) => writeVgg(p, d));
  return paths;
}
