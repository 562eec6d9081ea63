// What a tail rule is, and what every part of gapify may know about a matched tail.
//
// A rule (one file each under rules/, listed in priority order in rules/index.ts) finds one form of
// classifier tail and knows everything about that form: how to match it (read-only: a match, or a
// refusal with a stable code), how to rewrite it, what it costs, how to describe it, what it pins
// and whether it has class maps. The rest of gapify talks to a matched tail only through `Tail`,
// so no code outside rules/ asks which form a tail is.

import type { GraphView } from '../graph/graph.js';
import type { Shape, Shapes } from '../graph/shapes.js';
import type { NodeProto } from '../onnx/schema.js';
import type { TensorBytes } from '../onnx/tensor.js';
import type { SizePin } from '../size/pin.js';
import type { LinearLayer } from './linear.js';
import { noMatch, type NoMatch } from './reasons.js';

export type Order = 'conv-first' | 'pool-first';
export const ORDERS = ['auto', 'conv-first', 'pool-first'] as const;
export type OrderOption = (typeof ORDERS)[number];

/** What every match carries, whatever its form. */
export interface TailMatch {
  /** The node the tail starts at: its pool, or the Flatten of a spatial map. */
  readonly at: NodeProto;
  /** The map the tail reads, [N, C, …spatial], at the analysed input size. */
  readonly featureShape: Shape;
  /** The linear layers that become convolutions, in order (none when only a pool changes). */
  readonly layers: readonly LinearLayer[];
  /** The value the rewritten tail produces: its new last node takes over this name. */
  readonly output: string;
  /**
   * Conv-first puts a map of the model's class scores before the pool: the Conv there is the layer
   * that yields the final scores (not the first layer of an MLP head, whose maps are hidden units).
   */
  readonly classMaps: boolean;
}

/** Parameters and multiply-accumulates per sample of a tail at the analysed input size. */
export interface TailCost {
  /** Parameters of the rewritten layers (the rewrite keeps them). */
  readonly params: number;
  /** As it is, and after each order; null: unknown (symbolic map size) or not applicable to this form. */
  readonly macs: { readonly before: number | null; readonly convFirst: number | null; readonly poolFirst: number | null };
}

/** What one rewrite did, for the report. It carries its tail, so nothing pairs changes with tails by position. */
export interface TailChange {
  readonly tail: Tail;
  /** The order it was written in, for forms that have a choice. */
  readonly order?: Order;
  readonly layers: readonly { readonly node: NodeProto; readonly op: string; readonly weight: readonly number[]; readonly became: string }[];
  readonly removed: readonly NodeProto[];
  readonly added: readonly NodeProto[];
  /** The Conv output before the global pool (conv-first, spatial): what --cam exposes when it holds classes. */
  readonly classMap?: string;
  readonly params: number;
  /** MACs per sample at the analysed size; undefined when unknown or not applicable. */
  readonly macsBefore: number | undefined;
  readonly macsAfter: number | undefined;
  readonly notes: readonly string[];
}

/** The class map a rewritten tail offers --cam, or why it has none. */
export type ClassMapAnswer = { readonly map: string } | { readonly none: string };

/** Everything the search needs to match read-only. */
export interface MatchContext {
  readonly graph: GraphView;
  readonly shapes: Shapes;
  /** Nodes an earlier answer covers: no rule anchors on them, and a linear layer is rewritten once. */
  readonly claimed: ReadonlySet<NodeProto>;
}

/** A refusal: a tail of this form is there, but it can't be rewritten exactly. */
export interface Refusal extends NoMatch {
  readonly kind: 'refused';
  /** The rule that refused (its id names the form: 'global', 'spatial'). */
  readonly rule: string;
  /** Where the tail starts (pool or Flatten). */
  readonly at: NodeProto;
  /** What the refused tail pins, if anything (a spatial tail's weight fits one map size). */
  readonly pins?: readonly SizePin[];
}

/** A head that already is Conv → GlobalAveragePool: nothing to rewrite. */
export interface AlreadyGap {
  readonly kind: 'already-gap';
  readonly pool: NodeProto;
  readonly conv: NodeProto;
  readonly classes: number | undefined;
}

export interface TailFinding {
  readonly kind: 'tail';
  readonly tail: Tail;
}

export type Finding = TailFinding | Refusal | AlreadyGap;

/** A rule's answer at one anchor node. */
export interface RuleAnswer {
  readonly findings: readonly (TailFinding | Refusal)[];
  /** Nodes this answer covers (see MatchContext.claimed). */
  readonly claims: readonly NodeProto[];
}

/** What the describer of a form gets to say about the model around it. */
export interface LintWords {
  /** Total parameters of the model (for the head's share). */
  readonly totalParams: number;
  /** "head 1,290 of 30,000 params (4.3%)". */
  readonly headShare: string;
}

export interface TailDescription {
  readonly message: string;
  readonly node: NodeProto;
}

/**
 * One tail form. `M` is the form's own match; the rest of gapify sees it only through `Tail`.
 */
export interface TailRule<M extends TailMatch> {
  /** Stable: reports, lint (`tailKind`) and users' scripts call the form by it. */
  readonly id: string;
  /** Read-only. An answer (matches, refusals, or neither but claims) at `node`, or undefined when the form isn't there. */
  match(node: NodeProto, ctx: MatchContext): RuleAnswer | undefined;
  /** The orders the form can be written in; empty when it has one fixed form. */
  orders(m: M): readonly Order[];
  /** Why the form can't be written in `order`, one of the orders it lacks (a default reason otherwise). */
  orderRefusal?(m: M, order: Order): NoMatch;
  cost(m: M): TailCost;
  /** Edits `graph`: the new last node takes over `m.output`; old nodes go only when nothing else reads them. */
  apply(graph: GraphView, m: M, order: Order | undefined, bytes: TensorBytes): Omit<TailChange, 'tail'>;
  /** `gapify lint`'s rewritable-tail finding: one line, and the node it is about. */
  describe(m: M, words: LintWords): TailDescription;
  /** What pins the input size in the original model that this tail is (removed by the rewrite or not). */
  pins(m: M): SizePin[];
  /** The class map of the rewritten tail, or why there is none. */
  classMap(m: M, change: TailChange): ClassMapAnswer;
}

/** A matched tail, bound to its rule. */
export interface Tail {
  /** The rule's id. */
  readonly kind: string;
  readonly match: TailMatch;
  readonly orders: readonly Order[];
  /** Why the tail can't be written in `order`; undefined when it can (or has no choice to make). */
  refuseOrder(order: Order): NoMatch | undefined;
  cost(): TailCost;
  apply(graph: GraphView, order: Order | undefined, bytes: TensorBytes): TailChange;
  describe(words: LintWords): TailDescription;
  pins(): SizePin[];
  classMap(change: TailChange): ClassMapAnswer;
}

/** Binds a match to its rule: what rules hand out as a TailFinding. */
export function tailOf<M extends TailMatch>(rule: TailRule<M>, m: M): Tail {
  const tail: Tail = {
    kind: rule.id,
    match: m,
    orders: rule.orders(m),
    refuseOrder: (order) => {
      if (tail.orders.length === 0 || tail.orders.includes(order)) return undefined;
      return rule.orderRefusal?.(m, order) ?? noMatch('order-not-possible', `this ${rule.id} tail can't be written ${order}`, m.at);
    },
    cost: () => rule.cost(m),
    apply: (graph, order, bytes) => ({ tail, ...rule.apply(graph, m, order, bytes) }),
    describe: (words) => rule.describe(m, words),
    pins: () => rule.pins(m),
    classMap: (change) => rule.classMap(m, change),
  };
  return tail;
}

export function tailFinding<M extends TailMatch>(rule: TailRule<M>, m: M): TailFinding {
  return { kind: 'tail', tail: tailOf(rule, m) };
}

export function refusal(rule: { readonly id: string }, at: NodeProto, reason: NoMatch, pins?: readonly SizePin[]): Refusal {
  return { kind: 'refused', rule: rule.id, at, ...reason, ...(pins?.length ? { pins } : {}) };
}

/** The class map of a tail whose rewrite puts a Conv before its pool, when that Conv yields the scores. */
export function classMapOf(m: TailMatch, change: TailChange): ClassMapAnswer {
  if (!m.classMaps) {
    return { none: `'${m.output}' is not the final scores (a nonlinearity and more layers follow, as in an MLP head): maps before the pool would be hidden units, not classes` };
  }
  if (!change.classMap) return { none: 'pool-first: the 1×1 Conv runs on the pooled vector, so there is no map (use --order conv-first)' };
  return { map: change.classMap };
}

/**
 * The one order policy. An explicit --order is what the user gets (a tail that can't be written so
 * is refused, see Tail.refuseOrder). `auto` never makes a model slower: pool-first costs what the
 * linear layer cost, conv-first H·W times as much (5–17 % of a whole CNN), so conv-first only where
 * class maps are asked for (`cam`: --cam, gapify cam) and the form has them.
 */
export function decideOrder(option: OrderOption, tail: Tail, cam: boolean): Order | undefined {
  const { orders } = tail;
  if (orders.length === 0) return undefined;
  if (option !== 'auto') return option;
  if (cam && tail.match.classMaps && orders.includes('conv-first')) return 'conv-first';
  return orders.includes('pool-first') ? 'pool-first' : orders[0];
}
