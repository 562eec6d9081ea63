// Small read-only readers the matchers share: constant sizes and ints, axes, known dims.

import { attrInts, type GraphView } from '../graph/graph.js';
import type { Shape } from '../graph/shapes.js';
import type { NodeProto } from '../onnx/schema.js';
import { elementCount, readInts } from '../onnx/tensor.js';

export function knownDims(shape: Shape | undefined): number[] | undefined {
  if (!shape || shape.some((d) => typeof d !== 'number')) return undefined;
  return shape as number[];
}

/** Elements of a constant input; undefined when not a constant. */
export function constantCount(graph: GraphView, value: string | undefined): number | undefined {
  const t = value ? graph.constant(value) : undefined;
  if (!t) return undefined;
  try {
    return elementCount(t.dims);
  } catch {
    return undefined;
  }
}

export function constInts(graph: GraphView, value: string | undefined): number[] | undefined {
  if (!value) return undefined;
  const t = graph.constant(value);
  if (!t) return undefined;
  try {
    // Axes, pads and shapes are a handful of ints; anything big is no such argument (and might be
    // a lazily read payload that is not loaded).
    if (elementCount(t.dims) > 64) return undefined;
    return readInts(t, undefined);
  } catch {
    return undefined;
  }
}

/** Axes of a Squeeze/Unsqueeze/Reduce node: attribute before `inputFrom`, input after. */
export function axesOf(graph: GraphView, node: NodeProto, inputFrom: number): number[] | undefined | 'dynamic' {
  if (graph.opset >= inputFrom) {
    if (!node.input[1]) return attrInts(node, 'axes');
    return constInts(graph, node.input[1]) ?? 'dynamic';
  }
  return attrInts(node, 'axes');
}

export function normAxes(axes: number[], rank: number): number[] {
  return [...new Set(axes.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
}

export const spatialAxes = (rank: number): number[] => Array.from({ length: rank - 2 }, (_, i) => i + 2);
export const sameAxes = (a: number[], b: number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
