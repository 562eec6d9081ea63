// `gapify <model>`: rewrite the classifier tails, verify, write.

import { Command, Option } from 'commander';
import { SizeLocked, VerificationFailed } from '../errors.js';
import { gapify } from '../gapify.js';
import { formatReport, reportJson } from '../report.js';
import type { GapifyReport } from '../result.js';
import { jsonText } from '../text.js';
import { ORDERS, type OrderOption } from '../rewrite/index.js';
import type { CliIO } from './io.js';
import { collect, parseNonNegative, parseSeed } from './options.js';

interface RewriteFlags {
  output?: string;
  inPlace?: boolean;
  verify: boolean;
  dryRun?: boolean;
  order: OrderOption;
  inputShape?: string[];
  atol?: number;
  rtol?: number;
  seed: number;
  json?: boolean;
  cam?: boolean;
  dynamicSize?: boolean;
  dynamicBatch?: boolean;
  alsoSize?: string[];
  allowFixedSize?: boolean;
}

export const EXAMPLES = `
Examples:
  $ gapify resnet50.onnx                      writes resnet50.gap.onnx, verified with onnxruntime
  $ gapify model.onnx -o model.nin.onnx --json
  $ gapify model.onnx --input-shape input:1,3,320,320 --order conv-first
  $ gapify model.onnx --dry-run               report what would change, write nothing
  $ gapify vgg16.onnx --dynamic-size --cam    any input size, plus a logits_cam output with the class maps
  $ gapify shufflenet.onnx --dynamic-size --dynamic-batch   any size and batch: constant Reshape targets computed at run time

Exit codes: 0 done (also when there was nothing to rewrite), 1 verification failed or the size is
pinned (nothing written), 2 bad input or usage.`;

export function rewriteCommand(io: CliIO): Command {
  return new Command('rewrite')
    .description('rewrite pool → flatten → fully-connected tails into Conv + GlobalAveragePool, verify, write <model>.gap.onnx')
    .argument('<model>', 'ONNX model file')
    .option('-o, --output <path>', 'output path (default: <model>.gap.onnx beside the input)')
    .option('--in-place', 'allow the output to replace the input file')
    .option('--no-verify', 'skip the onnxruntime check (the report says so)')
    .option('--dry-run', 'analyse and report; write nothing')
    .addOption(new Option('--order <order>', 'where the 1×1 Conv goes relative to the pool: auto is pool-first (never slower), conv-first where --cam asks for class maps').choices(ORDERS).default('auto'))
    .option('--input-shape <spec>', "input dims for symbolic ones, onnxsim's syntax: name:1,3,224,224 (name optional for one input); repeatable, or several specs after one flag", collect)
    .option('--atol <n>', 'absolute tolerance (default 1e-4; 1e-2 for float16 outputs)', parseNonNegative)
    .option('--rtol <n>', 'relative tolerance (default 1e-3; 1e-2 for float16 outputs)', parseNonNegative)
    .option('--seed <n>', 'seed of the random verification inputs', parseSeed, 0)
    .option('--json', 'print the report as JSON on stdout')
    .option('--cam', 'add a <output>_cam graph output with the class activation maps [N, K, h, w] (conv-first and spatial tails, GAP heads)')
    .option('--dynamic-size', 'make the input height and width symbolic, computing constant Reshape targets that hold the size from the tensor\'s shape; check at other sizes (exit 1 if a node pins the size)')
    .option('--dynamic-batch', 'the same for the batch dimension (checked at batch 3)')
    .option('--also-size <HxW>', 'a size --dynamic-size checks the model at (default 1.5× and a non-square size, in whole strides); repeatable', collect)
    .option('--allow-fixed-size', 'with --dynamic-size/--dynamic-batch: if the size is pinned, write the model with its fixed input size instead of failing')
    .addHelpText('after', EXAMPLES)
    .action(async (model: string, flags: RewriteFlags) => {
      const print = (report: GapifyReport): void => io.out(flags.json ? jsonText(reportJson(report)) : formatReport(report));
      try {
        const report = await gapify(model, {
          ...(flags.output !== undefined ? { output: flags.output } : {}),
          inPlace: !!flags.inPlace,
          verify: flags.verify,
          dryRun: !!flags.dryRun,
          order: flags.order,
          inputShapes: flags.inputShape ?? [],
          ...(flags.atol !== undefined ? { atol: flags.atol } : {}),
          ...(flags.rtol !== undefined ? { rtol: flags.rtol } : {}),
          seed: flags.seed,
          cam: !!flags.cam,
          dynamicSize: !!flags.dynamicSize,
          dynamicBatch: !!flags.dynamicBatch,
          ...(flags.alsoSize !== undefined ? { alsoSizes: flags.alsoSize } : {}),
          allowFixedSize: !!flags.allowFixedSize,
          log: io.progress,
        });
        print(report);
      } catch (e) {
        // gapify() puts its GapifyReport in the errors it throws with a report.
        if (e instanceof VerificationFailed || e instanceof SizeLocked) print(e.report as GapifyReport);
        throw e;
      }
    });
}
