// Multiply-accumulates per sample at the analysed input size. What each tail form costs before and
// after the rewrite is the rule's own business (rules/*.ts `cost`); whole-model MACs count Conv,
// ConvTranspose, Gemm and MatMul (what dominates a CNN) from the inferred shapes, so the report can
// say what conv-first costs relative to the model.

import type { GraphView } from '../graph/graph.js';
import { attrInt } from '../graph/graph.js';
import type { Dim, Shape } from '../graph/shapes.js';

/** The product of `dims`; null when one is symbolic or unknown. */
function product(dims: readonly Dim[]): number | null {
  let n = 1;
  for (const d of dims) {
    if (typeof d !== 'number') return null;
    n *= d;
  }
  return n;
}

/** H·W·… of an [N, C, spatial…] shape; null when a dim is symbolic or unknown. */
export function spatialSize(shape: readonly Dim[]): number | null {
  return product(shape.slice(2));
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
