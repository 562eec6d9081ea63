// Where a command may write. A model file (or an image) is someone's work: no command writes over
// one of its own inputs unless told to, and none replaces something that is not a regular file
// (renaming over /dev/null as root would replace the device).

import { existsSync, realpathSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from './errors.js';

const real = (p: string): string => (existsSync(p) ? realpathSync(p) : resolve(p));

export interface OutputRules {
  /** The output is written by renaming a temp file over it, which must not replace a device or pipe. */
  renamed: boolean;
  /** The flag that allows writing over the input (gapify's --in-place), if any, and whether it was given. */
  sameAsInput?: { allowed: boolean; flag: string };
}

/**
 * Refuses an output path that is a folder, one of `inputs` (compared by real path, so links and
 * `./x` spellings count), or — for outputs renamed into place — a device or FIFO.
 */
export function checkOutputPath(output: string, inputs: readonly string[], rules: OutputRules): void {
  const { sameAsInput } = rules;
  if (existsSync(output)) {
    const st = statSync(output);
    if (st.isDirectory()) throw new UsageError(`the output ${output} is a folder; give a file path`);
    if (rules.renamed && !st.isFile()) throw new UsageError(`the output ${output} is not a regular file (a device or pipe); give a file path`);
  }
  const target = real(output);
  for (const input of inputs) {
    if (real(input) !== target) continue;
    if (sameAsInput?.allowed) continue;
    throw new UsageError(sameAsInput ? `the output ${output} is the input file; pass ${sameAsInput.flag} to replace it` : `the output ${output} is an input (${input}); write somewhere else`);
  }
}
