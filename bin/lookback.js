#!/usr/bin/env node
// The `lookback` command. The TypeScript sources are compiled to dist/ by `bash scripts/setup.sh` (npm run build).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('lookback is not built yet: run `bash scripts/setup.sh` (or `npm run build`) in the repository first.\n');
  process.exit(3);
}
await import(main.href);
