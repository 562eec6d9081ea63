// The GitHub Action (action.yml → action/lint.sh) and the pre-commit hook (.pre-commit-hooks.yaml),
// run here the way the runner and pre-commit run them, with the built binary as the gapify they
// call and made-up workspaces. No network: the action's `command` input replaces npx.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { tempDir } from './support/models.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const fixture = (name: string): string => join(ROOT, 'fixtures', name);
const tmp = tempDir('gapify-action-');
after(() => tmp.cleanup());

/** The environment of the test process minus what would make the binary's root the test machine's. */
function baseEnv(): NodeJS.ProcessEnv {
  const { GITHUB_WORKSPACE: _ws, GITHUB_OUTPUT: _out, ...rest } = process.env;
  return { ...rest, NO_COLOR: '1', GIT_CEILING_DIRECTORIES: tmp.dir };
}

// --- the action ----------------------------------------------------------------------------------

interface ActionStep { id?: string; uses?: string; run?: string; shell?: string; if?: string; env?: Record<string, string>; with?: Record<string, string> }
interface Action { inputs: Record<string, { default?: string }>; outputs: Record<string, { value: string }>; runs: { using: string; steps: ActionStep[] } }

const action = parse(readFileSync(join(ROOT, 'action.yml'), 'utf8')) as Action;
const lintStep = action.runs.steps.find((s) => s.id === 'lint')!;

/**
 * Runs the action's lint step as the runner would: its `env` with `${{ inputs.x }}` filled from
 * `inputs` or the action's defaults, its `run` in bash -eo pipefail, GITHUB_ACTION_PATH at the
 * repository, GITHUB_OUTPUT a file. Returns the outputs it wrote too.
 */
function runAction(workspace: string, inputs: Record<string, string>): { code: number | null; stdout: string; stderr: string; outputs: Record<string, string> } {
  const env: NodeJS.ProcessEnv = { ...baseEnv(), GITHUB_WORKSPACE: workspace, GITHUB_ACTION_PATH: ROOT };
  for (const [name, value] of Object.entries(lintStep.env ?? {})) {
    env[name] = value.replace(/\$\{\{\s*inputs\.([\w-]+)\s*\}\}/g, (_, input: string) => {
      assert.ok(input in action.inputs, `env ${name} uses an undeclared input ${input}`);
      return inputs[input] ?? action.inputs[input]!.default ?? '';
    });
  }
  const output = join(tmp.dir, `output-${Math.random().toString(36).slice(2)}`);
  writeFileSync(output, '');
  env.GITHUB_OUTPUT = output;
  const script = join(tmp.dir, 'step.sh');
  writeFileSync(script, lintStep.run!);
  const r = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', script], { cwd: workspace, env, encoding: 'utf8', timeout: 120_000 });
  const outputs = Object.fromEntries(readFileSync(output, 'utf8').trim().split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, outputs };
}

describe('the GitHub Action', () => {
  //   workspace/  models/resnet.onnx (rewritable-tail warning + fixed-input-size info)
  //               models/old/maxpool.onnx (infos)
  const workspace = join(tmp.dir, 'workspace');
  mkdirSync(join(workspace, 'models', 'old'), { recursive: true });
  copyFileSync(fixture('resnet_tail.onnx'), join(workspace, 'models', 'resnet.onnx'));
  copyFileSync(fixture('maxpool_tail.onnx'), join(workspace, 'models', 'old', 'maxpool.onnx'));
  const command = `${process.execPath} ${CLI}`;

  test('action.yml: a composite action that sets up Node, runs action/lint.sh, uploads SARIF when asked', () => {
    assert.equal(action.runs.using, 'composite');
    assert.ok(action.runs.steps.some((s) => s.uses?.startsWith('actions/setup-node@')));
    assert.equal(lintStep.shell, 'bash');
    assert.match(lintStep.run!, /\$GITHUB_ACTION_PATH\/action\/lint\.sh/);
    for (const input of ['paths', 'format', 'fail-on', 'sarif']) assert.ok(input in action.inputs, input);
    const upload = action.runs.steps.find((s) => s.uses?.startsWith('github/codeql-action/upload-sarif@'))!;
    assert.match(upload.if!, /!cancelled\(\) && inputs\.sarif == 'true'/);
    assert.equal(upload.with!.sarif_file, '${{ steps.lint.outputs.sarif-file }}');
  });

  test("the cache step's key holds the action's gapify version", () => {
    const step = action.runs.steps.find((s) => s.id === 'npm')!;
    const output = join(tmp.dir, 'npm-step-output');
    writeFileSync(output, '');
    const script = join(tmp.dir, 'npm-step.sh');
    writeFileSync(script, step.run!);
    const r = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', script], { env: { ...baseEnv(), GITHUB_ACTION_PATH: ROOT, GITHUB_OUTPUT: output }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    assert.match(readFileSync(output, 'utf8'), new RegExp(`^npm-cache=/.+\nversion=${version.replace(/\./g, '\\.')}\n$`));
    const cache = action.runs.steps.find((s) => s.uses?.startsWith('actions/cache@'))!;
    assert.match(cache.with!.key!, /\$\{\{ steps\.npm\.outputs\.version \}\}$/);
  });

  test('annotations with paths from GITHUB_WORKSPACE, run from a subfolder; exit code as an output', () => {
    const r = runAction(workspace, { command, 'working-directory': 'models' });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 4, r.stdout);
    assert.match(lines[0]!, /^::warning file=models\/resnet\.onnx,line=1,title=gapify rewritable-tail/);
    assert.ok(lines.every((l) => /^::(warning|notice) file=models\/(resnet|old\/maxpool)\.onnx,/.test(l)), r.stdout);
    assert.deepEqual(r.outputs, { 'exit-code': '0' });
  });

  test('fail-on warning fails the step with exit 1', () => {
    const r = runAction(workspace, { command, 'fail-on': 'warning' });
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(r.outputs, { 'exit-code': '1' });
  });

  test('globs reach gapify unexpanded, negative ones included; args pass options through', () => {
    const r = runAction(workspace, { command, paths: 'models/**/*.onnx\n!models/old/**', args: '--rule fixed-input-size=off' });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trimEnd().split('\n').map((l) => l.slice(0, l.indexOf(','))), ['::warning file=models/resnet.onnx']);
  });

  test('sarif: true writes the SARIF log for upload-sarif, and the annotations still go to the log', () => {
    const r = runAction(workspace, { command, sarif: 'true', 'fail-on': 'warning' });
    assert.equal(r.code, 1, r.stderr);
    const sarif = join(workspace, 'gapify.sarif');
    assert.deepEqual(r.outputs, { 'sarif-file': sarif, 'exit-code': '1' });
    const log = JSON.parse(readFileSync(sarif, 'utf8')) as { runs: { results: { locations: { physicalLocation: { artifactLocation: { uri: string } } }[] }[] }[] };
    assert.deepEqual([...new Set(log.runs[0]!.results.map((x) => x.locations[0]!.physicalLocation.artifactLocation.uri))].sort(), ['models/old/maxpool.onnx', 'models/resnet.onnx']);
    assert.match(r.stdout, /^::warning file=models\/resnet\.onnx,/m);
  });

  test('a usage error is exit 2, and no SARIF is left to upload', () => {
    const r = runAction(workspace, { command, paths: 'nothing/*.onnx', sarif: 'true', 'sarif-file': 'none.sarif' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no files match nothing\/\*\.onnx/);
    assert.deepEqual(r.outputs, { 'exit-code': '2' });
    assert.equal(existsSync(join(workspace, 'none.sarif')), false);
  });
});

// --- the pre-commit hook -------------------------------------------------------------------------

interface Hook { id: string; entry: string; language: string; files: string; args?: string[] }

const hooks = parse(readFileSync(join(ROOT, '.pre-commit-hooks.yaml'), 'utf8')) as Hook[];

/** pre-commit's `files` is a Python regular expression; `(?i)` at its start is JavaScript's `i` flag. */
function pythonRegExp(source: string): RegExp {
  return source.startsWith('(?i)') ? new RegExp(source.slice(4), 'i') : new RegExp(source);
}

/** What pre-commit does for a hook at commit time: the staged files its `files` selects, passed to `entry` from the top level. */
function runHook(hook: Hook, repo: string): { code: number | null; stdout: string; stderr: string; files: string[] } {
  const staged = spawnSync('git', ['diff', '--cached', '--name-only', '--diff-filter=ACMR', '-z'], { cwd: repo, encoding: 'utf8' });
  assert.equal(staged.status, 0, staged.stderr);
  const files = staged.stdout.split('\0').filter((f) => f !== '' && pythonRegExp(hook.files).test(f));
  const [bin, ...entryArgs] = hook.entry.split(' ');
  assert.equal(bin, 'gapify', 'the entry runs the package bin');
  const r = spawnSync(process.execPath, [CLI, ...entryArgs, ...(hook.args ?? []), ...files], { cwd: repo, env: baseEnv(), encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, files };
}

describe('the pre-commit hook', () => {
  const hook = hooks.find((h) => h.id === 'gapify-lint')!;
  //   repo/  models/resnet.onnx  models/BIG.ONNX (resnet)  models/broken.onnx (garbage)
  //          legacy/old.onnx (garbage, in .gapifyignore)  README.md   — all staged
  const repo = join(tmp.dir, 'hook-repo');
  const git = (...args: string[]): void => {
    const r = spawnSync('git', args, { cwd: repo, encoding: 'utf8', env: { ...baseEnv(), GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
    assert.equal(r.status, 0, `git ${args.join(' ')}: ${r.stderr}`);
  };

  test('.pre-commit-hooks.yaml: a node hook on .onnx files that runs `gapify lint`', () => {
    assert.equal(hook.language, 'node');
    assert.equal(hook.entry, 'gapify lint');
    assert.ok(pythonRegExp(hook.files).test('models/a.onnx') && pythonRegExp(hook.files).test('A.ONNX') && !pythonRegExp(hook.files).test('a.onnx.txt'));
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    assert.ok(pkg.bin.gapify, 'pre-commit installs the package and runs its bin');
  });

  test("pre-commit's install can read the tarball name from `npm pack`: our .npmrc keeps prepare's output off stdout", () => {
    // A package with a prepare script that prints, as our build does, and the repository's .npmrc.
    const pkgDir = join(tmp.dir, 'pack');
    mkdirSync(pkgDir, { recursive: true });
    writeFileSync(join(pkgDir, 'package.json'), JSON.stringify({ name: 'packed', version: '1.0.0', scripts: { prepare: 'echo building' } }));
    copyFileSync(join(ROOT, '.npmrc'), join(pkgDir, '.npmrc'));
    const r = spawnSync('npm', ['pack', '--dry-run'], { cwd: pkgDir, env: baseEnv(), encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'packed-1.0.0.tgz\n');
  });

  test('lints the staged models only, fails on a broken one, skips ignored ones with a warning', () => {
    mkdirSync(join(repo, 'models'), { recursive: true });
    mkdirSync(join(repo, 'legacy'), { recursive: true });
    git('init', '-q', '.');
    copyFileSync(fixture('resnet_tail.onnx'), join(repo, 'models', 'resnet.onnx'));
    copyFileSync(fixture('resnet_tail.onnx'), join(repo, 'models', 'BIG.ONNX'));
    writeFileSync(join(repo, 'models', 'broken.onnx'), 'not a model');
    writeFileSync(join(repo, 'legacy', 'old.onnx'), 'not a model either');
    writeFileSync(join(repo, '.gapifyignore'), 'legacy/\n');
    writeFileSync(join(repo, 'README.md'), '# models\n');
    git('add', '.');
    const r = runHook(hook, repo);
    assert.deepEqual(r.files, ['legacy/old.onnx', 'models/BIG.ONNX', 'models/broken.onnx', 'models/resnet.onnx']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^models\/broken\.onnx\n {2}error {4}not an ONNX model/m);
    assert.match(r.stdout, /^✖ 5 problems \(1 error, 2 warnings, 2 infos\) in 3 files$/m);
    assert.equal(r.stderr, 'gapify: warning: legacy/old.onnx: ignored (by .gapifyignore); --no-ignore lints it\n');

    git('rm', '-q', '--cached', 'models/broken.onnx');
    const fixed = runHook(hook, repo);
    assert.equal(fixed.code, 0, fixed.stdout + fixed.stderr);
    assert.deepEqual(fixed.files, ['legacy/old.onnx', 'models/BIG.ONNX', 'models/resnet.onnx']);
  });

  test('a commit that stages only ignored models passes', () => {
    git('commit', '-q', '-m', 'models');
    writeFileSync(join(repo, 'legacy', 'old.onnx'), 'still not a model');
    git('add', 'legacy/old.onnx');
    const r = runHook(hook, repo);
    assert.deepEqual(r.files, ['legacy/old.onnx']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /✔ 0 files linted, no problems/);
  });
});
