// Which files `gapify lint <paths…>` lints. Node 20 has no fs.glob, so globs are matched here.
//
// - An existing path is used as it is (so shell-expanded globs pass through): a file is linted
//   whatever its name; a folder is searched recursively for *.onnx.
// - Otherwise, an argument with glob characters is matched: `*` and `?` within a path segment,
//   `**` as a whole segment for any number of folders, `[abc]` classes. A matched folder is
//   searched like a folder argument; matched files must end in .onnx unless the pattern's last
//   segment names another extension itself (`*.pb`).
// - Folder walks skip node_modules and dot-folders (.git), like ESLint; an explicit argument is
//   never skipped. Symlinked folders are followed once (cycles are cut by their real path).
// - An argument that matches no file at all is a usage error, like ESLint's "No files matching the
//   pattern": a typo in CI must not pass as "nothing to lint".
// Files come out in argument order, each folder's files sorted by name, duplicates removed.

import { readdirSync, realpathSync, statSync, type Dirent } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { UsageError } from '../errors.js';

const GLOB_CHARS = /[*?[]/;
const SKIP_DIRS = new Set(['node_modules']);

const isModelName = (name: string): boolean => name.toLowerCase().endsWith('.onnx');

function statOrUndefined(path: string): ReturnType<typeof statSync> | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function entries(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch (e) {
    throw new UsageError(`cannot read folder ${dir} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}

/** Resolves a Dirent to 'file' | 'dir' | undefined, following symlinks. */
function kindOf(dir: string, d: Dirent): 'file' | 'dir' | undefined {
  if (d.isFile()) return 'file';
  if (d.isDirectory()) return 'dir';
  if (d.isSymbolicLink()) {
    const st = statOrUndefined(join(dir, d.name));
    return st?.isFile() ? 'file' : st?.isDirectory() ? 'dir' : undefined;
  }
  return undefined;
}

/** Every *.onnx under `dir` (recursive), sorted per folder. */
function walk(dir: string, accept: (name: string) => boolean, out: string[], seen = new Set<string>()): void {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch {
    return;
  }
  if (seen.has(real)) return;
  seen.add(real);
  const subdirs: string[] = [];
  for (const d of entries(dir)) {
    const kind = kindOf(dir, d);
    if (kind === 'file' && accept(d.name)) out.push(join(dir, d.name));
    else if (kind === 'dir' && !d.name.startsWith('.') && !SKIP_DIRS.has(d.name)) subdirs.push(join(dir, d.name));
  }
  for (const s of subdirs) walk(s, accept, out, seen);
}

/** A glob segment (no '/') as a regular expression. */
function segmentRegExp(seg: string): RegExp {
  let re = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = seg.indexOf(']', i + 2);
      if (close < 0) {
        re += '\\[';
      } else {
        let body = seg.slice(i + 1, close);
        if (body.startsWith('!')) body = `^${body.slice(1)}`;
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Paths matching `pattern` (absolute or relative to `cwd`): files and folders. */
export function matchGlob(pattern: string, cwd: string): string[] {
  const normalized = pattern.replace(/\\/g, '/');
  const absolute = isAbsolute(pattern);
  const segments = normalized.split('/').filter((s, i) => s !== '' || i === 0);
  // The literal prefix: folders without glob characters.
  let k = 0;
  while (k < segments.length - 1 && !GLOB_CHARS.test(segments[k]!)) k++;
  const prefix = segments.slice(0, k).join('/');
  const root = absolute ? (prefix === '' ? '/' : prefix) : resolve(cwd, prefix === '' ? '.' : prefix);
  const parts = segments.slice(k).map((s) => (s === '**' ? '**' as const : segmentRegExp(s)));
  const out: string[] = [];
  const seen = new Set<string>();
  const add = (p: string): void => {
    if (!seen.has(p)) {
      seen.add(p);
      out.push(p);
    }
  };
  const visit = (dir: string, i: number, realSeen: Set<string>): void => {
    const part = parts[i];
    if (part === undefined) return;
    const last = i === parts.length - 1;
    if (part === '**') {
      // Zero folders…
      if (last) add(dir);
      else visit(dir, i + 1, realSeen);
      // …or one more.
      let real: string;
      try {
        real = realpathSync(dir);
      } catch {
        return;
      }
      if (realSeen.has(real)) return;
      const next = new Set(realSeen).add(real);
      for (const d of entries(dir)) {
        if (d.name.startsWith('.') || SKIP_DIRS.has(d.name)) continue;
        if (kindOf(dir, d) === 'dir') visit(join(dir, d.name), i, next);
      }
      return;
    }
    if (!statOrUndefined(dir)?.isDirectory()) return;
    for (const d of entries(dir)) {
      if (!part.test(d.name)) continue;
      // Dot entries only when the pattern spells the dot.
      if (d.name.startsWith('.') && !(segments[k + i] ?? '').startsWith('.')) continue;
      const kind = kindOf(dir, d);
      const p = join(dir, d.name);
      if (last) {
        if (kind) add(p);
      } else if (kind === 'dir') {
        visit(p, i + 1, realSeen);
      }
    }
  };
  if (statOrUndefined(root)?.isDirectory()) visit(root, 0, new Set());
  return out;
}

/** The model files named by `args` (paths, folders, globs), in order, without duplicates. UsageError when an argument names nothing. */
export function expandPaths(args: readonly string[], cwd: string = process.cwd()): string[] {
  const files: string[] = [];
  const seen = new Set<string>();
  const add = (p: string): void => {
    const abs = resolve(cwd, p);
    if (!seen.has(abs)) {
      seen.add(abs);
      files.push(abs);
    }
  };
  for (const arg of args) {
    if (arg === '') throw new UsageError('empty path');
    const abs = resolve(cwd, arg);
    const st = statOrUndefined(abs);
    const found: string[] = [];
    if (st?.isDirectory()) {
      walk(abs, isModelName, found);
      if (found.length === 0) throw new UsageError(`no .onnx files in folder ${arg}`);
    } else if (st) {
      found.push(abs);
    } else if (GLOB_CHARS.test(arg)) {
      const lastSeg = arg.replace(/\\/g, '/').split('/').pop() ?? '';
      const ext = /\.[A-Za-z0-9_-]+$/.exec(lastSeg)?.[0];
      const acceptFile = ext && !GLOB_CHARS.test(ext) ? () => true : isModelName;
      for (const m of matchGlob(arg, cwd)) {
        const mst = statOrUndefined(m);
        if (mst?.isDirectory()) walk(m, isModelName, found);
        else if (mst && acceptFile(m)) found.push(m);
      }
      if (found.length === 0) throw new UsageError(`no files match ${arg}`);
    } else {
      throw new UsageError(`no such file or folder: ${arg}`);
    }
    for (const f of found) add(f);
  }
  return files;
}
