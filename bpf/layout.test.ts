/**
 * records.h is the source of truth for the record layout; layout.ts mirrors it for the decoder. This compiles a
 * C program against records.h that prints the offset and size of every field layout.ts lists, the size of every
 * struct and every constant, and compares. It also checks that layout.ts's fields tile each struct exactly, so a
 * member added in C but not in TypeScript (which would need bytes of its own) cannot go unnoticed.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { CONSTANTS, LAYOUT } from './layout.js';
import { repoRoot } from './native.js';

function cLayout(): Map<string, string> {
  const lines = ['#include <stdio.h>', '#include <stddef.h>', '#include "records.h"', 'int main(void) {'];
  for (const [struct, spec] of Object.entries(LAYOUT)) {
    lines.push(`  printf("${struct} %zu\\n", sizeof(struct ${struct}));`);
    for (const field of Object.keys(spec.fields)) {
      lines.push(`  printf("${struct}.${field} %zu %zu\\n", offsetof(struct ${struct}, ${field}), sizeof(((struct ${struct} *)0)->${field}));`);
    }
  }
  for (const name of Object.keys(CONSTANTS)) lines.push(`  printf("${name} %lld\\n", (long long)(${name}));`);
  lines.push('  return 0;', '}');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookback-layout-'));
  try {
    fs.writeFileSync(path.join(dir, 'layout.c'), lines.join('\n'));
    execFileSync('cc', ['-Wall', '-Werror', '-I', path.join(repoRoot(), 'bpf'), '-o', path.join(dir, 'layout'), path.join(dir, 'layout.c')], { stdio: 'pipe' });
    const out = execFileSync(path.join(dir, 'layout'), { encoding: 'utf8' });
    return new Map(out.trim().split('\n').map((l) => { const i = l.indexOf(' '); return [l.slice(0, i), l.slice(i + 1)] as [string, string]; }));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('layout.ts matches records.h: every offset, size and constant', () => {
  const c = cLayout();
  for (const [struct, spec] of Object.entries(LAYOUT)) {
    assert.equal(c.get(struct), String(spec.size), `sizeof(struct ${struct})`);
    for (const [field, [off, size]] of Object.entries(spec.fields)) {
      assert.equal(c.get(`${struct}.${field}`), `${off} ${size}`, `${struct}.${field}: offset and size`);
    }
  }
  for (const [name, value] of Object.entries(CONSTANTS)) assert.equal(c.get(name), String(value), name);
});

test('layout.ts lists every member: the fields tile each struct without gaps', () => {
  for (const [struct, spec] of Object.entries(LAYOUT)) {
    const fields = Object.entries(spec.fields).sort((a, b) => a[1][0] - b[1][0]);
    let at = 0;
    for (const [name, [off, size]] of fields) {
      assert.equal(off, at, `${struct}.${name} should start at ${at}`);
      at = off + size;
    }
    assert.equal(at, spec.size, `${struct} fields end at its size`);
    assert.equal(spec.size % 8, 0, `${struct} is a multiple of 8 bytes, so records stay aligned back to back`);
  }
});
