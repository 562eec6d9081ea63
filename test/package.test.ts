// What `npm publish` would ship, read from `npm pack --dry-run` (no build: --ignore-scripts, after
// `npm test`'s own build): a license file that says what package.json says, source maps that carry
// their sources, an `exports` map that resolves, and engines the Node running the tests satisfies.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string; license: string; engines: { node: string }; repository: { url: string };
  exports: Record<string, string | Record<string, string>>; bin: Record<string, string>;
};

const packed = ((): string[] => {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
})();

describe('the npm package', () => {
  test('ships the license package.json names, and no tests or scripts', () => {
    assert.equal(pkg.license, 'MIT');
    assert.ok(packed.includes('LICENSE'));
    assert.match(readFileSync(join(ROOT, 'LICENSE'), 'utf8'), /^MIT License\n/);
    assert.ok(packed.includes(pkg.bin.gapify!), 'the bin');
    assert.deepEqual(packed.filter((f) => /^dist\/(test|scripts)\//.test(f)), []);
    assert.match(pkg.repository.url, /^git\+https:\/\/github\.com\/[^/]+\/gapify\.git$/);
  });

  test('every module it ships is built from a source that exists (no stale output of a deleted file)', () => {
    const stale = packed.filter((f) => f.startsWith('dist/src/') && f.endsWith('.js')).filter((f) => !existsSync(join(ROOT, f.slice('dist/'.length).replace(/\.js$/, '.ts'))));
    assert.deepEqual(stale, []);
  });

  test('every source map it ships carries its sources (none points at files left out)', () => {
    const maps = packed.filter((f) => f.endsWith('.js.map'));
    assert.ok(maps.length > 20, `${maps.length} maps`);
    for (const m of maps) {
      const map = JSON.parse(readFileSync(join(ROOT, m), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
      assert.equal(map.sourcesContent?.length, map.sources.length, m);
      assert.ok(map.sourcesContent!.every((s) => typeof s === 'string' && s.length > 0), m);
    }
  });

  test("`exports` resolves: the package imports itself by name, and every target is shipped", async () => {
    const lib = (await import(pkg.name)) as Record<string, unknown>;
    for (const name of ['lint', 'lintModel', 'formatLint', 'gapify', 'readModelLazy']) assert.equal(typeof lib[name], 'function', name);
    const targets = Object.values(pkg.exports).flatMap((t) => (typeof t === 'string' ? [t] : Object.values(t)));
    for (const t of targets) assert.ok(packed.includes(t.replace(/^\.\//, '')), t);
  });

  test('engines: the Node these tests run on satisfies it', () => {
    const m = /^>=(\d+)\.(\d+)\.(\d+)$/.exec(pkg.engines.node);
    assert.ok(m, pkg.engines.node);
    const [major, minor, patch] = process.versions.node.split('.').map(Number) as [number, number, number];
    const floor = [Number(m[1]), Number(m[2]), Number(m[3])] as const;
    assert.ok(major > floor[0] || (major === floor[0] && (minor > floor[1] || (minor === floor[1] && patch >= floor[2]))), `${process.versions.node} vs ${pkg.engines.node}`);
  });
});
