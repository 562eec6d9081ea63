// The folder lint output is relative to. GitHub places an annotation or a code-scanning alert on a
// file by its path from the repository root, so `cd models && gapify lint .` must still say
// `models/a.onnx`, not `a.onnx`. In order: --root, GITHUB_WORKSPACE (the checkout on an Actions
// runner), the git top level (`git rev-parse --show-toplevel`), the working folder.

import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from '../errors.js';

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

/** The git work tree holding `cwd`, or undefined (no git installed, not a repository, a bare one). */
function gitTopLevel(cwd: string): string | undefined {
  const r = spawnSync('git', ['rev-parse', '--show-toplevel'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
  if (r.error || r.status !== 0) return undefined;
  const top = r.stdout.trim();
  return top === '' ? undefined : resolve(top);
}

export function findRoot(options: RootOptions): Root {
  const { cwd } = options;
  if (options.explicit !== undefined) {
    const dir = resolve(cwd, options.explicit);
    if (!statSafe(dir)?.isDirectory()) throw new UsageError(`--root ${options.explicit}: no such folder`);
    return { dir, from: '--root' };
  }
  const workspace = (options.env ?? process.env).GITHUB_WORKSPACE;
  if (workspace) return { dir: resolve(cwd, workspace), from: 'GITHUB_WORKSPACE' };
  const top = gitTopLevel(cwd);
  if (top) return { dir: top, from: 'git' };
  return { dir: resolve(cwd), from: 'cwd' };
}

function statSafe(path: string): ReturnType<typeof statSync> | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}
