#!/usr/bin/env node
// The gapify command line: parses arguments, calls the library, prints, and maps errors to exit
// codes — 0 done, 1 findings / verification failed, 2 bad input or usage. Errors a user can fix
// print one line; anything unexpected prints its stack.

import { Command, CommanderError } from 'commander';
import { createRequire } from 'node:module';
import { GapifyError } from './errors.js';
import { EXAMPLES, rewriteCommand } from './commands/rewrite.js';

export interface CliIO {
  /** Results: stdout. */
  out(text: string): void;
  /** Progress: stderr, only for a person watching a terminal. */
  progress(line: string): void;
}

const version = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

export function buildProgram(io: CliIO): Command {
  const program = new Command('gapify')
    .description('Rewrite CNN classifier tails into 1×1 Conv + GlobalAveragePool, exactly, and prove it with onnxruntime.')
    .version(version)
    .option('--debug', 'print stack traces for errors')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });
  program.addCommand(rewriteCommand(io), { isDefault: true });
  program.addHelpText('after', `${EXAMPLES}\n\n'gapify rewrite --help' lists the options of the main job (the default command).`);
  for (const c of program.commands) c.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const io: CliIO = {
    out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    progress: (line) => {
      if (process.stderr.isTTY) process.stderr.write(`gapify: ${line}\n`);
    },
  };
  const debug = argv.includes('--debug');
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv.filter((a) => a !== '--debug'), { from: 'user' });
    return Number(process.exitCode ?? 0);
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version are successes; every other parse error is a usage error.
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? 0 : 2;
    }
    if (e instanceof GapifyError) {
      process.stderr.write(`gapify: ${debug ? (e.stack ?? e.message) : e.message.split('\n')[0]}\n`);
      return e.exitCode;
    }
    process.stderr.write(`gapify: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 2;
  }
}

const code = await main(process.argv.slice(2));
// Exit explicitly once output is flushed: onnxruntime's thread pool can otherwise keep us alive.
process.stdout.write('', () => process.exit(code));
