// Heads that already are Conv → (elementwise) → GlobalAveragePool → (Flatten) → output: SqueezeNet,
// NIN, or a model gapify wrote. Not a tail to rewrite — found after the rules, on the pools no rule
// answered for, so the report and lint can say there is nothing to do.

import type { NodeProto } from '../onnx/schema.js';
import { convBeforePool, isFinalOrOutput, matchGlobalPool, walkFromPool } from './pool.js';
import type { AlreadyGap, MatchContext } from './rule.js';

export function alreadyGapHead(node: NodeProto, { graph, shapes }: MatchContext): AlreadyGap | undefined {
  const answer = matchGlobalPool(graph, node, shapes);
  if (!answer || 'code' in answer || answer.max) return undefined;
  const walked = walkFromPool(graph, answer.pool, shapes);
  if (walked.tails.length || walked.refusals.length) return undefined;
  if (!walked.reachesOutputWithoutLinear && !isFinalOrOutput(graph, node)) return undefined;
  const conv = convBeforePool(graph, answer.pool.input);
  if (!conv) return undefined;
  const w = conv.input[1] ? graph.constant(conv.input[1]) : undefined;
  return { kind: 'already-gap', pool: node, conv, classes: w ? Number(w.dims[0]) : undefined };
}
