import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

/** The dependency rules of house.md are held by eslint.config.js; this shows they fire, and where they do not. */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

async function violations(file: string, source: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [result] = await eslint.lintText(source, { filePath: path.join(root, file) });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

const cases: Array<[string, string, boolean]> = [
  ['ingest/x.ts', "import { a } from '../query-api/server.js';", false],
  ['query-api/x.ts', "import { a } from '../collector/ring.js';", false],
  ['collector/x.ts', "import { a } from '../ingest/writer.js';", false],
  ['ingest/x.ts', "import { a } from '../bpf/index.js';", false],
  ['collector/x.ts', "import { a } from '../bpf/index.js';", true],
  ['collector/x.ts', "import { a } from '../common/config.js';", true],
  ['ingest/x.ts', "import { a } from '../schemas/avro-codec.js';", true],
  ['common/x.ts', "import { a } from '../ingest/writer.js';", false],
  ['common/x.ts', "import { a } from '../test/helpers.js';", false],
  ['schemas/x.ts', "import { a } from '../common/config.js';", false],
  ['schemas/x.ts', "import { a } from '../common/errors.js';", true],
  ['query-api/x.ts', "import { a } from '../test/helpers.js';", false],
  ['cli/x.ts', "import { a } from '../ingest/writer.js';", true],
  ['ingest/x.test.ts', "import { a } from '../test/helpers.js';", true],
];

for (const [file, source, allowed] of cases) {
  test(`${file}: ${source} is ${allowed ? 'allowed' : 'refused'}`, async () => {
    const found = await violations(file, source + '\nexport const b = a;\n');
    if (allowed) assert.deepEqual(found, []);
    else assert.equal(found.length, 1, `one dependency-rule error, got ${JSON.stringify(found)}`);
  });
}
