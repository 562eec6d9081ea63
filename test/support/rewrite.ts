// What the rule tests share: running gapify into a temp folder, the assertions on a rewritten
// tail, and the head builders on the fixtures' backbone (test/support/models.ts).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gapify } from '../../src/gapify.js';
import { attrInts } from '../../src/graph/graph.js';
import type { GapifyReport } from '../../src/result.js';
import { classifier, producerOf, saveModel } from './models.js';

export const FIXTURES = fileURLToPath(new URL('../../../fixtures/', import.meta.url));

/** Classes and channels of the heads built on the backbone's [N, 16, 16, 16] map. */
export const K = 10;
export const C = 16;

type Net = Parameters<Parameters<typeof classifier>[0]['tail']>[0];

/** Runs gapify on models into `dir`, each output under a name of its own. */
export function rewriter(dir: string): {
  run(input: string, options?: Parameters<typeof gapify>[1]): Promise<{ report: GapifyReport; out: string }>;
  rewriteBuilt(name: string, model: ReturnType<typeof classifier>, options?: Parameters<typeof gapify>[1]): Promise<{ report: GapifyReport; out: string }>;
} {
  let counter = 0;
  const run = async (input: string, options: Parameters<typeof gapify>[1] = {}): Promise<{ report: GapifyReport; out: string }> => {
    const out = join(dir, `out-${counter++}.onnx`);
    return { report: await gapify(input, { output: out, ...options }), out };
  };
  return { run, rewriteBuilt: (name, model, options = {}) => run(saveModel(dir, `${name}.onnx`, model), options) };
}

export function assertVerifiedWithin(report: GapifyReport, rel: number): void {
  const v = report.verification;
  assert.equal(v.status, 'passed');
  if (v.status !== 'passed') return;
  for (const o of v.comparison.outputs) assert.ok((o.maxRelError ?? 1) <= rel, `${o.name}: rel ${o.maxRelError}`);
}

/** The rewritten global tail: Conv 1×1 → GlobalAveragePool → Flatten producing `output`. */
export function assertConvFirstTail(out: string, output: string): void {
  const flatten = producerOf(out, output);
  assert.equal(flatten?.op_type, 'Flatten');
  const gap = producerOf(out, flatten!.input[0]!);
  assert.equal(gap?.op_type, 'GlobalAveragePool');
  const conv = producerOf(out, gap!.input[0]!);
  assert.equal(conv?.op_type, 'Conv');
  assert.deepEqual(attrInts(conv!, 'kernel_shape'), [1, 1]);
}

/** The rewritten global tail in pool-first order: (pooled map) → Conv 1×1 → Flatten producing `output`, no Gemm. */
export function assertPoolFirstTail(out: string, output: string): void {
  const flatten = producerOf(out, output);
  assert.equal(flatten?.op_type, 'Flatten');
  const conv = producerOf(out, flatten!.input[0]!);
  assert.equal(conv?.op_type, 'Conv');
  assert.deepEqual(attrInts(conv!, 'kernel_shape'), [1, 1]);
  assert.match(producerOf(out, conv!.input[0]!)?.op_type ?? '', /^(GlobalAveragePool|ReduceMean)$/);
}

/** A Gemm (transB=1 unless `attrs` say otherwise) with the classifier's weights, producing `out`. */
export function gemm(net: Net, x: string, out = 'logits', attrs: Record<string, number | { f: number }> = { transB: 1 }): string {
  const { w, b } = net.classifier();
  const fw = net.weight(`${out}.weight`, [K, C], w);
  const fb = net.weight(`${out}.bias`, [K], b);
  return net.op('Gemm', `/${out}/Gemm`, [x, fw, fb], attrs, out);
}

/** GlobalAveragePool → Flatten of `x`. */
export function gapFlatten(net: Net, x: string): string {
  return net.op('Flatten', '/Flatten', [net.op('GlobalAveragePool', '/pool/GlobalAveragePool', [x])], { axis: 1 });
}
