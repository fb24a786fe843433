// COPY's cache inputs (commands/copy.ts cacheInputs) through cacheKey: what must and must not change the key.
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import type { StepContext } from '../commands/command.ts';
import { copyCommand, type CopyOptions } from '../commands/copy.ts';
import { createMatcher } from '../context/dockerignore.ts';
import type { CopyInstruction } from '../dockerfile/instructions.ts';
import { BuildError } from '../errors.ts';
import { cacheKey } from './cache-key.ts';

const log = pino({ level: 'silent' });
const parent = 'sha256:' + 'c'.repeat(64);

function copyInstr(fields: Partial<CopyInstruction> & Pick<CopyInstruction, 'sources' | 'dest'>): CopyInstruction {
  return { kind: 'COPY', line: 1, text: 'COPY …', link: false, parents: false, exclude: [], heredocs: [], ...fields };
}

describe('COPY cacheInputs', () => {
  let base = '';
  let ctx = '';
  let root = '';
  let stage = '';

  beforeEach(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'copy-cache-inputs-'));
    [ctx, root, stage] = ['ctx', 'root', 'stage'].map((d) => path.join(base, d)) as [string, string, string];
    for (const d of [ctx, root, stage]) await mkdir(d);
    await mkdir(path.join(ctx, 'src', 'sub'), { recursive: true });
    await writeFile(path.join(ctx, 'src', 'a.txt'), 'A');
    await writeFile(path.join(ctx, 'src', 'sub', 'b.txt'), 'B');
    await symlink('a.txt', path.join(ctx, 'src', 'link'));
    await writeFile(path.join(ctx, 'src', 'secret.env'), 'S=1');
    await writeFile(path.join(ctx, 'top.txt'), 'T');
    await mkdir(path.join(stage, 'app'));
    await writeFile(path.join(stage, 'app', 'bin'), 'ELF');
  });
  afterEach(async () => { await rm(base, { recursive: true, force: true }); });

  function step(over: Partial<StepContext> = {}): StepContext {
    return {
      root, contextDir: ctx, image: { architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [] } },
      args: new Map(), buildArgs: new Map(), metaArgs: new Map(), cmdSet: false, env: new Map(), escape: '\\', log,
      signal: new AbortController().signal, runtime: { helperPath: '', isolate: true, output: () => undefined },
      resolveFrom: async (from) => {
        if (from === 'builder') return stage;
        throw new BuildError('BUILD', `unknown stage ${from}`);
      },
      ...over,
    };
  }
  const ignore: CopyOptions = { ignore: createMatcher(['**/*.env']) };
  async function key(fields: Partial<CopyInstruction> & Pick<CopyInstruction, 'sources' | 'dest'>, opts: CopyOptions = ignore,
    over: Partial<StepContext> = {}): Promise<string> {
    const cmd = copyCommand(copyInstr(fields), opts);
    assert.ok(cmd.cacheInputs !== undefined);
    return cacheKey(parent, [cmd.text, ...(await cmd.cacheInputs(step(over)))]);
  }
  const dirCopy = { sources: ['src'], dest: '/app/' };

  it('the same content with other mtimes gives the same key', async () => {
    const before = await key(dirCopy);
    const old = new Date('2001-01-01T00:00:00Z');
    for (const f of ['src/a.txt', 'src/sub/b.txt', 'src/sub', 'src']) await utimes(path.join(ctx, f), old, old);
    assert.equal(await key(dirCopy), before);
  });

  it('context file owners do not matter (COPY makes them 0:0)', async () => {
    const before = await key(dirCopy);
    await chown(path.join(ctx, 'src', 'a.txt'), 1234, 1234);
    assert.equal(await key(dirCopy), before);
  });

  it('a change to a .dockerignored file keeps the key', async () => {
    const before = await key(dirCopy);
    await writeFile(path.join(ctx, 'src', 'secret.env'), 'S=2');
    await writeFile(path.join(ctx, 'src', 'new.env'), 'N=1');
    assert.equal(await key(dirCopy), before);
    // Without the .dockerignore the file is copied, so it is an input.
    assert.notEqual(await key(dirCopy, {}), before);
  });

  it('a file outside the sources does not matter', async () => {
    const before = await key(dirCopy);
    await writeFile(path.join(ctx, 'top.txt'), 'changed');
    assert.equal(await key(dirCopy), before);
  });

  const changes: readonly [string, () => Promise<void>][] = [
    ['changed content', () => writeFile(path.join(ctx, 'src', 'sub', 'b.txt'), 'b')],
    ['changed mode of a file', () => chmod(path.join(ctx, 'src', 'a.txt'), 0o600)],
    ['changed mode of a directory', () => chmod(path.join(ctx, 'src', 'sub'), 0o700)],
    ['renamed file', async () => { await rm(path.join(ctx, 'src', 'a.txt')); await writeFile(path.join(ctx, 'src', 'A.txt'), 'A'); }],
    ['changed symlink target', async () => { await rm(path.join(ctx, 'src', 'link')); await symlink('sub', path.join(ctx, 'src', 'link')); }],
    ['a new empty directory', () => mkdir(path.join(ctx, 'src', 'empty'))],
    ['a new file', () => writeFile(path.join(ctx, 'src', 'sub', 'c.txt'), '')],
  ];
  for (const [what, change] of changes) {
    it(`${what} → another key`, async () => {
      const before = await key(dirCopy);
      await change();
      assert.notEqual(await key(dirCopy), before);
    });
  }

  it('destination, WORKDIR, --chmod and --chown are inputs', async () => {
    const file = { sources: ['top.txt'], dest: 'x' };
    const keys = new Set([
      await key(file),
      await key({ ...file, dest: 'y' }),
      await key(file, ignore, { image: { architecture: 'amd64', os: 'linux', config: { WorkingDir: '/w' }, rootfs: { type: 'layers', diff_ids: [] } } }),
      await key({ ...file, chmod: '600' }),
      await key({ ...file, chown: '1:1' }),
      await key({ ...file, dest: 'x/' }),
    ]);
    assert.equal(keys.size, 6);
  });

  it('--chmod makes the source mode irrelevant when it sets every bit', async () => {
    const file = { sources: ['top.txt'], dest: '/x', chmod: '0644' };
    const before = await key(file);
    await chmod(path.join(ctx, 'top.txt'), 0o600);
    assert.equal(await key(file), before);
  });

  it('expanded words: an ARG value in a source path is resolved', async () => {
    const file = { sources: ['$F'], dest: '/x' };
    const a = await key(file, ignore, { env: new Map([['F', 'top.txt']]) });
    const b = await key(file, ignore, { env: new Map([['F', 'src/a.txt']]) });
    assert.notEqual(a, b);
  });

  it('COPY --from hashes the stage files, with their owners', async () => {
    const fromStage = { sources: ['/app'], dest: '/app', from: 'builder' };
    const before = await key(fromStage);
    await chown(path.join(stage, 'app', 'bin'), 1000, 1000);
    const owned = await key(fromStage);
    assert.notEqual(owned, before);
    await writeFile(path.join(stage, 'app', 'bin'), 'ELF2');
    assert.notEqual(await key(fromStage), owned);
  });

  it('a missing source fails as execute() would', async () => {
    await assert.rejects(key({ sources: ['nope'], dest: '/x' }), /file not found/);
  });
});
