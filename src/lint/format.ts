// The output formats of `gapify lint`:
//   stylish  ESLint-like, grouped by file, with a summary line (colour only when asked for);
//   json     the FileReport objects, one per file, as a JSON array (field reference in the README);
//   sarif    SARIF 2.1.0 for GitHub code scanning (sarif.ts);
//   github   GitHub Actions workflow commands: one ::error/::warning/::notice annotation per finding.

import type { LintResult } from './types.js';
import type { RuleLevels, Severity } from './rules.js';
import { formatSarif, type ToolInfo } from './sarif.js';
import { jsonText, plural, printable } from '../text.js';

export const FORMATS = ['stylish', 'json', 'sarif', 'github'] as const;
export type LintFormat = (typeof FORMATS)[number];

export interface FormatOptions {
  /** ANSI colours (stylish only). */
  color: boolean;
  /** The root the reports' paths are relative to: SARIF's %SRCROOT%. */
  root: string;
  /** The --rule levels the run used: SARIF's rules carry them. */
  rules?: RuleLevels;
  tool: ToolInfo;
}

// --- stylish -------------------------------------------------------------------------------------

function paint(on: boolean): Record<'red' | 'yellow' | 'cyan' | 'green' | 'dim' | 'bold' | 'underline', (s: string) => string> {
  const wrap = (open: number, close: number) => (s: string): string => (on ? `\u001b[${open}m${s}\u001b[${close}m` : s);
  return { red: wrap(31, 39), yellow: wrap(33, 39), cyan: wrap(36, 39), green: wrap(32, 39), dim: wrap(2, 22), bold: wrap(1, 22), underline: wrap(4, 24) };
}

export function formatStylish(result: LintResult, color: boolean): string {
  const c = paint(color);
  const sev: Record<Severity, (s: string) => string> = { error: c.red, warning: c.yellow, info: c.cyan };
  const lines: string[] = [];
  for (const f of result.files) {
    if (f.findings.length === 0) continue;
    lines.push(c.underline(printable(f.file)));
    for (const x of f.findings) lines.push(`  ${sev[x.severity](x.severity.padEnd(7))}  ${x.message}  ${c.dim(x.ruleId)}`);
    lines.push('');
  }
  const total = result.errorCount + result.warningCount + result.infoCount;
  const files = plural(result.files.length, 'file');
  if (total === 0) {
    lines.push(c.green(`✔ ${files} linted, no problems`));
  } else {
    const summary = `✖ ${plural(total, 'problem')} (${plural(result.errorCount, 'error')}, ${plural(result.warningCount, 'warning')}, ${plural(result.infoCount, 'info')}) in ${files}`;
    lines.push(c.bold(result.errorCount ? c.red(summary) : result.warningCount ? c.yellow(summary) : summary));
  }
  return `${lines.join('\n')}\n`;
}

// --- github --------------------------------------------------------------------------------------

/** Escaping of a workflow command's message (actions/toolkit `escapeData`). */
export function escapeData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** Escaping of a workflow command's property value (actions/toolkit `escapeProperty`). */
export function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

const COMMAND: Readonly<Record<Severity, string>> = { error: 'error', warning: 'warning', info: 'notice' };

export function formatGithub(result: LintResult): string {
  const lines: string[] = [];
  for (const f of result.files) {
    for (const x of f.findings) {
      const title = `gapify ${x.ruleId}${x.node ? ` (${x.node})` : ''}`;
      lines.push(`::${COMMAND[x.severity]} file=${escapeProperty(printable(f.file))},line=1,title=${escapeProperty(printable(title))}::${escapeData(printable(x.message))}`);
    }
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

// --- all -----------------------------------------------------------------------------------------

export function formatLint(result: LintResult, format: LintFormat, options: FormatOptions): string {
  switch (format) {
    case 'stylish': return formatStylish(result, options.color);
    case 'json': return `${jsonText(result.files)}\n`;
    case 'sarif': return `${formatSarif(result, options.tool, options.root, options.rules)}\n`;
    case 'github': return formatGithub(result);
  }
}
