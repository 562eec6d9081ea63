// What gapify writes for every fixture is what test/golden.json says (see test/support/golden.ts).
// A difference is either a bug or an intended change of output: then run `npm run golden` and say
// why in the commit.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { tempDir } from './support/models.js';
import { GOLDEN_FILE, goldenTable, type GoldenTable } from './support/golden.js';

const tmp = tempDir('gapify-golden-');
after(() => tmp.cleanup());

test('every fixture, in every mode, gives the output recorded in test/golden.json', async () => {
  const expected = JSON.parse(readFileSync(GOLDEN_FILE, 'utf8')) as GoldenTable;
  const actual = await goldenTable(tmp.dir);
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), 'the set of fixtures or modes changed');
  const differ = Object.keys(expected).filter((k) => actual[k] !== expected[k]).map((k) => `${k}: ${expected[k]} → ${actual[k]}`);
  assert.deepEqual(differ, []);
});
