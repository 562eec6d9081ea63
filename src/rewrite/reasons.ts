// Why a classifier tail can't be rewritten exactly. The codes are stable: the report, `gapify lint`
// (as SARIF rule ids) and users' CI configuration refer to them.

import type { NodeProto } from '../onnx/schema.js';

export const REFUSALS = {
  'max-pool': 'the pool takes a maximum, which does not commute with a linear layer',
  'not-linear-between': 'an op between the pool and the linear layer is not linear per channel',
  'normalization-between': 'a normalization across channels sits between the pool and the linear layer',
  'trans-a': 'Gemm with transA=1 reads the pooled features transposed',
  'weight-not-constant': "the linear layer's weight is computed at run time, not a constant",
  'bias-not-constant': "the linear layer's bias is computed at run time, not a constant",
  'bias-depends-on-batch': "the bias has a batch dimension, so it can't become a per-class Conv bias",
  'pool-changes-mean': 'the pool has padding or ceil_mode that makes it differ from a mean over the whole map',
  'unknown-dims': "the feature map's shape can't be determined (give --input-shape)",
  'not-a-flatten': 'the reshape between pool and linear layer does more than drop the 1×1 spatial dims',
  'shape-mismatch': "the linear layer's weight does not fit the pooled features",
  'unsupported-dtype': 'the weights are not float32, float16, bfloat16 or double',
  'training-output-used': 'Dropout or BatchNormalization has its training-only outputs read',
  'quantized-between': 'an activation quantization sits between the pool and the linear layer, so the Conv cannot move before the pool (conv-first)',
  'quantized-weight': "a quantized weight stays integers: it can't take a Gemm's alpha or beta, a folded BatchNormalization, or blocked scales",
  'quantized-operator': 'the linear layer is an integer operator (QLinearMatMul, QGemm, MatMulInteger): rewrite the float model, then quantize it',
  'order-not-possible': 'the tail cannot be written in the order asked for',
} as const;

export type RefusalCode = keyof typeof REFUSALS;

/** A rule's answer when it does not apply: a stable code and a sentence for the user. */
export interface NoMatch {
  readonly code: RefusalCode;
  readonly reason: string;
  /** The node the reason is about. */
  readonly node?: NodeProto;
}

export function noMatch(code: RefusalCode, reason?: string, node?: NodeProto): NoMatch {
  return { code, reason: reason ?? REFUSALS[code], ...(node ? { node } : {}) };
}
