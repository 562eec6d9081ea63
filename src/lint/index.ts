// `gapify lint` as a library: expand paths, lint each model in turn, decide the exit status.

import { expandPaths } from './files.js';
import { lintModel, type LintModelOptions } from './analyze.js';
import { SEVERITY_RANK, type Severity } from './rules.js';
import type { FileReport, LintResult } from './types.js';

export { RULES, RULE_IDS, SEVERITIES, SEVERITY_RANK, type RuleId, type RuleMeta, type Severity } from './rules.js';
export { lintModel, displayPath, modelPins, type LintModelOptions } from './analyze.js';
export type * from './types.js';
export { PIN_KINDS, type PinKind } from '../size/pin.js';
export { expandPaths, matchGlob } from './files.js';
export { FORMATS, formatLint, type LintFormat, type FormatOptions } from './format.js';

/** --fail-on levels: a run fails when a finding is at least this severe; `never` never fails. */
export const FAIL_ON = ['error', 'warning', 'info', 'never'] as const;
export type FailOn = (typeof FAIL_ON)[number];

export interface LintOptions extends LintModelOptions {
  /** Called before each file (progress). */
  onFile?: (path: string, index: number, count: number) => void;
}

/**
 * Lints every model `args` names (files, folders searched for *.onnx, globs). One model is in
 * memory at a time. Throws UsageError when an argument names nothing.
 */
export function lint(args: readonly string[], options: LintOptions = {}): LintResult {
  const paths = expandPaths(args, options.cwd);
  const files: FileReport[] = [];
  paths.forEach((p, i) => {
    options.onFile?.(p, i, paths.length);
    files.push(lintModel(p, options));
  });
  return {
    files,
    errorCount: files.reduce((s, f) => s + f.errorCount, 0),
    warningCount: files.reduce((s, f) => s + f.warningCount, 0),
    infoCount: files.reduce((s, f) => s + f.infoCount, 0),
  };
}

/** Does `result` fail a run with --fail-on `level`? */
export function failsAt(result: LintResult, level: FailOn): boolean {
  if (level === 'never') return false;
  const min = SEVERITY_RANK[level as Severity];
  return result.files.some((f) => f.findings.some((x) => SEVERITY_RANK[x.severity] >= min));
}
