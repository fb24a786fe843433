import assert from 'node:assert/strict';
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import pino from 'pino';
import { createMatcher } from '../context/dockerignore.ts';
import type { CopyInstruction } from '../dockerfile/instructions.ts';
import { BuildError } from '../errors.ts';
import type { ConfigFile } from '../oci/types.ts';
import type { StepContext, StepResult } from './command.ts';
import { copyCommand } from './copy.ts';
import type { CopyOptions } from './copy.ts';
import { parseChmod } from './copy-tree.ts';

const log = pino({ level: 'silent' });
const oldTime = new Date('2001-02-03T04:05:06Z');

function copyInstr(fields: Partial<CopyInstruction> & Pick<CopyInstruction, 'sources' | 'dest'>): CopyInstruction {
  return { kind: 'COPY', line: 3, text: 'COPY …', link: false, parents: false, exclude: [], heredocs: [], ...fields };
}

function image(workdir?: string): ConfigFile {
  return {
    architecture: 'amd64',
    os: 'linux',
    config: workdir === undefined ? {} : { WorkingDir: workdir },
    rootfs: { type: 'layers', diff_ids: [] },
  };
}

describe('COPY', () => {
  let base = '';
  let ctx = '';
  let root = '';
  let stage = '';
  let outside = '';

  beforeEach(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'copy-cmd-'));
    [ctx, root, stage, outside] = ['ctx', 'root', 'stage', 'outside'].map((d) => path.join(base, d)) as [string, string, string, string];
    for (const d of [ctx, root, stage, outside]) await mkdir(d);
    await writeFile(path.join(outside, 'sentinel'), 'untouched');
    await writeFile(path.join(ctx, 'a.txt'), 'A');
    await chmod(path.join(ctx, 'a.txt'), 0o640);
    await chown(path.join(ctx, 'a.txt'), 1234, 1234);
    await utimes(path.join(ctx, 'a.txt'), oldTime, oldTime);
    await writeFile(path.join(ctx, 'b.txt'), 'B');
    await mkdir(path.join(ctx, 'dir', 'sub'), { recursive: true });
    await chmod(path.join(ctx, 'dir', 'sub'), 0o750);
    await writeFile(path.join(ctx, 'dir', 'f'), 'F');
    await writeFile(path.join(ctx, 'dir', 'c.txt'), 'C');
    await writeFile(path.join(ctx, 'dir', 'sub', 'g'), 'G');
    await symlink('f', path.join(ctx, 'dir', 'link'));
    await symlink('a.txt', path.join(ctx, 'alink'));
  });
  afterEach(async () => {
    assert.deepEqual(await readdir(outside), ['sentinel']);
    await rm(base, { recursive: true, force: true });
  });

  function step(over: Partial<StepContext> = {}): StepContext {
    return {
      root, contextDir: ctx, image: image(), args: new Map(), buildArgs: new Map(), metaArgs: new Map(), cmdSet: false,
      env: new Map(), escape: '\\', log, signal: new AbortController().signal,
      runtime: { helperPath: '', isolate: true, output: () => undefined },
      resolveFrom: async (from) => {
        if (from === 'builder') return stage;
        throw new BuildError('BUILD', `unknown stage ${from}`);
      },
      ...over,
    };
  }
  async function run(fields: Partial<CopyInstruction> & Pick<CopyInstruction, 'sources' | 'dest'>, opts: CopyOptions = {}, over: Partial<StepContext> = {}): Promise<StepResult> {
    return copyCommand(copyInstr(fields), opts).execute(step(over));
  }
  const at = (p: string) => path.join(root, p);
  const read = (p: string) => readFile(at(p), 'utf8');

  it('declares its effects and leaves the config alone', async () => {
    const cmd = copyCommand(copyInstr({ sources: ['a.txt'], dest: '/a.txt' }));
    assert.deepEqual(cmd.effects, { snapshot: 'files', cacheable: true, needsRootfs: true });
    assert.equal(cmd.line, 3);
    const s = step();
    assert.equal((await cmd.execute(s)).image, s.image);
  });

  it('copies a file into a dir (trailing /), creating parents 0755 0:0, keeping mode and mtime, owner 0:0', async () => {
    const r = await run({ sources: ['a.txt'], dest: '/app/x/' });
    assert.equal(await read('app/x/a.txt'), 'A');
    const st = await stat(at('app/x/a.txt'));
    assert.equal(st.mode & 0o7777, 0o640);
    assert.equal(st.mtime.getTime(), oldTime.getTime());
    assert.deepEqual([st.uid, st.gid], [0, 0]);
    const dir = await stat(at('app/x'));
    assert.equal(dir.mode & 0o7777, 0o755);
    assert.deepEqual([dir.uid, dir.gid], [0, 0]);
    assert.deepEqual(r.changed, ['/app', '/app/x', '/app/x/a.txt']);
  });

  it('a dest without / names the file; an existing directory receives it', async () => {
    await run({ sources: ['a.txt'], dest: '/renamed' });
    assert.equal(await read('renamed'), 'A');
    await mkdir(at('exists'));
    await run({ sources: ['b.txt'], dest: '/exists' });
    assert.equal(await read('exists/b.txt'), 'B');
  });

  it('a directory source copies its contents, symlinks as symlinks', async () => {
    const r = await run({ sources: ['dir'], dest: '/d' });
    assert.deepEqual((await readdir(at('d'))).sort(), ['c.txt', 'f', 'link', 'sub']);
    assert.equal(await read('d/sub/g'), 'G');
    assert.equal(await readlink(at('d/link')), 'f');
    assert.equal((await stat(at('d/sub'))).mode & 0o7777, 0o750);
    assert.equal((await stat(at('d'))).mode & 0o7777, 0o755);
    assert.ok(r.changed?.includes('/d/sub/g') && r.changed.includes('/d/link') && r.changed.includes('/d'));
  });

  it('keeps an existing destination dir as it is, but nested dirs take the source metadata (BuildKit)', async () => {
    await mkdir(at('d/sub'), { recursive: true, mode: 0o700 });
    await chmod(at('d'), 0o711);
    await chmod(at('d/sub'), 0o777);
    await run({ sources: ['dir/'], dest: '/d/' });
    assert.equal((await stat(at('d'))).mode & 0o7777, 0o711);
    assert.equal((await stat(at('d/sub'))).mode & 0o7777, 0o750);
  });

  it('. copies the whole context except .dockerignore’d files; exceptions re-include', async () => {
    await mkdir(path.join(ctx, 'secret'));
    await writeFile(path.join(ctx, 'secret', 'keep'), 'K');
    await writeFile(path.join(ctx, 'secret', 'other'), 'O');
    await writeFile(path.join(ctx, 'x.log'), 'L');
    const ignore = createMatcher(['*.log', 'secret', '!secret/keep', 'dir/sub']);
    await run({ sources: ['.'], dest: '/w/' }, { ignore });
    const names = (await readdir(at('w'))).sort();
    assert.deepEqual(names, ['a.txt', 'alink', 'b.txt', 'dir', 'secret']);
    assert.deepEqual(await readdir(at('w/secret')), ['keep']);
    assert.deepEqual((await readdir(at('w/dir'))).sort(), ['c.txt', 'f', 'link']);
  });

  it('an excluded directory with re-included paths under it is copied with just those (Docker)', async () => {
    await mkdir(path.join(ctx, 'tools', 'node'), { recursive: true });
    await writeFile(path.join(ctx, 'tools', 'node', 'bin'), 'N');
    await writeFile(path.join(ctx, 'tools', 'junk'), 'J');
    const ignore = createMatcher(['tools', '!tools/node']);
    await run({ sources: ['tools/'], dest: '/t/' }, { ignore });
    assert.deepEqual(await readdir(at('t')), ['node']);
    assert.deepEqual(await readdir(at('t/node')), ['bin']);
    const all = createMatcher(['tools']);
    await assert.rejects(run({ sources: ['tools/'], dest: '/u/' }, { ignore: all }), /excluded by .dockerignore: stat tools\//);
  });

  it('an exception naming nothing that exists does not bring its excluded parent back (fsutil walk)', async () => {
    await mkdir(path.join(ctx, 'folder1', 'empty'), { recursive: true });
    await writeFile(path.join(ctx, 'folder1', 'x'), 'X');
    const ignore = createMatcher(['folder1', '!folder1/nosuch', '!folder1/empty/nosuch']);
    await assert.rejects(run({ sources: ['folder1'], dest: '/f1' }, { ignore }), /excluded by .dockerignore: stat folder1: file does not exist/);
    // `COPY . /x`: folder1 (and folder1/empty) exist only for excluded content, so are not created.
    await run({ sources: ['.'], dest: '/x/' }, { ignore });
    assert.deepEqual((await readdir(at('x'))).includes('folder1'), false);
    const r = await run({ sources: ['folder*'], dest: '/g/' }, { ignore });
    assert.deepEqual(r.changed, []);
  });

  it('a glob whose literal directory is missing or ignored fails; one matching nothing in it copies nothing (BuildKit)', async () => {
    await assert.rejects(run({ sources: ['nodir/*'], dest: '/n/' }), /file not found in build context: stat nodir: file does not exist/);
    await assert.rejects(run({ sources: ['dir/*.txt', 'nodir/*'], dest: '/n/' }), /stat nodir/);
    const ignore = createMatcher(['dir']);
    await assert.rejects(run({ sources: ['dir/*'], dest: '/n/' }, { ignore }), /excluded by .dockerignore: stat dir: file does not exist/);
    const r = await run({ sources: ['dir/*.none', 'missing*'], dest: '/e/' });
    assert.deepEqual(r.changed, []);
  });

  it('an ignored or missing literal source fails naming it', async () => {
    const ignore = createMatcher(['b.txt']);
    const notFound = (name: string) => (e: unknown) =>
      e instanceof BuildError && e.code === 'BUILD' && e.message.includes(`file not found in build context or excluded by .dockerignore: stat ${name}`);
    await assert.rejects(run({ sources: ['missing.txt'], dest: '/x' }, { ignore }), notFound('missing.txt'));
    await assert.rejects(run({ sources: ['b.txt'], dest: '/x' }, { ignore }), notFound('b.txt'));
  });

  it('globs (Go syntax) match per segment; an empty glob copies nothing', async () => {
    await run({ sources: ['*.txt'], dest: '/g/' });
    assert.deepEqual((await readdir(at('g'))).sort(), ['a.txt', 'b.txt']);
    await run({ sources: ['d?r/[c].txt'], dest: '/h/' });
    assert.deepEqual(await readdir(at('h')), ['c.txt']);
    const r = await run({ sources: ['*.none'], dest: '/e/' });
    assert.deepEqual(r.changed, []);
  });

  it('several matches go into the destination as a directory', async () => {
    await run({ sources: ['*.txt'], dest: '/multi' });
    assert.deepEqual((await readdir(at('multi'))).sort(), ['a.txt', 'b.txt']);
  });

  it('several sources need a destination ending in /', async () => {
    await assert.rejects(run({ sources: ['a.txt', 'b.txt'], dest: '/x' }), /must be a directory and end with a \//);
    await run({ sources: ['a.txt', 'b.txt'], dest: '/x/' });
    assert.deepEqual((await readdir(at('x'))).sort(), ['a.txt', 'b.txt']);
  });

  it('a relative destination is relative to WORKDIR', async () => {
    await run({ sources: ['a.txt'], dest: 'rel/' }, {}, { image: image('/work') });
    assert.equal(await read('work/rel/a.txt'), 'A');
    await run({ sources: ['b.txt'], dest: '.' }, {}, { image: image('/work') });
    assert.equal(await read('work/b.txt'), 'B');
    await run({ sources: ['b.txt'], dest: 'top' });
    assert.equal(await read('top'), 'B');
  });

  it('expands variables in sources and destination', async () => {
    await run({ sources: ['${NAME}.txt'], dest: '$DEST/' }, {}, { env: new Map([['NAME', 'a'], ['DEST', '/v']]) });
    assert.equal(await read('v/a.txt'), 'A');
  });

  it('a destination through symlinks stays inside the root', async () => {
    await mkdir(at('real'));
    await symlink('/real', at('abs'));
    await symlink('../../../outside', at('esc'));
    const r = await run({ sources: ['a.txt'], dest: '/abs/' });
    assert.equal(await read('real/a.txt'), 'A');
    assert.deepEqual(r.changed, ['/real/a.txt']);
    await run({ sources: ['dir'], dest: '/esc/' });
    assert.equal(await read('outside/f'), 'F');
  });

  it('replaces a symlink at the file destination instead of writing through it', async () => {
    await mkdir(at('d'));
    await symlink(path.join(outside, 'sentinel'), at('d/f'));
    await run({ sources: ['dir'], dest: '/d' });
    assert.equal((await lstat(at('d/f'))).isFile(), true);
    assert.equal(await readFile(path.join(outside, 'sentinel'), 'utf8'), 'untouched');
  });

  it('--chown takes names from the root’s /etc/passwd and /etc/group, also for created parents', async () => {
    await mkdir(at('etc'));
    await writeFile(at('etc/passwd'), 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n');
    await writeFile(at('etc/group'), 'root:x:0:\nstaff:x:50:app\n');
    await run({ sources: ['dir'], dest: '/o/p/', chown: 'app:staff' });
    for (const p of ['o', 'o/p', 'o/p/f', 'o/p/sub', 'o/p/sub/g']) {
      const st = await lstat(at(p));
      assert.deepEqual([st.uid, st.gid], [1000, 50], p);
    }
    assert.deepEqual([(await lstat(at('o/p/link'))).uid], [1000]);
    await run({ sources: ['a.txt'], dest: '/n', chown: '123' });
    const st = await stat(at('n'));
    assert.deepEqual([st.uid, st.gid], [123, 123]);
    await assert.rejects(run({ sources: ['a.txt'], dest: '/m', chown: 'nobody' }), /nobody/);
  });

  it('--chmod octal and symbolic apply to files and copied dirs', async () => {
    await run({ sources: ['dir'], dest: '/c', chmod: '0755' });
    assert.equal((await stat(at('c/f'))).mode & 0o7777, 0o755);
    assert.equal((await stat(at('c/sub'))).mode & 0o7777, 0o755);
    await run({ sources: ['a.txt'], dest: '/s1', chmod: 'u+x,go-w' });
    assert.equal((await stat(at('s1'))).mode & 0o7777, 0o740);
    await run({ sources: ['a.txt'], dest: '/s2', chmod: 'a=r' });
    assert.equal((await stat(at('s2'))).mode & 0o7777, 0o444);
    await assert.rejects(run({ sources: ['a.txt'], dest: '/s3', chmod: 'bogus' }), /invalid --chmod/);
  });

  it('a top-level symlink source is followed', async () => {
    await run({ sources: ['alink'], dest: '/l/' });
    const st = await lstat(at('l/alink'));
    assert.equal(st.isFile(), true);
    assert.equal(await read('l/alink'), 'A');
  });

  it('sources cannot escape the context', async () => {
    await assert.rejects(run({ sources: ['../../outside/sentinel'], dest: '/x' }), /file not found/);
    // On the host, ctx/../outside/sentinel exists: the link must still resolve inside the context.
    await symlink('../outside/sentinel', path.join(ctx, 'evil'));
    await symlink(path.join(outside, 'sentinel'), path.join(ctx, 'evil-abs'));
    await assert.rejects(run({ sources: ['evil'], dest: '/x' }), /file not found/);
    await assert.rejects(run({ sources: ['evil-abs'], dest: '/x' }), /file not found/);
    assert.deepEqual((await run({ sources: ['e*'], dest: '/x/' })).changed, []);
    await mkdir(path.join(ctx, 'outside'));
    await writeFile(path.join(ctx, 'outside', 'sentinel'), 'inside the context');
    await run({ sources: ['../../outside/sentinel'], dest: '/y' });
    assert.equal(await read('y'), 'inside the context');
    await run({ sources: ['evil'], dest: '/z' });
    assert.equal(await read('z'), 'inside the context');
  });

  it('--from copies from the stage root, keeping owners, without .dockerignore', async () => {
    await mkdir(path.join(stage, 'app'));
    await writeFile(path.join(stage, 'app', 'bin'), 'BIN');
    await chown(path.join(stage, 'app', 'bin'), 4321, 99);
    await run({ sources: ['/app/bin'], dest: '/usr/local/bin/', from: 'builder' }, { ignore: createMatcher(['app']) });
    const st = await stat(at('usr/local/bin/bin'));
    assert.deepEqual([st.uid, st.gid], [4321, 99]);
    await assert.rejects(run({ sources: ['/nope'], dest: '/x', from: 'builder' }), /not found in stage or image "builder"/);
  });

  it('never copies the destination into itself when the context lies inside the root', async () => {
    const inner = path.join(root, 'ctx');
    await mkdir(inner);
    await writeFile(path.join(inner, 'f'), 'F');
    await run({ sources: ['.'], dest: '/ctx/copy/' }, {}, { contextDir: inner });
    assert.deepEqual((await readdir(at('ctx/copy'))).sort(), ['f']);
  });

  it('--exclude drops matching entries', async () => {
    await run({ sources: ['dir'], dest: '/ex', exclude: ['*.txt', 'sub'] });
    assert.deepEqual((await readdir(at('ex'))).sort(), ['f', 'link']);
  });

  it('here-documents: 0644 files named by the word, expanded unless quoted, with --chmod/--chown', async () => {
    const env = new Map([['X', 'ex'], ['Q', 'q']]);
    await run({
      sources: ['<<a.txt', "<<'b.txt'", '<<"c.txt"', 'b.txt'], dest: '/h/',
      heredocs: [
        { name: 'a.txt', content: 'x=$X "${Q}" \\$X \'$X\'\n', expand: true },
        { name: 'b.txt', content: 'raw $X\n', expand: false },
        { name: 'c.txt', content: 'raw ${X}\n', expand: false },
      ],
    }, {}, { env });
    // Quotes and escapes are kept as written (BuildKit's RawQuotes/RawEscapes); variables are substituted.
    assert.equal(await read('h/a.txt'), 'x=ex "q" \\$X \'$X\'\n');
    assert.equal(await read('h/c.txt'), 'raw ${X}\n');
    // A context file of the same name, later in the list, wins (copy order).
    assert.equal(await read('h/b.txt'), 'B');
    const st = await stat(at('h/a.txt'));
    assert.equal(st.mode & 0o7777, 0o644);
    assert.deepEqual([st.uid, st.gid], [0, 0]);
    await run({ sources: ['<<EOF'], dest: '/single', chmod: '0755', chown: '12:34', heredocs: [{ name: 'EOF', content: 'one\n', expand: true }] });
    const one = await stat(at('single'));
    assert.ok(one.isFile());
    assert.equal(one.mode & 0o7777, 0o755);
    assert.deepEqual([one.uid, one.gid], [12, 34]);
    await run({ sources: ['<<EOF'], dest: '/d/', heredocs: [{ name: 'EOF', content: 'two\n', expand: true }] });
    assert.equal(await read('d/EOF'), 'two\n');
    // No temp files are left behind in the context or the root.
    assert.deepEqual((await readdir(ctx)).sort(), ['a.txt', 'alink', 'b.txt', 'dir']);
  });

  it('here-documents: the cache inputs hold the expanded content', async () => {
    const inputs = async (content: string, env: Map<string, string>) => copyCommand(copyInstr({
      sources: ['<<EOF'], dest: '/d/', heredocs: [{ name: 'EOF', content, expand: true }],
    })).cacheInputs?.(step({ env }));
    const a = await inputs('v=$V\n', new Map([['V', '1']]));
    assert.deepEqual(await inputs('v=$V\n', new Map([['V', '1']])), a);
    assert.notDeepEqual(await inputs('v=$V\n', new Map([['V', '2']])), a);
    assert.notDeepEqual(await inputs('other\n', new Map([['V', '1']])), a);
  });

  it('several here-documents need a directory destination', async () => {
    await assert.rejects(run({ sources: ['<<a', '<<b'], dest: '/x', heredocs: [{ name: 'a', content: '', expand: true }, { name: 'b', content: '', expand: true }] }),
      /destination must be a directory/);
  });

  it('--parents keeps the relative path, or the part after a ./ pivot; ** globs; --exclude', async () => {
    await run({ sources: ['dir/sub/g', 'a.txt'], dest: '/p1/', parents: true });
    assert.equal(await read('p1/dir/sub/g'), 'G');
    assert.equal(await read('p1/a.txt'), 'A');
    assert.deepEqual((await readdir(at('p1/dir'))).sort(), ['sub']);
    // The parent keeps the source directory's mode (0750 here), as fsutil copies it.
    assert.equal((await stat(at('p1/dir/sub'))).mode & 0o7777, 0o750);
    await run({ sources: ['./dir/./sub/g'], dest: '/p2/', parents: true });
    assert.deepEqual(await readdir(at('p2')), ['sub']);
    assert.equal(await read('p2/sub/g'), 'G');
    await run({ sources: ['**/*.txt'], dest: '/p3/', parents: true, exclude: ['b.txt'] });
    assert.equal(await read('p3/a.txt'), 'A');
    assert.equal(await read('p3/dir/c.txt'), 'C');
    assert.deepEqual((await readdir(at('p3'))).sort(), ['a.txt', 'dir']);
    assert.deepEqual(await readdir(at('p3/dir')), ['c.txt']);
    await run({ sources: ['dir/./sub'], dest: '/p4/', parents: true });
    assert.equal(await read('p4/sub/g'), 'G');
    await assert.rejects(run({ sources: ['dir/nope.txt'], dest: '/x/', parents: true }), /file not found.*dir\/nope\.txt/);
  });

  it('--parents cache inputs follow what is copied', async () => {
    const inputs = (sources: string[]) => copyCommand(copyInstr({ sources, dest: '/d/', parents: true })).cacheInputs?.(step());
    const a = await inputs(['dir/./sub/g']);
    assert.ok(a?.some((r) => typeof r === 'string' && r.includes('"sub/g"')), JSON.stringify(a));
    assert.ok(!(a ?? []).some((r) => typeof r === 'string' && r.includes('c.txt')));
    assert.notDeepEqual(await inputs(['dir/./c.txt']), a);
  });
});

describe('parseChmod', () => {
  it('octal and symbolic forms', () => {
    assert.equal(parseChmod('644').apply(0o777, false), 0o644);
    assert.equal(parseChmod('4755').apply(0, false), 0o4755);
    assert.equal(parseChmod('+x').apply(0o644, false), 0o755);
    assert.equal(parseChmod('go-rwx').apply(0o755, false), 0o700);
    assert.equal(parseChmod('u=rw,g=r,o=').apply(0o777, false), 0o640);
    assert.equal(parseChmod('a+X').apply(0o644, true), 0o755);
    assert.equal(parseChmod('a+X').apply(0o644, false), 0o644);
    assert.equal(parseChmod('g=u').apply(0o700, false), 0o770);
    assert.equal(parseChmod('u+s,+t').apply(0o755, false), 0o5755);
    for (const bad of ['', '99', '17777', 'u+q', 'x+r']) assert.throws(() => parseChmod(bad), BuildError, bad);
  });
});
