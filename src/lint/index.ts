// `gapify lint` as a library: expand paths, lint each model in turn, apply the user's rule levels,
// decide the exit status.

import { expandPaths } from './files.js';
import { counts, lintModel, type LintModelOptions } from './analyze.js';
import { SEVERITY_RANK, type RuleLevels, type Severity } from './rules.js';
import type { FileReport, LintFinding, LintResult } from './types.js';

export { RULES, RULE_IDS, RULE_LEVELS, SEVERITIES, SEVERITY_RANK, parseRuleLevels, ruleLevel, type RuleId, type RuleLevel, type RuleLevels, type RuleMeta, type Severity } from './rules.js';
export { lintModel, displayPath, modelPins, type LintModelOptions } from './analyze.js';
export type * from './types.js';
export { PIN_KINDS, type PinKind } from '../size/pin.js';
export { expandPaths, IGNORE_FILE, type ExpandOptions, type ExpandedPaths, type IgnoredFile } from './files.js';
export { findRoot, type RootOptions } from './root.js';
export { FORMATS, formatLint, type LintFormat, type FormatOptions } from './format.js';

/** --fail-on levels: a run fails when a finding is at least this severe; `never` never fails. */
export const FAIL_ON = ['error', 'warning', 'info', 'never'] as const;
export type FailOn = (typeof FAIL_ON)[number];

export interface LintOptions extends LintModelOptions {
  /**
   * The repository root: files are shown relative to it (SARIF's %SRCROOT%, GitHub annotations)
   * and its .gapifyignore applies. Default: `cwd`. The CLI finds it with findRoot.
   */
  root?: string;
  /** `--ignore-pattern`s (gitignore syntax, relative to cwd). */
  ignorePatterns?: readonly string[];
  /** false: neither .gapifyignore nor ignorePatterns apply (`--no-ignore`). */
  ignore?: boolean;
  /** `--rule` levels: another severity for a rule's findings, or `off` to drop them. */
  rules?: RuleLevels;
  /** Called before each file (progress). */
  onFile?: (path: string, index: number, count: number) => void;
}

/** A report with the user's rule levels applied: findings of `off` rules dropped, others re-levelled. */
export function applyRuleLevels(report: FileReport, levels: RuleLevels): FileReport {
  if (Object.keys(levels).length === 0) return report;
  const findings = report.findings.flatMap((f): LintFinding[] => {
    const level = levels[f.ruleId];
    if (level === undefined) return [f];
    return level === 'off' ? [] : [{ ...f, severity: level }];
  });
  return { ...report, findings, ...counts(findings) };
}

/**
 * Lints every model `args` names (files, folders searched for *.onnx, globs, negative globs). One
 * model is in memory at a time. Throws UsageError when an argument names nothing.
 */
export function lint(args: readonly string[], options: LintOptions = {}): LintResult {
  const cwd = options.cwd ?? process.cwd();
  const root = options.root ?? cwd;
  const { files: paths, ignored } = expandPaths(args, { cwd, root, ignoreFile: options.ignore !== false, ignorePatterns: options.ignore === false ? [] : options.ignorePatterns ?? [] });
  const files: FileReport[] = [];
  paths.forEach((p, i) => {
    options.onFile?.(p, i, paths.length);
    // lintModel shows paths relative to its `cwd`: here, the root.
    files.push(applyRuleLevels(lintModel(p, { ...options, cwd: root }), options.rules ?? {}));
  });
  return {
    files,
    ignored,
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
