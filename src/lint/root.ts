// The folder lint output is relative to. GitHub places an annotation or a code-scanning alert on a
// file by its path from the repository root, so `cd models && gapify lint .` must still say
// `models/a.onnx`, not `a.onnx`. In order: --root, GITHUB_WORKSPACE (the checkout on an Actions
// runner), the git top level (`git rev-parse --show-toplevel`), the working folder.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { statOrUndefined } from '../input-file.js';

export interface RootOptions {
  /** --root: wins over everything; relative to cwd. */
  readonly explicit?: string;
  readonly cwd: string;
  /** Where GITHUB_WORKSPACE is read (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
}

export interface Root {
  readonly dir: string;
  readonly from: '--root' | 'GITHUB_WORKSPACE' | 'git' | 'cwd';
}

/** Is there a `.git` in `dir` or above? If not (and GIT_DIR doesn't say otherwise), git need not be asked. */
function mayBeInRepository(dir: string, env: NodeJS.ProcessEnv): boolean {
  if (env.GIT_DIR !== undefined || env.GIT_WORK_TREE !== undefined) return true;
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (existsSync(join(d, '.git'))) return true;
    if (dirname(d) === d) return false;
  }
}

/** The git work tree holding `cwd`, or undefined (no git installed, not a repository, a bare one). */
function gitTopLevel(cwd: string, env: NodeJS.ProcessEnv): string | undefined {
  // Spawning git costs more than linting a small model: only when a repository may be there.
  if (!mayBeInRepository(cwd, env)) return undefined;
  const r = spawnSync('git', ['rev-parse', '--show-toplevel'], { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
  if (r.error || r.status !== 0) return undefined;
  const top = r.stdout.trim();
  return top === '' ? undefined : resolve(top);
}

export function findRoot(options: RootOptions): Root {
  const { cwd } = options;
  if (options.explicit !== undefined) {
    const dir = resolve(cwd, options.explicit);
    if (!statOrUndefined(dir)?.isDirectory()) throw new UsageError(`--root ${options.explicit}: no such folder`);
    return { dir, from: '--root' };
  }
  const env = options.env ?? process.env;
  const workspace = env.GITHUB_WORKSPACE;
  if (workspace) return { dir: resolve(cwd, workspace), from: 'GITHUB_WORKSPACE' };
  const top = gitTopLevel(cwd, env);
  if (top) return { dir: top, from: 'git' };
  return { dir: resolve(cwd), from: 'cwd' };
}

