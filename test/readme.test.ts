import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { renderReadme } from '../scripts/flag-table.ts';

test('the README flag tables are generated from src/cli/flags.ts (run: node scripts/flag-table.ts --write)', () => {
  const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
  assert.equal(readme, renderReadme(readme));
});

test('the Quick start is two commands, and CI runs the second', () => {
  const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
  const quick = /## Quick start[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const commands = quick.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  assert.equal(commands.length, 2, quick);
  const ci = readFileSync(join(import.meta.dirname, '..', '.ci', 'run'), 'utf8');
  assert.ok(ci.includes((commands[1] ?? '').replace(/^sudo /, '').split('#')[0]?.trim() ?? '<none>'), 'CI calls the second command');
});
