// What `gapify lint` returns: plain data (labels, not nodes), so a linted model is garbage once its
// report is made, and the JSON format is these objects as they are.

import type { PinKind } from '../size/pin.js';
import type { RefusalCode } from '../rewrite/reasons.js';
import type { RuleId, Severity } from './rules.js';
import type { IgnoredFile } from './files.js';

export interface LayerSummary {
  readonly node: string;
  /** 'Gemm', 'MatMul+Add', … */
  readonly op: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly params: number;
}

export interface MacSummary {
  /** Multiply-accumulates per sample of the tail's linear layers as they are; null: not applicable. */
  readonly before: number | null;
  /** After a conv-first rewrite (the 1×1 Conv on the whole map); null: size unknown / not applicable. */
  readonly convFirst: number | null;
  /** After a pool-first rewrite (the Conv on the pooled map); null: not applicable (spatial tails). */
  readonly poolFirst: number | null;
}

export interface RewritableTailProperties {
  /** The rule that matched ('global', 'spatial', 'pool-only', …). */
  readonly tailKind: string;
  /** The pool (global, pool-only) or Flatten (spatial) where the tail starts. */
  readonly at: string;
  /** Shape of the map the tail reads, at the analysed input size. */
  readonly featureShape: readonly (number | string | null)[];
  readonly layers: readonly LayerSummary[];
  /** Parameters of the tail's linear layers. */
  readonly headParams: number;
  /** Sum of all initializers' element counts. */
  readonly totalParams: number;
  /** headParams / totalParams (null when the model has no parameters). */
  readonly headShare: number | null;
  readonly macs: MacSummary;
  /** The order `gapify --order auto` picks; null where there is no choice (spatial, pool-only). */
  readonly defaultOrder: 'conv-first' | 'pool-first' | null;
}

export interface NotRewritableProperties {
  /** A stable reason code (src/rewrite/reasons.ts). */
  readonly code: RefusalCode;
  /** The rule that refused ('global', 'spatial', …). */
  readonly tailKind: string;
  readonly at: string;
}

export interface AlreadyGapProperties {
  readonly pool: string;
  readonly conv: string;
  readonly classes: number | null;
}

/** A pin (src/size/pin.ts) as lint reports it. */
export interface LintPin {
  readonly kind: PinKind;
  /** The node that pins the size; null for a graph input. */
  readonly node: string | null;
  /** The graph input, for kind 'input'. */
  readonly input?: string;
  /** One sentence. */
  readonly detail: string;
  /** gapify's rewrite removes this pin. */
  readonly fixedByRewrite: boolean;
}

export interface FixedInputSizeProperties {
  /** Spatial dims of the (first image-like) input at the analysed size, e.g. [224, 224]; null if unknown. */
  readonly size: readonly number[] | null;
  readonly pins: readonly LintPin[];
  /** Every pin goes away with gapify's rewrite. */
  readonly fixedByRewrite: boolean;
}

export interface BrokenModelProperties {
  readonly reason: string;
}

export interface FindingOf<R extends RuleId, P> {
  readonly ruleId: R;
  readonly severity: Severity;
  /** One line. */
  readonly message: string;
  /** The node the finding is about (null: the whole file). */
  readonly node: string | null;
  readonly properties: P;
}

export type LintFinding =
  | FindingOf<'rewritable-tail', RewritableTailProperties>
  | FindingOf<'not-rewritable', NotRewritableProperties>
  | FindingOf<'already-gap-head', AlreadyGapProperties>
  | FindingOf<'fixed-input-size', FixedInputSizeProperties>
  | FindingOf<'broken-model', BrokenModelProperties>;

export interface LintedInput {
  readonly name: string;
  /** Dims the analysis used (declared, --input-shape, or defaulted); null: rank unknown. */
  readonly shape: readonly number[] | null;
  /** As declared: a size, a symbol, or null (unknown); null: rank unknown. */
  readonly declared: readonly (number | string | null)[] | null;
}

export interface FileReport {
  /** The path as shown: relative to the working folder, '/'-separated (absolute when outside it). */
  readonly file: string;
  readonly absolutePath: string;
  /** File size; null when it could not be read. */
  readonly bytes: number | null;
  /** Sum of the initializers' element counts; null for a broken model. */
  readonly parameters: number | null;
  readonly inputs: readonly LintedInput[];
  readonly findings: readonly LintFinding[];
  readonly errorCount: number;
  readonly warningCount: number;
  readonly infoCount: number;
}

export interface LintResult {
  readonly files: readonly FileReport[];
  /** Files named explicitly but skipped by an ignore pattern or negative glob (not linted). */
  readonly ignored: readonly IgnoredFile[];
  readonly errorCount: number;
  readonly warningCount: number;
  readonly infoCount: number;
}
