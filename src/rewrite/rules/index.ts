// The tail rules, in priority order: at a node, an earlier rule's answer wins, and the nodes it
// claims are no later rule's anchor (a Flatten after a global pool is that pool's tail, not a
// spatial one; a QDQ head is the quantized rule's before the float one looks at its pool).
// Adding a tail form: a rule file beside these, its tests, one line here.

import { globalPoolRule } from './global-pool.js';
import { poolOnlyRule } from './pool-only.js';
import { quantizedRule } from './quantized.js';
import { spatialRule } from './spatial.js';
import type { TailMatch, TailRule } from '../rule.js';

export const TAIL_RULES: readonly TailRule<TailMatch>[] = [
  quantizedRule,
  globalPoolRule,
  poolOnlyRule,
  spatialRule,
];
