// Rewrites test/golden.json, the table of what gapify writes for each fixture (test/support/golden.ts).
// Run it only when an output is meant to change, and say why in the commit.

import { writeFileSync } from 'node:fs';
import { tempDir } from '../test/support/models.js';
import { GOLDEN_FILE, goldenTable, shown } from '../test/support/golden.js';

const tmp = tempDir('gapify-golden-');
try {
  const table = await goldenTable(tmp.dir);
  writeFileSync(GOLDEN_FILE, `${JSON.stringify(table, null, 2)}\n`);
  process.stdout.write(`wrote ${shown(GOLDEN_FILE)} (${Object.keys(table).length} entries)\n`);
} finally {
  tmp.cleanup();
}
process.exit(0);
