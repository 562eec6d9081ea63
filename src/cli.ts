#!/usr/bin/env node
// The gapify command line: parses arguments, calls the library, prints, and maps errors to exit
// codes — 0 done, 1 findings / verification failed, 2 bad input or usage. Errors a user can fix
// print one line; anything unexpected prints its stack.

import { Command, CommanderError } from 'commander';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { GapifyError } from './errors.js';
import { EXAMPLES, rewriteCommand } from './commands/rewrite.js';
import { camCommand } from './commands/cam.js';
import { lintCommand } from './commands/lint.js';
import { checkCommand } from './commands/check.js';
import type { CliIO } from './commands/io.js';
import { similarCommand, spreadInputShapes } from './commands/options.js';
import { statOrUndefined } from './input-file.js';
import { oneLine, printLines } from './text.js';

/** An error is one line a user reads: names in it can't break it, and a very long one is cut. */
const ERROR_LINE = 300;

const version = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

export function buildProgram(io: CliIO): Command {
  const program = new Command('gapify')
    .description('Rewrite CNN classifier tails into 1×1 Conv + GlobalAveragePool, exactly, and prove it with onnxruntime.')
    .version(version)
    .option('--debug', 'print stack traces for errors')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    // Commander's own messages quote the arguments given: printable, like every other line.
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(printLines(s.split('\n'))) });
  program.addCommand(rewriteCommand(io), { isDefault: true });
  program.addCommand(camCommand(io));
  program.addCommand(lintCommand(io));
  program.addCommand(checkCommand(io));
  program.addHelpText('after', `${EXAMPLES}\n\n'gapify rewrite --help' lists the options of the main job (the default command).`);
  for (const c of program.commands) c.exitOverride().showHelpAfterError(`(run 'gapify ${c.name()} --help' for usage)`);
  return program;
}

/**
 * `gapify lnt x`: with `rewrite` as the default command, commander would take `lnt` for a model
 * path and complain about too many arguments for 'rewrite'. A first word that names no file and is
 * close to a command is a mistyped command; say which one was meant.
 */
function checkCommandWord(program: Command, argv: readonly string[]): void {
  const word = argv[0];
  if (word === undefined || word.startsWith('-') || existsSync(word)) return;
  const names = program.commands.map((c) => c.name());
  if (names.includes(word)) return;
  const meant = similarCommand(word, names);
  if (meant) program.error(`error: unknown command '${word}' (did you mean '${meant}'?)`, { code: 'commander.unknownCommand', exitCode: 2 });
}

/**
 * A system call that failed on a path (EISDIR, EACCES, ENOSPC, EXDEV, … — e.g. `-o` naming an
 * existing folder): the user's environment, not a bug, so one line naming the path. Undefined for
 * anything else.
 */
function systemError(e: unknown): string | undefined {
  if (!(e instanceof Error)) return undefined;
  const { code, syscall, path, dest } = e as NodeJS.ErrnoException & { dest?: string };
  if (typeof code !== 'string' || typeof syscall !== 'string') return undefined;
  // Node's message is "CODE: description, syscall 'path' -> 'dest'": keep "CODE: description".
  const what = e.message.split(', ')[0] ?? code;
  const target = dest ?? path;
  return `${target ? `${target}: ` : ''}${syscall} failed (${what})`;
}

export async function main(argv: string[]): Promise<number> {
  const io: CliIO = {
    out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    progress: (line) => {
      if (process.stderr.isTTY) process.stderr.write(`gapify: ${oneLine(line)}\n`);
    },
    warn: (line) => process.stderr.write(`gapify: warning: ${oneLine(line)}\n`),
  };
  const debug = argv.includes('--debug');
  const program = buildProgram(io);
  const isFile = (a: string): boolean => statOrUndefined(a)?.isFile() ?? false;
  const args = spreadInputShapes(argv.filter((a) => a !== '--debug'), isFile);
  try {
    checkCommandWord(program, args);
    await program.parseAsync(args, { from: 'user' });
    return Number(process.exitCode ?? 0);
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version are successes; every other parse error is a usage error.
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? 0 : 2;
    }
    if (e instanceof GapifyError) {
      process.stderr.write(`gapify: ${debug ? (e.stack ?? e.message) : oneLine(e.message, ERROR_LINE)}\n`);
      return e.exitCode;
    }
    const sys = systemError(e);
    if (sys) {
      process.stderr.write(`gapify: ${debug ? `${sys}\n${(e as Error).stack ?? ''}` : oneLine(sys, ERROR_LINE)}\n`);
      return 2;
    }
    process.stderr.write(`gapify: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 2;
  }
}

const code = await main(process.argv.slice(2));
// Exit explicitly once output is flushed: onnxruntime's thread pool can otherwise keep us alive.
process.stdout.write('', () => process.exit(code));
