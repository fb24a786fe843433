// The dependency arrows point one way (docs/ARCHITECTURE.md). This test reads every import under src/ and
// fails on an edge the architecture does not allow — go-containerregistry's depcheck idea, without a dependency.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const src = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');

/** Folder → the folders of ours it may import ('.' = the root files errors.ts, log.ts, redact.ts). */
export const allowed: Readonly<Record<string, readonly string[]>> = {
  '.': [],
  oci: ['.'],
  ownership: ['.'],
  rootfs: ['.', 'ownership'],
  dockerfile: ['.'],
  context: ['.', 'rootfs'],
  sandbox: ['.'],
  auth: ['.', 'oci'],
  progress: ['.'],
  registry: ['.', 'oci', 'auth', 'progress'],
  archive: ['.', 'oci'],
  snapshot: ['.', 'oci', 'rootfs', 'ownership'],
  mounts: ['.'],
  scheduler: ['.'],
  checks: ['.', 'dockerfile'],
  attestations: ['.', 'oci'],
  commands: ['.', 'oci', 'rootfs', 'dockerfile', 'context', 'sandbox', 'mounts', 'ownership'],
  cache: ['.', 'oci', 'registry', 'archive', 'auth'],
  pipeline: ['.', 'oci', 'rootfs', 'dockerfile', 'context', 'auth', 'registry', 'archive', 'snapshot', 'commands', 'cache', 'sandbox', 'mounts', 'scheduler', 'checks', 'attestations', 'ownership', 'progress'],
  cli: ['.', 'oci', 'rootfs', 'dockerfile', 'context', 'auth', 'registry', 'archive', 'snapshot', 'commands', 'cache', 'pipeline', 'sandbox', 'mounts', 'scheduler', 'checks', 'attestations', 'ownership', 'progress'],
};

function* sourceFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* sourceFiles(p);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) yield p;
  }
}

function folderOf(file: string): string {
  const rel = relative(src, file).split(sep);
  return rel.length === 1 ? '.' : rel[0] ?? '.';
}

test('imports between src/ folders follow the architecture', () => {
  const violations: string[] = [];
  for (const file of sourceFiles(src)) {
    const from = folderOf(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g)) {
      const spec = m[1] ?? m[2] ?? '';
      const target = resolve(dirname(file), spec);
      if (!target.startsWith(src)) continue;
      const to = folderOf(target);
      if (to === from) continue;
      const ok = allowed[from];
      if (ok === undefined) violations.push(`${relative(src, file)}: folder "${from}" is not in the architecture table`);
      else if (!ok.includes(to)) violations.push(`${relative(src, file)} imports ${spec} (${from} → ${to} is not allowed)`);
    }
  }
  assert.deepEqual(violations, []);
});
