// ESLint: typescript-eslint's recommended rules plus lookback's dependency rules (../shared/notes/house.md):
// services import schemas/ and common/ only, never each other; only collector/ imports bpf/; schemas/ imports
// nothing of ours but common/errors; production code never imports test/. The CLI and benchmarks are the
// composition roots and may import anything.
import tseslint from 'typescript-eslint';

const SERVICES = ['collector', 'ingest', 'query-api'];
const restrict = (forbidden, why) => ({
  'no-restricted-imports': ['error', {
    // A plain folder name forbids everything under it; an entry ending in ')' is a regex of its own.
    patterns: forbidden.map((dir) => ({
      regex: dir.endsWith(')') ? `(^|/)${dir}` : `(^|/)${dir}/`,
      message: `${why} (${dir.split('/')[0]}/ may not be imported here).`,
    })),
  }],
});
const others = (self) => SERVICES.filter((s) => s !== self);

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bpf/build/**', '**/*.js', '!eslint.config.js'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-empty-function': 'off',
    },
  },
  ...SERVICES.map((svc) => ({
    files: [`${svc}/**/*.ts`],
    ignores: [`${svc}/**/*.test.ts`],
    rules: restrict([...others(svc), 'cli', 'test', 'bench', ...(svc === 'collector' ? [] : ['bpf'])], 'services import schemas/ and common/ only, never each other'),
  })),
  {
    files: ['common/**/*.ts'],
    ignores: ['common/**/*.test.ts'],
    rules: restrict([...SERVICES, 'bpf', 'cli', 'test', 'bench'], 'common/ is shared run-time code and depends on no service'),
  },
  {
    files: ['bpf/**/*.ts'],
    ignores: ['bpf/**/*.test.ts'],
    rules: restrict([...SERVICES, 'cli', 'test', 'bench'], 'bpf/ is capture only, with no policy'),
  },
  {
    files: ['demo/**/*.ts'],
    ignores: ['demo/**/*.test.ts'],
    rules: restrict([...SERVICES, 'bpf', 'cli', 'test', 'bench'], 'demo/ is a scenario built on common/ and schemas/ only'),
  },
  {
    files: ['schemas/**/*.ts'],
    ignores: ['schemas/**/*.test.ts'],
    rules: restrict([...SERVICES, 'bpf', 'cli', 'test', 'bench', 'common/(?!errors\\.js)'], 'schemas/ is the contract and imports nothing of ours but common/errors'),
  },
);
