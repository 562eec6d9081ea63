// The search: every rule over every node, in priority order (rules/index.ts), then already-GAP
// heads. Read-only: nothing here edits the graph or reads weight values.

import type { GraphView } from '../graph/graph.js';
import type { NodeProto } from '../onnx/schema.js';
import { alreadyGapHead } from './already-gap.js';
import type { Shapes } from '../graph/shapes.js';
import type { Finding, MatchContext } from './rule.js';
import { TAIL_RULES } from './rules/index.js';

/** Every classifier tail in the graph, rewritable or not, and already-GAP heads. */
export function findClassifierTails(graph: GraphView, shapes: Shapes): Finding[] {
  const findings: Finding[] = [];
  const claimed = new Set<NodeProto>();
  const ctx: MatchContext = { graph, shapes, claimed };
  for (const rule of TAIL_RULES) {
    // What earlier rules claimed is no anchor for this one; what this rule claims binds the rules after it.
    const taken = new Set(claimed);
    for (const node of graph.nodes) {
      if (taken.has(node)) continue;
      const answer = rule.match(node, ctx);
      if (!answer) continue;
      findings.push(...answer.findings);
      for (const c of answer.claims) claimed.add(c);
    }
  }
  for (const node of graph.nodes) {
    if (claimed.has(node)) continue;
    const head = alreadyGapHead(node, ctx);
    if (head) findings.push(head);
  }
  // Reported in graph order (the order the heads are in the model), whichever rule found them.
  const position = new Map(graph.nodes.map((n, i) => [n, i]));
  const anchor = (f: Finding): number => position.get(f.kind === 'tail' ? f.tail.match.at : f.kind === 'refused' ? f.at : f.pool) ?? 0;
  return findings.map((f, i) => ({ f, i })).sort((a, b) => anchor(a.f) - anchor(b.f) || a.i - b.i).map((x) => x.f);
}
