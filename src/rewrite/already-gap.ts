// Heads that already are Conv → (elementwise) → GlobalAveragePool → (Flatten) → output: SqueezeNet,
// NIN, or a model gapify wrote. Not a tail to rewrite — found after the rules, on the pools no rule
// answered for, so the report and lint can say there is nothing to do.
//
// The pooled map must be the classes' maps: nothing else computes from it (a backbone's last
// features that a rewritten head also reads are no GAP head), and the pooled value goes to the
// output as scores, not into a 1×1 Conv (a head gapify wrote pool-first).

import type { NodeProto } from '../onnx/schema.js';
import { convBeforePool, isFinalOrOutput, matchGlobalPool, walkFromPool } from './pool.js';
import type { AlreadyGap, MatchContext } from './rule.js';

export function alreadyGapHead(node: NodeProto, { graph, shapes }: MatchContext): AlreadyGap | undefined {
  const answer = matchGlobalPool(graph, node, shapes);
  if (!answer || 'code' in answer || answer.max) return undefined;
  const { pool } = answer;
  const copiesOut = (n: NodeProto): boolean => n.op_type === 'Identity' && !!n.output[0] && graph.isGraphOutput(n.output[0]);
  if (graph.consumers(pool.input).some((n) => n !== node && !copiesOut(n))) return undefined;
  const walked = walkFromPool(graph, pool, shapes);
  if (walked.tails.length || walked.refusals.length || walked.visited.some((n) => n.op_type === 'Conv')) return undefined;
  if (!walked.reachesOutputWithoutLinear && !isFinalOrOutput(graph, node)) return undefined;
  const conv = convBeforePool(graph, pool.input);
  if (!conv) return undefined;
  const w = conv.input[1] ? graph.constant(conv.input[1]) : undefined;
  return { kind: 'already-gap', pool: node, conv, classes: w ? Number(w.dims[0]) : undefined };
}
