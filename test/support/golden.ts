// The outputs gapify writes for every model in fixtures/, as sha256 digests: the table
// test/golden.json keeps, so that a redesign can show it changed no output. The table is rewritten
// only on purpose (`npm run golden`), in a commit that says why.
//
// Each fixture is run in four modes — default, `--order pool-first`, `--cam`, `--dynamic-size` —
// through the library with verification on, as the CLI runs it; plus `gapify lint --format json`
// over fixtures/ (absolute paths taken out: they name the clone).

import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatReport, gapify, type GapifyOptions, type GapifyReport } from '../../src/index.js';
import { GapifyError, SizeLocked, VerificationFailed } from '../../src/errors.js';
import { formatLint, lint } from '../../src/lint/index.js';

export const FIXTURES = fileURLToPath(new URL('../../../fixtures/', import.meta.url));
export const ROOT = join(FIXTURES, '..');

export const MODES: Readonly<Record<string, GapifyOptions>> = {
  default: {},
  'pool-first': { order: 'pool-first' },
  cam: { cam: true },
  'dynamic-size': { dynamicSize: true },
};

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** The printed report with the folders of this run taken out. */
function reportDigest(report: GapifyReport, dir: string): string {
  return sha256(Buffer.from(formatReport(report).split(dir).join('<out>').split(FIXTURES).join('<fixtures>/')));
}

/** One run's outcome: the digest of what was written (or why nothing was), and of the printed report. */
async function outcome(input: string, output: string, dir: string, options: GapifyOptions): Promise<[string, string]> {
  try {
    const report = await gapify(input, { ...options, output });
    if (!report.written) return [`not written: ${report.nothingWritten ?? ''}`, reportDigest(report, dir)];
    const data = `${output}.data`;
    return [sha256(readFileSync(output)) + (existsSync(data) ? ` + data ${sha256(readFileSync(data))}` : ''), reportDigest(report, dir)];
  } catch (e) {
    if (!(e instanceof GapifyError)) throw e;
    const report = e instanceof VerificationFailed || e instanceof SizeLocked ? (e.report as GapifyReport) : undefined;
    return [`exit ${e.exitCode}: ${e.constructor.name}`, report ? reportDigest(report, dir) : e.message];
  }
}

export type GoldenTable = Record<string, string>;

/** Runs every fixture in every mode, writing into `dir`. */
export async function goldenTable(dir: string): Promise<GoldenTable> {
  const table: GoldenTable = {};
  const models = readdirSync(FIXTURES).filter((f) => f.endsWith('.onnx')).sort();
  for (const m of models) {
    for (const [mode, options] of Object.entries(MODES)) {
      const [written, report] = await outcome(join(FIXTURES, m), join(dir, `${mode}-${m}`), dir, options);
      table[`${m} ${mode}`] = written;
      table[`${m} ${mode} report`] = report;
    }
  }
  const result = lint([FIXTURES], { cwd: ROOT });
  const files = result.files.map(({ absolutePath: _abs, ...rest }) => rest);
  const json = formatLint({ ...result, files: files as never }, 'json', { color: false, root: ROOT, tool: { version: '0', informationUri: 'x' } });
  table['lint --format json fixtures/'] = sha256(Buffer.from(json));
  return table;
}

export const GOLDEN_FILE = join(ROOT, 'test', 'golden.json');
export const shown = (p: string): string => relative(ROOT, p);
