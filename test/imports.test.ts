// The modules form no import cycle — type-only imports included, since a cycle of types is still a
// tangle (a module that needs a type from its own importer). Checked with dpdm on the sources.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { parseCircular, parseDependencyTree } from 'dpdm';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

test('src/ has no import cycles', async () => {
  const tree = await parseDependencyTree('src/**/*.ts', { cwd: ROOT, context: ROOT, transform: false, skipDynamicImports: false });
  assert.ok(Object.keys(tree).length > 40, 'dpdm found the sources');
  assert.deepEqual(parseCircular(tree).map((c) => c.join(' → ')), []);
});
