// What gapify knows about individual ops: which are elementwise (and so work the same on a
// [N, K] vector and on an [N, K, h, w] map), which only drop unit dims, which are linear layers.

import type { GraphView } from '../graph/graph.js';
import { attrInt, isDefaultDomain } from '../graph/graph.js';
import type { NodeProto } from '../onnx/schema.js';
import { constantCount } from './read.js';

/** Unary elementwise ops: apply per element whatever the rank. */
const UNARY_ELEMENTWISE = new Set([
  'Relu', 'LeakyRelu', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Elu', 'Selu', 'Celu', 'Gelu',
  'Softplus', 'Softsign', 'Mish', 'Clip', 'Erf', 'Abs', 'Neg', 'Exp', 'Log', 'Sqrt', 'Reciprocal',
  'ThresholdedRelu', 'Identity', 'Dropout', 'Cast', 'Sin', 'Cos', 'Floor', 'Ceil', 'Round', 'Sign',
]);

const BINARY_ELEMENTWISE = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min']);

/** Ops that consume class scores without mixing them with learned weights (the end of a head). */
const SCORE_CONSUMERS = new Set(['Softmax', 'LogSoftmax', 'ArgMax', 'ArgMin', 'TopK', 'Sigmoid', 'Identity', 'Cast']);

export function isScalarConstant(graph: GraphView, value: string): boolean {
  return constantCount(graph, value) === 1;
}

/**
 * True when `node` maps each element of `value` on its own: a unary elementwise op, or a binary
 * one whose other operand is a scalar constant or lies in the same elementwise region (x·σ(x)).
 */
export function isElementwiseOn(graph: GraphView, node: NodeProto, inRegion: (v: string) => boolean): boolean {
  if (!isDefaultDomain(node)) return false;
  const op = node.op_type ?? '';
  if (op === 'Dropout') return !node.output[1] || !graph.isUsed(node.output[1]);
  if (op === 'Clip') return node.input.slice(1).every((i) => !i || isScalarConstant(graph, i));
  // A QDQ model's activation (de)quantization, one scale for the tensor: elementwise whatever the rank.
  if (op === 'QuantizeLinear' || op === 'DequantizeLinear') return node.input.slice(1).every((i) => !i || isScalarConstant(graph, i));
  if (UNARY_ELEMENTWISE.has(op)) return true;
  if (BINARY_ELEMENTWISE.has(op) && node.input.length === 2) {
    return node.input.every((i) => inRegion(i) || isScalarConstant(graph, i));
  }
  return false;
}

export interface ElementwiseRegion {
  /** Elementwise nodes reachable from the start value, in discovery order. */
  nodes: NodeProto[];
  values: Set<string>;
  /** Consumers outside the region, with the value they read. */
  exits: { value: string; node: NodeProto }[];
  /** Region values that are graph outputs. */
  outputs: string[];
}

/** The elementwise ops fed (only) from `start`, e.g. the activation between two FC layers. */
export function elementwiseRegion(graph: GraphView, start: string): ElementwiseRegion {
  const values = new Set([start]);
  const nodes: NodeProto[] = [];
  const queue = [start];
  const exits: { value: string; node: NodeProto }[] = [];
  while (queue.length) {
    const v = queue.shift()!;
    for (const c of graph.consumers(v)) {
      if (nodes.includes(c)) continue;
      if (isElementwiseOn(graph, c, (x) => values.has(x))) {
        nodes.push(c);
        for (const o of c.output.slice(0, 1)) if (o) { values.add(o); queue.push(o); }
      } else {
        exits.push({ value: v, node: c });
      }
    }
  }
  // A binary node seen before its second region input was added may have been filed as an exit.
  const realExits = exits.filter((e) => !nodes.includes(e.node));
  return { nodes, values, exits: realExits, outputs: [...values].filter((v) => graph.isGraphOutput(v)) };
}

/** Linear layers on integers (operator-format quantization): onnxruntime's QLinearMatMul, QGemm, MatMulInteger. */
export function isIntegerLinearOp(node: NodeProto): boolean {
  const op = node.op_type ?? '';
  if (isDefaultDomain(node)) return op === 'QLinearMatMul' || op === 'MatMulInteger';
  return node.domain === 'com.microsoft' && (op === 'QGemm' || op === 'QLinearMatMul' || op === 'MatMulIntegerToFloat');
}

/** A fully-connected layer: a Gemm, a MatMul by a constant (or dequantized) weight, or an integer one. */
export function isLinearLayerOp(graph: GraphView, node: NodeProto): boolean {
  if (isIntegerLinearOp(node)) return true;
  if (!isDefaultDomain(node)) return false;
  if (node.op_type === 'Gemm') return true;
  if (node.op_type !== 'MatMul' || !node.input[1]) return false;
  return !!graph.constant(node.input[1]) || graph.producer(node.input[1])?.op_type === 'DequantizeLinear';
}

/**
 * True when `value` only reaches graph outputs through elementwise ops and score consumers
 * (Softmax, ArgMax, …): the value is the model's final class scores.
 */
export function isFinalScores(graph: GraphView, value: string): boolean {
  const seen = new Set<string>();
  const visit = (v: string, depth: number): boolean => {
    if (seen.has(v)) return true;
    seen.add(v);
    if (depth > 32) return false;
    const consumers = graph.consumers(v);
    if (consumers.length === 0) return graph.isGraphOutput(v);
    for (const c of consumers) {
      const op = c.op_type ?? '';
      const passes = isDefaultDomain(c) && (SCORE_CONSUMERS.has(op) || isElementwiseOn(graph, c, () => true));
      if (!passes) return false;
      for (const o of c.output) if (o && !visit(o, depth + 1)) return false;
    }
    return true;
  };
  return visit(value, 0);
}

export function isTrainingMode(graph: GraphView, node: NodeProto): boolean {
  if (node.op_type === 'BatchNormalization') {
    if (attrInt(node, 'training_mode', 0) !== 0) return true;
    return node.output.slice(1).some((o) => o && graph.isUsed(o));
  }
  if (node.op_type === 'Dropout') return !!node.output[1] && graph.isUsed(node.output[1]);
  return false;
}
