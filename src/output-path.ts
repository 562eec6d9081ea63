// Where a command may write. A model file (or an image) is someone's work: no command writes over a
// file one of its inputs reads — the model, each of its external data files, cam's image — unless
// told to (--in-place, for the model itself). Files are compared by device and inode, so a symlink,
// a hard link or a `./x` spelling of an input is that input.
//
// Every output is written to a temp file and renamed into place, and a rename replaces whatever
// the name holds: so an output must be a regular file or a new name in an existing folder. A
// symlink is followed to the regular file it leads to (as cp does), which is then the path
// written; a link into /proc (what /dev/stdout, /dev/fd/N and /proc/self/fd/N are) or a symlink
// in /dev is refused, as are folders, devices, FIFOs and sockets.

import { accessSync, constants, lstatSync, readlinkSync, realpathSync, statSync, type BigIntStats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UsageError } from './errors.js';
import { fileKind } from './input-file.js';

/** A file a command reads, and how a refusal names it ("the image", "external data of m.onnx"). */
export interface InputFile {
  readonly path: string;
  readonly role: string;
}

export interface OutputRules {
  /** What the command reads: the output may be none of these. */
  inputs: readonly InputFile[];
  /**
   * The flag that allows writing over the first input (gapify's --in-place), and whether it was
   * given. Without it, the first input is refused like the others.
   */
  sameAsInput?: { allowed: boolean; flag: string };
  /** How refusals name the output (default "the output <path>"). */
  name?: string;
}

/** Symlink hops followed before giving up (Linux's own limit). */
const MAX_LINKS = 40;

const under = (path: string, root: string): boolean => path === root || path.startsWith(`${root}/`);

function identity(path: string): BigIntStats | undefined {
  try {
    return statSync(path, { bigint: true });
  } catch {
    return undefined; // an input that does not exist can't be overwritten; its reader reports it
  }
}

/** `path` with its folder's symlinks resolved (the entry itself is left as it is). */
function entryPath(output: string, path: string): string {
  let dir: string;
  try {
    dir = realpathSync(dirname(path));
  } catch {
    throw new UsageError(`${output}: output folder does not exist`);
  }
  if (!statSync(dir).isDirectory()) throw new UsageError(`${output}: output folder does not exist`);
  return join(dir, basename(path));
}

/**
 * Checks `output` and returns the path to write: `output` itself (absolute), or the regular file a
 * symlink at `output` leads to. Throws a UsageError (one line, the reason) when the output is not
 * a regular file or a new name in a writable folder, or is one of `rules.inputs`.
 */
export function resolveOutputPath(output: string, rules: OutputRules): string {
  const what = rules.name ?? `the output ${output}`;
  let path = resolve(output);
  let target: string | undefined;
  for (let hops = 0; target === undefined; hops++) {
    if (hops > MAX_LINKS) throw new UsageError(`${what} is a loop of symbolic links`);
    path = entryPath(output, path);
    if (under(path, '/proc')) throw new UsageError(`${what} leads into /proc (${path}), to another process's file, not a file of its own; give a file path`);
    let st;
    try {
      st = lstatSync(path);
    } catch {
      if (hops > 0) throw new UsageError(`${what} is a symbolic link to ${path}, which does not exist; give a file path`);
      try {
        accessSync(dirname(path), constants.W_OK);
      } catch {
        throw new UsageError(`${what} is in a folder gapify can't write to (${dirname(path)})`);
      }
      target = path;
      break;
    }
    if (st.isSymbolicLink()) {
      if (under(path, '/dev')) throw new UsageError(`${what} is a link in /dev (${path}), not a file; give a file path`);
      path = resolve(dirname(path), readlinkSync(path));
      continue;
    }
    if (st.isDirectory()) throw new UsageError(`${what} is a folder; give a file path`);
    if (!st.isFile()) throw new UsageError(`${what} is not a regular file (${fileKind(st)}); give a file path`);
    target = path;
  }
  const out = identity(target);
  if (out) {
    rules.inputs.forEach((input, i) => {
      const id = identity(input.path);
      if (!id || id.dev !== out.dev || id.ino !== out.ino) return;
      const { sameAsInput } = rules;
      if (i === 0 && sameAsInput) {
        if (sameAsInput.allowed) return;
        throw new UsageError(`${what} is the input file; pass ${sameAsInput.flag} to replace it`);
      }
      throw new UsageError(`${what} is ${input.role}; write somewhere else`);
    });
  }
  return target;
}

/** resolveOutputPath, for a check made early (before the work) whose answer is not needed yet. */
export function checkOutputPath(output: string, rules: OutputRules): void {
  resolveOutputPath(output, rules);
}
