// Helpers for tests that build a classifier in code, save it, and run gapify on it.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeGraph, makeModel, makeValueInfo, type ModelOptions } from '../../src/onnx/builder.js';
import { encode } from '../../src/onnx/codec.js';
import { readModel } from '../../src/onnx/model-io.js';
import { DataType, type ModelProto, type NodeProto } from '../../src/onnx/schema.js';
import { Net, Rng } from './net.js';

export { Net };

export function tempDir(prefix = 'gapify-test-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function saveModel(dir: string, name: string, model: ModelProto): string {
  const path = join(dir, name);
  writeFileSync(path, encode('onnx.ModelProto', model));
  return path;
}

export interface TailSpec {
  dtype?: number;
  batch?: number | string;
  opset?: number;
  model?: ModelOptions;
  /** Extra graph outputs besides those the tail returns: [name, dims]. */
  outputs?: [string, (number | string)[]][];
  /** Builds the tail on the backbone's [N,16,16,16] map; returns its output name(s) with dims. */
  tail(net: Net, x: string): [string, (number | string)[]][];
}

/**
 * The fixtures' backbone (input [N,3,32,32] → Conv/Relu/Conv(stride 2)/Relu → [N,16,16,16]) with
 * a tail built by the test, seeded so the same spec always gives the same model.
 */
export function classifier(spec: TailSpec, seed = 7): ModelProto {
  const dtype = spec.dtype ?? DataType.FLOAT;
  const batch = spec.batch ?? 'N';
  const net = new Net(dtype, new Rng(seed));
  const x = net.backbone('input');
  const outs = [...spec.tail(net, x), ...(spec.outputs ?? [])];
  const graph = makeGraph(
    net.nodes, 'test_graph',
    [makeValueInfo('input', dtype, [batch, 3, 32, 32])],
    outs.map(([name, dims]) => makeValueInfo(name, dtype, dims)),
    net.initializers,
  );
  return makeModel(graph, { opset: spec.opset ?? 13, ...spec.model });
}

/*
 *  input [N,3,32,32] → backbone → [N,16,16,16] → GlobalAveragePool → Flatten
 *    → Gemm(fc.weight [10,16], transB 1) → logits          (the fixture resnet_tail.onnx, built in code)
 */
export function resnetTail(): ModelProto {
  return classifier({
    tail(net, x) {
      const { w, b } = net.classifier();
      const p = net.op('GlobalAveragePool', '/avgpool/GlobalAveragePool', [x]);
      const f = net.op('Flatten', '/Flatten', [p], { axis: 1 });
      net.op('Gemm', '/fc/Gemm', [f, net.weight('fc.weight', [10, 16], w), net.weight('fc.bias', [10], b)], { alpha: { f: 1 }, beta: { f: 1 }, transB: 1 }, 'logits');
      return [['logits', ['N', 10]]];
    },
  });
}

export function opCounts(path: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const n of readModel(path).model.graph!.node) counts[n.op_type ?? ''] = (counts[n.op_type ?? ''] ?? 0) + 1;
  return counts;
}

export function nodesOf(path: string): NodeProto[] {
  return readModel(path).model.graph!.node;
}

/** The node producing `value` in the model at `path`. */
export function producerOf(path: string, value: string): NodeProto | undefined {
  return nodesOf(path).find((n) => n.output.includes(value));
}
