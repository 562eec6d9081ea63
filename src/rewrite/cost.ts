// What a tail costs, before and after the rewrite, per sample at the analysed input size.
//
//   global tail:  before     = in·out            (Gemm on the pooled vector)
//                 pool-first = in·out            (1×1 Conv on the pooled 1×1 map: the same products)
//                 conv-first = in·out·H·W        (1×1 Conv at every position of the map, then the mean)
//   spatial tail: Σ in·out before and after       (at the trained size the H×W Conv sees one window)
//
// Whole-model MACs count Conv, ConvTranspose, Gemm and MatMul (what dominates a CNN) from the
// inferred shapes, so the report can say what conv-first costs relative to the model.

import type { GraphView } from '../graph/graph.js';
import { attrInt } from '../graph/graph.js';
import type { Dim, Shape } from '../graph/shapes.js';
import type { LinearLayer, Tail } from './match.js';

export interface TailCost {
  /** Parameters of the rewritten layers (the rewrite keeps them). */
  params: number;
  /** MACs per sample of the tail as it is, and after each order; null: unknown (symbolic map size) or not applicable. */
  macs: { before: number | null; convFirst: number | null; poolFirst: number | null };
}

/** The product of `dims`; null when one is symbolic or unknown. */
function product(dims: readonly Dim[]): number | null {
  let n = 1;
  for (const d of dims) {
    if (typeof d !== 'number') return null;
    n *= d;
  }
  return n;
}

export function layerParams(l: LinearLayer): number {
  return l.inFeatures * l.outFeatures + (l.bias ? l.outFeatures : 0);
}

/** H·W·… of an [N, C, spatial…] shape; null when a dim is symbolic or unknown. */
export function spatialSize(shape: readonly Dim[]): number | null {
  return product(shape.slice(2));
}

export function tailCost(tail: Tail): TailCost {
  if (tail.kind === 'global') {
    const macs = tail.linear.inFeatures * tail.linear.outFeatures;
    const hw = spatialSize(tail.featureShape);
    return { params: layerParams(tail.linear), macs: { before: macs, convFirst: hw === null ? null : macs * hw, poolFirst: macs } };
  }
  if (tail.kind === 'spatial') {
    const macs = tail.layers.reduce((s, l) => s + l.inFeatures * l.outFeatures, 0);
    return { params: tail.layers.reduce((s, l) => s + layerParams(l), 0), macs: { before: macs, convFirst: macs, poolFirst: null } };
  }
  return { params: 0, macs: { before: null, convFirst: null, poolFirst: null } };
}

/**
 * Multiply-accumulates per sample of the model's Conv/Gemm/MatMul nodes; null when a shape they
 * need is unknown. (Elementwise ops, pools and normalizations are a few percent of a CNN.)
 */
export function modelMacs(graph: GraphView, shapes: ReadonlyMap<string, Shape>): number | null {
  let total = 0;
  for (const n of graph.nodes) {
    const out = n.output[0] ? shapes.get(n.output[0]) : undefined;
    const x = n.input[0] ? shapes.get(n.input[0]) : undefined;
    const w = n.input[1] ? shapes.get(n.input[1]) : undefined;
    let macs: number | null = 0;
    switch (n.op_type) {
      case 'Conv': {
        // out elements (per sample) × (C_in / group) × kernel size = out[1:] × weight[1:]
        const a = out && product(out.slice(1));
        const b = w && product(w.slice(1));
        macs = a == null || b == null ? null : a * b;
        break;
      }
      case 'ConvTranspose': {
        const a = x && product(x.slice(1));
        const b = w && product(w.slice(1));
        macs = a == null || b == null ? null : a * b;
        break;
      }
      case 'Gemm': {
        const k = x ? x[attrInt(n, 'transA', 0) ? 0 : 1] : undefined;
        const o = out ? out[1] : undefined;
        macs = typeof k === 'number' && typeof o === 'number' ? k * o : null;
        break;
      }
      case 'MatMul': {
        // Per sample: everything but the batch dim of the output, times the inner dim.
        const k = x ? x[x.length - 1] : undefined;
        const a = out && product(out.length > 1 ? out.slice(1) : out);
        macs = typeof k === 'number' && a != null ? a * k : null;
        break;
      }
      default:
        continue;
    }
    if (macs === null) return null;
    total += macs;
  }
  return total;
}
