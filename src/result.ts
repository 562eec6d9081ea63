// What a gapify run returns: the report the CLI prints (report.ts) or gives as JSON.

import type { CamOutput, CamSkip } from './cam/outputs.js';
import type { AlreadyGap, Refusal, TailChange } from './rewrite/rule.js';
import type { SizeReport } from './size/index.js';
import type { Comparison } from './verify/compare.js';
import type { ResolvedInput } from './verify/inputs.js';

export type Verification =
  | { status: 'passed' | 'failed'; comparison: Comparison; failures: string[] }
  | { status: 'skipped'; reason: string };

export interface GapifyReport {
  input: string;
  /** Where the model was (or would have been) written. */
  output: string;
  written: boolean;
  /** Why nothing was written, when nothing was. */
  nothingWritten?: string;
  /** Input shapes the analysis and verification used, and where each came from. */
  inputs: readonly ResolvedInput[];
  rewritten: TailChange[];
  refused: Refusal[];
  alreadyGap: AlreadyGap[];
  verification: Verification;
  /** Multiply-accumulates per sample of the whole model (Conv/Gemm/MatMul) before and after, when the shapes are known. */
  modelMacs?: { before: number; after: number };
  /** --cam: the class-map outputs added, and the tails that have none. */
  cam?: { outputs: CamOutput[]; skipped: CamSkip[] };
  /** --dynamic-size / --dynamic-batch: the symbolic input dims, the freed Reshapes and the checks at other sizes. */
  size?: SizeReport;
}
