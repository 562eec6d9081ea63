// `gapify lint <paths…>`: read-only analysis of models for CI, in four output formats.

import { existsSync, mkdirSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { Command, Option } from 'commander';
import { UsageError } from '../errors.js';
import { inputFilesOf, stageChunks } from '../onnx/model-io.js';
import { checkOutputPath, type InputFile } from '../output-path.js';
import { FAIL_ON, FORMATS, IGNORE_FILE, RULE_IDS, RULE_LEVELS, failsAt, findRoot, formatLint, lint, parseRuleLevels, type FailOn, type LintFormat } from '../lint/index.js';
import { toolInfo } from '../lint/tool.js';
import { NO_INPUT_SHAPES, parseInputShapes } from '../verify/input-shapes.js';
import { collect } from './options.js';
import type { CliIO } from './io.js';

interface LintFlags {
  format: LintFormat;
  outputFile?: string;
  failOn: FailOn;
  inputShape?: string[];
  rule?: string[];
  root?: string;
  ignorePattern?: string[];
  /** false with --no-ignore. */
  ignore: boolean;
}

const EXAMPLES = `
Examples:
  $ gapify lint models/                          every *.onnx under models/, ESLint-style
  $ gapify lint 'models/{resnet,vgg}*/**/*.onnx' '!models/**/old/**' --format sarif --output-file gapify.sarif
  $ gapify lint models/ --format github --fail-on warning --rule fixed-input-size=off

Rules: rewritable-tail (warning), not-rewritable (info), already-gap-head (info),
fixed-input-size (info), broken-model (error); --rule <id>=off|info|warning|error changes one.

Paths in the output are relative to the repository root: --root, else $GITHUB_WORKSPACE, else the
git top level, else the working folder. ${IGNORE_FILE} in that root (gitignore syntax) and
--ignore-pattern skip files; node_modules and dot-folders are skipped unless a glob names them.

Exit codes: 0 no finding at or above --fail-on (default: error, like ESLint), 1 some finding at or
above it, 2 usage error (bad flag, no such path, nothing to lint). A file that is not a readable
ONNX model is a broken-model error finding: exit 1, and the other files are still linted.`;

/**
 * A lint run is short, and V8's optimizing compiler (TurboFan) costs more than it saves until
 * dozens of models have been linted: over the benchmark's 29 models (3.1 GB) running the first ones
 * on the interpreter and baseline compiler halves the CPU time of the linting (0.4 → 0.2 s). The
 * optimizer comes back after this many files, for big folders, where it pays again. (Lint only: a
 * rewrite's loops over weights need it.)
 */
const OPTIMIZE_AFTER = 64;

/** Colour for a terminal, never for a pipe or a file, never with NO_COLOR set (no-color.org). */
function useColor(toFile: boolean): boolean {
  if (toFile) return false;
  if (process.env.NO_COLOR) return false;
  if (process.env.FORCE_COLOR && process.env.FORCE_COLOR !== '0') return true;
  return !!process.stdout.isTTY;
}

export function lintCommand(io: CliIO): Command {
  return new Command('lint')
    .description('check models for rewritable classifier tails and what pins their input size, read-only (for CI)')
    .argument('<paths...>', "model files, folders (searched for *.onnx), globs (* ** ? [..] {a,b}) or negative globs ('!old/**')")
    .addOption(new Option('-f, --format <format>', 'output format').choices(FORMATS).default('stylish'))
    .option('-o, --output-file <path>', 'write the output to a file instead of stdout')
    .addOption(new Option('--fail-on <level>', 'exit 1 when a finding is at least this severe').choices(FAIL_ON).default('error'))
    .option('--input-shape <spec>', "input dims for symbolic ones (name:1,3,224,224; the name may be left out for one-input models); repeatable, or several specs after one flag; specs naming inputs a model lacks are ignored for it", collect)
    .option('--rule <id=level>', `set a rule's severity or turn it off (${RULE_LEVELS.join('|')}); repeatable. Rules: ${RULE_IDS.join(', ')}`, collect)
    .option('--root <dir>', 'the folder output paths are relative to (default: $GITHUB_WORKSPACE, else the git top level, else the working folder)')
    .option('--ignore-pattern <pattern>', `skip files matching this gitignore-style pattern (relative to the working folder); repeatable`, collect)
    .option('--no-ignore', `lint files ${IGNORE_FILE} and --ignore-pattern would skip`)
    .addHelpText('after', EXAMPLES)
    .action(async (paths: string[], flags: LintFlags) => {
      const cwd = process.cwd();
      const inputShapes = flags.inputShape?.length ? parseInputShapes(flags.inputShape) : NO_INPUT_SHAPES;
      const rules = parseRuleLevels(flags.rule ?? []);
      const root = findRoot({ cwd, ...(flags.root !== undefined ? { explicit: flags.root } : {}) }).dir;
      const outputFile = flags.outputFile === undefined ? undefined : resolve(flags.outputFile);
      // A FIFO, a device or a folder is refused before the work rather than after it.
      if (outputFile !== undefined && existsSync(dirname(outputFile))) checkOutputPath(outputFile, { inputs: [] });
      const read: InputFile[] = [];
      setFlagsFromString('--no-turbofan');
      const result = lint(paths, {
        inputShapes, cwd, root, rules,
        // The models themselves are in `linted` below (broken ones too); here their data files.
        onRead: (file) => read.push(...inputFilesOf(file).slice(1)),
        ignore: flags.ignore, ignorePatterns: flags.ignorePattern ?? [],
        onFile: (p, i, n) => {
          if (i === OPTIMIZE_AFTER) setFlagsFromString('--turbofan');
          io.progress(`linting ${i + 1}/${n} ${relative(cwd, p) || p}`);
        },
      });
      setFlagsFromString('--turbofan');
      // ESLint warns about a file it was asked for but ignores; a warning, not a failure.
      for (const f of result.ignored) {
        io.warn(`${relative(cwd, f.path) || f.path}: ignored (by ${f.by})${f.by === 'a negative pattern' ? '' : '; --no-ignore lints it'}`);
      }
      const text = formatLint(result, flags.format, { color: useColor(outputFile !== undefined), root, rules, tool: toolInfo() });
      if (outputFile !== undefined) {
        try {
          mkdirSync(dirname(outputFile), { recursive: true });
        } catch (e) {
          throw new UsageError(`cannot write ${flags.outputFile} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
        }
        // Never one of the files linted (lint is read-only), and written whole: a temp file renamed into place.
        const linted = result.files.map((f) => ({ path: f.absolutePath, role: `a linted model (${f.absolutePath})` }));
        (await stageChunks(outputFile, [Buffer.from(text)], undefined, [...linted, ...read])).commit();
        io.progress(`wrote ${flags.outputFile}`);
      } else if (text !== '') {
        io.out(text);
      }
      if (failsAt(result, flags.failOn)) process.exitCode = 1;
    });
}
