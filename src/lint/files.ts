// Which files `gapify lint <paths…>` lints, the way ESLint picks files.
//
// - An existing path is used as it is (so shell-expanded globs pass through): a file is linted
//   whatever its name; a folder is searched recursively for *.onnx (any case).
// - Otherwise an argument with glob syntax is matched by tinyglobby (picomatch syntax: `*`, `**`,
//   `?`, `[..]`, braces `{a,b}`, extglobs). A matched folder is searched like a folder argument;
//   matched files must end in .onnx unless the pattern's last segment names another extension
//   itself (`*.pb`).
// - An argument starting with `!` is a negative glob (relative to the working folder): it removes
//   what the other arguments found, as in globby / fast-glob.
// - Folder walks and globs skip node_modules and dot-folders (.git), like ESLint, unless the
//   pattern spells them out; an explicit path is never skipped for that.
// - Ignore patterns in gitignore syntax: the root's `.gapifyignore` (relative to the root, like a
//   top-level .gitignore) and `--ignore-pattern` (relative to the working folder). They apply to
//   every file found, named ones included — pre-commit and lint-staged pass staged files by name —
//   but a named file that is ignored is reported back (`ignored`), as ESLint warns about it.
// - An argument that yields no file is a usage error, like ESLint's "No files matching the
//   pattern": a typo in CI must not pass as "nothing to lint"; so is one whose files are all ignored
//   (ESLint's "All files matched by … are ignored").
// Files come out in argument order, each folder's files sorted by name before its subfolders',
// duplicates removed (by real path: a symlinked folder, or a link back up the tree, is not linted twice).

import { closeSync, existsSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Ignore } from 'ignore';
import { UsageError } from '../errors.js';
import { NotARegularFile, openRegularFile, readRegularFile, statOrUndefined } from '../input-file.js';

// The glob and ignore libraries load on first use: a run that names its files (pre-commit's) needs
// none of them, and they cost ~20 ms of a lint's start-up.
const require = createRequire(import.meta.url);
const tinyglobby = (): typeof import('tinyglobby') => require('tinyglobby') as typeof import('tinyglobby');
const ignore = (): Ignore => (require('ignore') as typeof import('ignore'))();
const picomatch = (): typeof import('picomatch') => require('picomatch') as typeof import('picomatch');

/** The ignore file read from the root folder (gitignore syntax). */
export const IGNORE_FILE = '.gapifyignore';

export interface ExpandOptions {
  /** Relative arguments, negative globs and ignore patterns are taken from here (default process.cwd()). */
  readonly cwd?: string;
  /** The folder whose .gapifyignore applies (default: cwd). */
  readonly root?: string;
  /** Read <root>/.gapifyignore (default true; `--no-ignore` turns it and the patterns off). */
  readonly ignoreFile?: boolean;
  /** `--ignore-pattern`s: gitignore syntax, relative to cwd. */
  readonly ignorePatterns?: readonly string[];
}

export interface IgnoredFile {
  /** Absolute path. */
  readonly path: string;
  /** What skipped it: '.gapifyignore', '--ignore-pattern' or 'a negative pattern'. */
  readonly by: string;
}

export interface ExpandedPaths {
  /** Absolute paths of the files to lint. */
  readonly files: readonly string[];
  /** Files named explicitly that an ignore pattern or negative glob skipped. */
  readonly ignored: readonly IgnoredFile[];
}

const isModelName = (name: string): boolean => name.toLowerCase().endsWith('.onnx');
const toPosix = (p: string): string => p.split(sep).join('/');

function realOrSelf(path: string): string {
  try {
    return realpathSync.native(path);
  } catch {
    return path;
  }
}

/**
 * The size of a regular file gapify can open for reading; null when it can't (missing, no
 * permission, not a regular file). What lint's JSON `bytes` reports for a file that is not a model.
 */
export function readableSize(path: string): number | null {
  try {
    const { fd, size } = openRegularFile(path);
    closeSync(fd);
    return size;
  } catch {
    return null;
  }
}

/** Sorts paths below one base so that each folder's files (by name) come before its subfolders. */
function sortTree(paths: string[]): string[] {
  const split = new Map(paths.map((p) => [p, p.split('/')]));
  return paths.sort((a, b) => {
    const x = split.get(a)!;
    const y = split.get(b)!;
    for (let i = 0; ; i++) {
      const xs = x[i]!;
      const ys = y[i]!;
      if (xs === ys) continue;
      const xFile = i === x.length - 1;
      const yFile = i === y.length - 1;
      if (xFile !== yFile) return xFile ? -1 : 1;
      return xs < ys ? -1 : 1;
    }
  });
}

/** A matcher for gitignore-syntax patterns anchored at `base`; files outside `base` never match. */
function anchored(base: string, ig: Ignore): (abs: string) => boolean {
  return (abs) => {
    const rel = relative(base, abs);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return false;
    return ig.ignores(toPosix(rel));
  };
}

/** Which ignore source skips a file (absolute path), or undefined. */
type SkippedBy = (abs: string) => string | undefined;

function loadIgnores(cwd: string, options: ExpandOptions): SkippedBy {
  if (options.ignoreFile === false) return () => undefined;
  const root = resolve(cwd, options.root ?? cwd);
  const sources: [string, (abs: string) => boolean][] = [];
  const file = join(root, IGNORE_FILE);
  if (existsSync(file)) {
    let text: string;
    try {
      text = readRegularFile(file).toString('utf8');
    } catch (e) {
      if (e instanceof NotARegularFile) throw new UsageError(`${file} is not a regular file (${e.kind})`);
      throw new UsageError(`cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    sources.push([IGNORE_FILE, anchored(root, ignore().add(text))]);
  }
  if (options.ignorePatterns?.length) sources.push(['--ignore-pattern', anchored(cwd, ignore().add([...options.ignorePatterns]))]);
  return (abs) => sources.find(([, test]) => test(abs))?.[0];
}

/** Does the pattern spell out node_modules? Then the user asked for it. */
const mentionsNodeModules = (pattern: string): boolean => /(^|\/)node_modules(\/|$)/.test(pattern);

/** Every *.onnx under `dir`, skipping node_modules and dot-folders. */
function walk(dir: string): string[] {
  const found = tinyglobby().globSync('**/*.onnx', { cwd: dir, caseSensitiveMatch: false, dot: false, ignore: ['**/node_modules/**'], followSymbolicLinks: true, expandDirectories: false });
  return sortTree(found).map((f) => join(dir, f));
}

/** Files (and folders, searched like folder arguments) matching `pattern`. */
function matchGlob(pattern: string, cwd: string): string[] {
  const posix = pattern.replace(/\\/g, '/');
  const lastSeg = posix.split('/').pop() ?? '';
  const ext = /\.[A-Za-z0-9_-]+$/.exec(lastSeg)?.[0];
  const { globSync, isDynamicPattern } = tinyglobby();
  const acceptFile = ext && !isDynamicPattern(ext) ? (): boolean => true : isModelName;
  const matches = globSync(posix, {
    cwd, absolute: true, dot: false, onlyFiles: false, expandDirectories: false, followSymbolicLinks: true,
    ignore: mentionsNodeModules(posix) ? [] : ['**/node_modules/**'],
  });
  const out: string[] = [];
  for (const m of sortTree(matches.map((m) => m.replace(/\/$/, '')))) {
    const st = statOrUndefined(m);
    if (st?.isDirectory()) out.push(...walk(m));
    else if (st && acceptFile(m)) out.push(m);
  }
  return out;
}

/**
 * The model files named by `args` (paths, folders, globs, negative globs), in order, without
 * duplicates, minus ignored ones. UsageError when an argument yields no file to lint.
 */
export function expandPaths(args: readonly string[], options: ExpandOptions = {}): ExpandedPaths {
  const cwd = resolve(options.cwd ?? process.cwd());
  const ignoredBy = loadIgnores(cwd, options);
  const negatives = args.filter((a) => a.startsWith('!') && a.length > 1).map((a) => a.slice(1).replace(/\\/g, '/'));
  const excluded = negatives.length ? picomatch()(negatives, { dot: true }) : (): boolean => false;
  const skippedBy = (abs: string): string | undefined =>
    (excluded(toPosix(relative(cwd, abs))) || excluded(toPosix(abs)) ? 'a negative pattern' : ignoredBy(abs));
  const positives = args.filter((a) => !(a.startsWith('!') && a.length > 1));
  if (positives.length === 0 && args.length > 0) throw new UsageError(`only negative patterns given (${args.join(' ')}): name the files to lint too`);

  const files: string[] = [];
  const ignored: IgnoredFile[] = [];
  const seen = new Set<string>();
  for (const arg of positives) {
    if (arg === '') throw new UsageError('empty path');
    const abs = resolve(cwd, arg);
    const st = statOrUndefined(abs);
    let found: string[];
    if (st?.isDirectory()) {
      found = walk(abs);
      if (found.length === 0) throw new UsageError(`no .onnx files in folder ${arg}`);
    } else if (st) {
      found = [abs];
    } else if (tinyglobby().isDynamicPattern(arg)) {
      found = matchGlob(arg, cwd);
      if (found.length === 0) throw new UsageError(`no files match ${arg}`);
    } else {
      throw new UsageError(`no such file or folder: ${arg}`);
    }
    const kept = found.filter((f) => !skippedBy(f));
    if (kept.length === 0 && st && !st.isDirectory()) {
      // A file named explicitly: reported, not an error, as ESLint warns (pre-commit passes ignored files too).
      if (!ignored.some((i) => i.path === abs)) ignored.push({ path: abs, by: skippedBy(abs)! });
      continue;
    }
    if (kept.length === 0) {
      const by = [...new Set(found.map((f) => skippedBy(f)!))].join(', ');
      throw new UsageError(`all files matched by ${arg} are ignored (by ${by})`);
    }
    for (const f of kept) {
      const real = realOrSelf(f);
      if (!seen.has(real)) {
        seen.add(real);
        files.push(f);
      }
    }
  }
  return { files, ignored };
}
