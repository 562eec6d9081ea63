// The network's stride: how many input pixels one step of its most downsampled map spans, per axis
// — the product of the strides of the Convs and pools on the way there (ResNet, ShuffleNet: 32).
// Sizes that differ from the trained one by whole strides scale every map exactly; sizes that don't
// round some map down and may make two branches disagree by a pixel, which says nothing about
// whether the model accepts other sizes.
//
// Read from the graph, not assumed: each value carries the product of the strides between it and
// an image input ([1, 1] at the input), a strided Conv/pool multiplies it, ConvTranspose and a Resize
// with constant integer scales divide it, anything else passes on the largest of its inputs'. The
// stride is the largest product reached. Axes are the last two of each op's `strides` ([h, w]).

import type { GraphView } from '../graph/graph.js';
import { attrInts } from '../graph/graph.js';
import { readFloats } from '../onnx/tensor.js';
import type { NodeProto } from '../onnx/schema.js';
import type { Size } from './plan.js';

const STRIDED = new Set(['Conv', 'MaxPool', 'AveragePool', 'LpPool', 'MaxUnpool']);

/** The [h, w] scale a Resize/Upsample applies, when its scales are constant integers ≥ 1. */
function upscale(graph: GraphView, n: NodeProto): Size | undefined {
  const name = n.op_type === 'Upsample' ? n.input[1] : n.input[2];
  const t = name ? graph.constant(name) : undefined;
  if (!t) return undefined;
  const s = [...readFloats(t)];
  const [h, w] = [s.at(-2), s.at(-1)];
  return h !== undefined && w !== undefined && Number.isInteger(h) && Number.isInteger(w) && h >= 1 && w >= 1 ? [h, w] : undefined;
}

export function networkStride(graph: GraphView, images: readonly string[]): Size {
  const factor = new Map<string, Size>(images.map((name) => [name, [1, 1]]));
  let best: Size = [1, 1];
  let order: NodeProto[];
  try {
    order = graph.topologicalOrder();
  } catch {
    return best; // a broken order: the size analysis reports it
  }
  for (const n of order) {
    let f: Size | undefined;
    for (const i of n.input) {
      const g = i ? factor.get(i) : undefined;
      if (g) f = f ? [Math.max(f[0], g[0]), Math.max(f[1], g[1])] : g;
    }
    if (!f) continue;
    const strides = attrInts(n, 'strides');
    if (strides && strides.length >= 2 && strides.every((s) => s >= 1)) {
      const [sh, sw] = [strides.at(-2)!, strides.at(-1)!];
      if (STRIDED.has(n.op_type ?? '')) f = [f[0] * sh, f[1] * sw];
      else if (n.op_type === 'ConvTranspose') f = [Math.max(1, f[0] / sh), Math.max(1, f[1] / sw)];
    } else if (n.op_type === 'Resize' || n.op_type === 'Upsample') {
      const up = upscale(graph, n);
      if (up) f = [Math.max(1, f[0] / up[0]), Math.max(1, f[1] / up[1])];
    }
    const whole: Size = [Math.ceil(f[0]), Math.ceil(f[1])];
    for (const o of n.output) if (o) factor.set(o, whole);
    best = [Math.max(best[0], whole[0]), Math.max(best[1], whole[1])];
  }
  return best;
}
