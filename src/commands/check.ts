// `gapify check a.onnx b.onnx`: do two models compute the same thing? Both are run by onnxruntime
// (graph optimizations off) on the same seeded inputs, one session at a time, and every output is
// compared by name: dtype, shape and values (numpy.allclose). The comparison and its printout are
// the ones `gapify <model>` verifies a rewrite with.

import { Command } from 'commander';
import { VerificationError } from '../errors.js';
import { readModelLazy } from '../onnx/model-io.js';
import { formatComparison } from '../report.js';
import { jsonText, printLines, shapeText } from '../text.js';
import { compareModels, comparisonFailures } from '../verify/compare.js';
import { NO_INPUT_SHAPES, parseInputShapes } from '../verify/input-shapes.js';
import { collect, parseNonNegative, parseSeed } from './options.js';
import type { CliIO } from './io.js';

interface CheckFlags {
  inputShape?: string[];
  atol?: number;
  rtol?: number;
  seed: number;
  json?: boolean;
}

const EXAMPLES = `
Examples:
  $ gapify check resnet50.onnx resnet50.gap.onnx
  $ gapify check a.onnx b.onnx --input-shape input:1,3,320,320 --atol 1e-5 --json

Exit codes: 0 the outputs are equal within tolerance, 1 they differ (or the models' inputs or
output names differ), 2 a model can't be read or run.`;

export function checkCommand(io: CliIO): Command {
  return new Command('check')
    .description('run two models on the same seeded inputs with onnxruntime and compare every output')
    .argument('<a>', 'reference model (its inputs decide what is fed)')
    .argument('<b>', 'model to compare with it')
    .option('--input-shape <spec>', "input dims for symbolic ones, onnxsim's syntax: name:1,3,224,224 (name optional for one input); repeatable, or several specs after one flag", collect)
    .option('--atol <n>', 'absolute tolerance (default 1e-4; 1e-2 for float16 outputs)', parseNonNegative)
    .option('--rtol <n>', 'relative tolerance (default 1e-3; 1e-2 for float16 outputs)', parseNonNegative)
    .option('--seed <n>', 'seed of the random inputs', parseSeed, 0)
    .option('--json', 'print the comparison as JSON on stdout')
    .addHelpText('after', EXAMPLES)
    .action(async (a: string, b: string, flags: CheckFlags) => {
      const inputShapes = flags.inputShape?.length ? parseInputShapes(flags.inputShape) : NO_INPUT_SHAPES;
      // onnxruntime opens B and its data files itself, blocking on a FIFO: read B's structure first,
      // which checks every file it names without blocking (A is read to resolve the inputs).
      readModelLazy(b, { keepOpen: false });
      io.progress(`running ${a} and ${b} with onnxruntime`);
      const comparison = await compareModels({ path: a }, { path: b }, {
        inputShapes, seed: flags.seed,
        ...(flags.atol !== undefined ? { atol: flags.atol } : {}),
        ...(flags.rtol !== undefined ? { rtol: flags.rtol } : {}),
      });
      const failures = comparisonFailures(comparison);
      if (flags.json) {
        io.out(jsonText({ ok: comparison.ok, failures, comparison }));
      } else {
        const lines = [`gapify check ${comparison.a} ${comparison.b}`];
        for (const i of comparison.inputs) lines.push(`  input ${i.name}: ${shapeText(i.shape)} ${i.dtype}`);
        for (const n of comparison.notes) lines.push(`  note: ${n}`);
        lines.push(...formatComparison(comparison));
        lines.push(comparison.ok ? '  equal' : '  DIFFERENT');
        io.out(printLines(lines));
      }
      if (!comparison.ok) throw new VerificationError(`the models differ: ${failures.join('; ')}`);
    });
}
