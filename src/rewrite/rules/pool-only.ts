// An AveragePool whose kernel is the whole map, with no linear layer after it (NIN's 8×8 average
// before a Conv classifier, or before the model's output).
//
//   AveragePool(X, kernel = H×W) = GlobalAveragePool(X)     at the trained size H×W
//
// and GlobalAveragePool is right at any other size too, where the fixed kernel averaged only a
// corner of the map.
//
// Conditions: the kernel equals the map (known at the analysed size), no padding, the map is not
// already 1×1, the pool is not a maximum, and no linear layer follows (then the global-pool rule,
// before this one, takes the tail).

import { makeNode } from '../../onnx/builder.js';
import { dimsText, nodeLabel } from '../../text.js';
import { baseName, removedSince } from '../emit.js';
import { DISGUISED_NOTE, disguisedPoolPins, matchGlobalPool, walkFromPool, type GlobalPool } from '../pool.js';
import { tailFinding, type TailMatch, type TailRule } from '../rule.js';

export interface PoolOnlyMatch extends TailMatch {
  readonly pool: GlobalPool;
}

export const poolOnlyRule: TailRule<PoolOnlyMatch> = {
  id: 'pool-only',

  match(node, { graph, shapes }) {
    const answer = matchGlobalPool(graph, node, shapes);
    if (!answer || 'code' in answer || answer.max || !answer.pool.disguised) return undefined;
    const { pool } = answer;
    // Known: matchGlobalPool calls a pool disguised only when its map's dims are known.
    const featureShape = shapes.get(pool.input)!;
    const walked = walkFromPool(graph, pool, shapes);
    if (walked.tails.length || walked.refusals.length) return undefined;
    const m: PoolOnlyMatch = { at: node, featureShape, layers: [], output: pool.output, classMaps: false, pool };
    return { findings: [tailFinding(this, m)], claims: [node] };
  },

  orders: () => [],

  cost: () => ({ params: 0, macs: { before: null, convFirst: null, poolFirst: null } }),

  apply(graph, { pool }) {
    const before = new Set(graph.nodes);
    const gap = makeNode('GlobalAveragePool', [pool.input], [pool.output], {}, graph.uniqueName(`${baseName(pool.node)}/gapify/GlobalAveragePool`));
    graph.insertAfter(pool.node, [gap]);
    graph.detach([pool.node]);
    if (pool.pad) graph.removeDead([pool.pad]);
    return { layers: [], removed: removedSince(graph, before), added: [gap], params: 0, macsBefore: undefined, macsAfter: undefined, notes: [DISGUISED_NOTE(pool.node)] };
  },

  describe: (m) => ({
    message: `${m.pool.node.op_type} '${nodeLabel(m.pool.node)}' covers its whole ${dimsText(m.featureShape.slice(2))} map and can be rewritten exactly into a GlobalAveragePool (then right at any input size)`,
    node: m.at,
  }),

  pins: (m) => disguisedPoolPins(m.pool, m.featureShape),

  classMap: () => ({ none: 'no linear layer after the pool: its map is features, not classes' }),
};
