// tests/scenario/run.mjs — runs every tests/scenario/*.test.mjs in order.
// SCENARIO=substring runs only matching tests.  Ends "N passed, N failed".
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const files = fs.readdirSync(here).filter((f) => f.endsWith('.test.mjs')).sort()
  .map((f) => path.join(here, f));
const failed = await run(files);
process.exit(failed ? 1 : 0);
