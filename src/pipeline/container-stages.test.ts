import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createIgnoreList, defaultIgnoreEntries } from '../rootfs/ignore-list.ts';
import { resetRoot } from './container-stages.ts';

const log = pino({ level: 'silent' });

async function tree(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    out.push(prefix + e.name);
    if (e.isDirectory()) out.push(...await tree(join(dir, e.name), `${prefix}${e.name}/`));
  }
  return out.sort();
}

test('resetRoot keeps ignored and kept paths with their ancestors, removes the rest, never follows links', async () => {
  const work = await mkdtemp(join(tmpdir(), 'reset-root-'));
  try {
    const root = join(work, 'root');
    const outside = join(work, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'precious'), 'host data');
    for (const d of ['kaniko/app', 'proc/1', 'mnt/data/deep', 'etc/ssl', 'usr/bin', 'workspace/src', 'tmp/apt-key-gpghome', 'var/run', 'cache']) {
      await mkdir(join(root, d), { recursive: true });
    }
    await writeFile(join(root, 'kaniko/app/executor.mjs'), 'x');
    await writeFile(join(root, 'mnt/data/deep/f'), 'mounted');
    await writeFile(join(root, 'mnt/other'), 'image file next to a mount');
    await writeFile(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
    await writeFile(join(root, 'workspace/src/main.c'), 'int main;');
    await writeFile(join(root, 'tmp/apt-key-gpghome/k'), 'k');
    await writeFile(join(root, 'cache/blob'), 'cached');
    // Links to the outside, as a hostile or careless stage may leave them: removed, never walked.
    await symlink(outside, join(root, 'escape'));
    await symlink(outside, join(root, 'etc/ssl/certs'));

    const entries = defaultIgnoreEntries({ kanikoDir: '/kaniko', ignoreVarRun: true, extraPaths: [], mountPoints: ['/mnt/data'] });
    const result = await resetRoot({
      root, ignore: createIgnoreList(entries), ignoredPaths: entries.map((e) => e.path),
      keep: [join(root, 'workspace'), join(work, 'not-in-root')], log,
    });

    // etc and tmp stay as empty directories: the ignore list names /etc/mtab and /tmp/apt-key-gpghome.
    assert.deepEqual(await tree(root), [
      'etc',
      'kaniko', 'kaniko/app', 'kaniko/app/executor.mjs',
      'mnt', 'mnt/data', 'mnt/data/deep', 'mnt/data/deep/f',
      'proc', 'proc/1',
      'tmp',
      'var', 'var/run',
      'workspace', 'workspace/src', 'workspace/src/main.c',
    ]);
    assert.ok(result.removed >= 5);
    assert.equal(await readFile(join(outside, 'precious'), 'utf8'), 'host data');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

test('resetRoot on a root holding only spared paths removes nothing', async () => {
  const root = await mkdtemp(join(tmpdir(), 'reset-root-'));
  try {
    await mkdir(join(root, 'kaniko'));
    const entries = defaultIgnoreEntries({ kanikoDir: '/kaniko', ignoreVarRun: false, extraPaths: [], mountPoints: [] });
    const result = await resetRoot({ root, ignore: createIgnoreList(entries), ignoredPaths: entries.map((e) => e.path), keep: [root], log });
    assert.equal(result.removed, 0);
    assert.deepEqual(await readdir(root), ['kaniko']);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
