// Docker (BuildKit) semantics the conformance suite found us departing from (issue 14, items 2-7): .dockerignore walking and COPY sources matching nothing, ADD of local
// archives (the './' root entry, symlinks leaving the destination, entries climbing out), USER without a passwd
// entry, SHELL in the image config, symlink <-> directory replacement across layers and within a COPY, and WORKDIR
// under a symlinked parent. Each case is built by bin/executor, pushed, flattened with umoci (independent of our
// extraction) and checked entry by entry; the layer cases are also built FROM, so our own extraction is checked too.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tarStream from 'tar-stream';
import type { Header } from 'tar-stream';
import { flattenImage, type FlatImage, type FsEntry } from '../conformance/harness.ts';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { runExecutor } from '../support/executor-process.ts';
import { skopeoConfig } from '../support/run-image.ts';
import type { ContainerConfig } from '../../src/oci/types.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';

type TarEntry = Partial<Header> & { name: string; body?: string };

async function makeTar(entries: readonly TarEntry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = (async () => { for await (const c of pack) chunks.push(c as Buffer); })();
  for (const { body, ...header } of entries) {
    await new Promise<void>((resolve, reject) => {
      pack.entry({ mtime: new Date('2001-02-03T04:05:06Z'), uid: 0, gid: 0, ...header }, body ?? '', (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

describe('Docker semantics: ADD archives, USER, SHELL, symlink/directory replacement, WORKDIR', () => {
  let registry: TestRegistry;
  let work: string;
  let base: string;
  let n = 0;
  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    work = await mkdtemp(join(tmpdir(), 'e2e-docker-semantics-'));
    base = `${registry.host}/busybox:latest`;
    await pushBusyboxBase(base);
  });
  after(async () => {
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  /** Builds `dockerfile` (BASE is the busybox base, IMG:x an earlier image of this suite) and flattens the result. */
  async function build(name: string, dockerfile: string, files: Record<string, string | Buffer> = {},
    links: Record<string, string> = {}): Promise<FlatImage> {
    const dir = join(work, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), dockerfile.replaceAll('BASE', base).replaceAll('IMG:', `${registry.host}/sem/`));
    for (const [f, content] of Object.entries(files)) {
      await mkdir(join(dir, f, '..'), { recursive: true });
      await writeFile(join(dir, f), content);
    }
    for (const [f, target] of Object.entries(links)) {
      await mkdir(join(dir, f, '..'), { recursive: true });
      await symlink(target, join(dir, f));
    }
    const ref = `${registry.host}/sem/${name}:latest`;
    const run = await runExecutor([`--context=dir://${dir}`, `--destination=${ref}`, `--root-dir=${join(work, `root-${n++}`)}`,
      '--insecure', '--insecure-pull', '--log-format=text']);
    assert.equal(run.code, 0, run.stderr);
    const flat = await flattenImage(ref, join(work, `flat-${n++}`));
    // `skopeo inspect --config` converts to the OCI config, which has no Shell or Healthcheck: read the blob as pushed.
    const raw = await skopeoConfig(`docker://${ref}`, ['--raw', '--tls-verify=false']);
    return { ...flat, config: (raw['config'] ?? {}) as ContainerConfig };
  }

  /** Builds a Dockerfile that must fail; returns what the executor printed. */
  async function buildFails(name: string, dockerfile: string, files: Record<string, string> = {}, links: Record<string, string> = {}): Promise<string> {
    const dir = join(work, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), dockerfile.replaceAll('BASE', base));
    for (const [f, content] of Object.entries(files)) {
      await mkdir(join(dir, f, '..'), { recursive: true });
      await writeFile(join(dir, f), content);
    }
    for (const [f, target] of Object.entries(links)) {
      await mkdir(join(dir, f, '..'), { recursive: true });
      await symlink(target, join(dir, f));
    }
    const run = await runExecutor([`--context=dir://${dir}`, `--destination=${registry.host}/sem/${name}:latest`,
      `--root-dir=${join(work, `root-${n++}`)}`, '--insecure', '--insecure-pull', '--log-format=text']);
    assert.equal(run.code, 1, run.stderr);
    return run.stderr;
  }

  function entry(img: FlatImage, path: string): FsEntry | undefined {
    return img.entries.find((e) => e.path === path);
  }
  function under(img: FlatImage, dir: string): string[] {
    return img.entries.filter((e) => e.path.startsWith(`${dir}/`)).map((e) => `${e.path} ${e.type}${e.linkTarget === undefined ? '' : ` -> ${e.linkTarget}`}`);
  }
  function owner(e: FsEntry | undefined): string {
    assert.ok(e !== undefined);
    return `${e.type} ${e.mode} ${e.uid}:${e.gid}`;
  }

  test('ADD archive: the ./ root entry is skipped (as moby archive.Unpack); symlinks leaving the destination are created; names and writes stay inside it', async () => {
    const rooted = await makeTar([
      { name: './', type: 'directory', mode: 0o700, uid: 1000, gid: 1000 },
      { name: './sub/', type: 'directory', mode: 0o750, uid: 1000, gid: 1001 },
      { name: './sub/f', mode: 0o640, uid: 1000, gid: 1001, body: 'f' },
      { name: './up', type: 'symlink', linkname: '..' },
      { name: './sub/out', type: 'symlink', linkname: '../../../../etc' },
      { name: './abs', type: 'symlink', linkname: '/etc/passwd' },
      // Through a symlink that leaves the destination: BuildKit's untar runs chrooted in the destination.
      { name: './up/through-up', body: 'scoped' },
      { name: '../climbed', body: 'clamped' },
      { name: './hard', type: 'link', linkname: '../sub/f' },
    ]);
    const fileRoot = await makeTar([
      { name: '.', mode: 0o600, body: 'a file where the destination is' },
      { name: 'x', mode: 0o644, body: 'x' },
    ]);
    const img = await build('add-archive', [
      'FROM BASE',
      'RUN mkdir -m 0711 /existing && chown 5:6 /existing',
      'ADD rooted.tar /dest/',
      'ADD rooted.tar /existing/',
      'ADD file-root.tar /dest2/',
      '',
    ].join('\n'), { 'rooted.tar': rooted, 'file-root.tar': fileRoot });
    // The destination keeps what ADD made it (0755 root) or what it was; the archive's './' does not apply.
    assert.equal(owner(entry(img, '/dest')), 'dir 0755 0:0');
    assert.equal(owner(entry(img, '/existing')), 'dir 0711 5:6');
    assert.equal(owner(entry(img, '/dest/sub')), 'dir 0750 1000:1001');
    assert.equal(owner(entry(img, '/dest/sub/f')), 'file 0640 1000:1001');
    assert.deepEqual(under(img, '/dest'), [
      '/dest/abs symlink -> /etc/passwd',
      '/dest/climbed file',
      '/dest/hard file',
      '/dest/sub dir',
      '/dest/sub/f file',
      '/dest/sub/out symlink -> ../../../../etc',
      '/dest/through-up file',
      '/dest/up symlink -> ..',
    ]);
    assert.equal(entry(img, '/dest/sub/f')?.hardlinkTo, '/dest/hard');
    assert.equal(entry(img, '/through-up'), undefined);
    assert.equal(entry(img, '/climbed'), undefined);
    assert.equal(entry(img, '/etc/passwd')?.type, 'file');
    // A '.' entry that is not a directory is skipped too: the destination stays a directory.
    assert.equal(owner(entry(img, '/dest2')), 'dir 0755 0:0');
    assert.deepEqual(under(img, '/dest2'), ['/dest2/x file']);
  });

  test('USER 4242 without a passwd entry: RUN gets gid 0; COPY/ADD without --chown never look USER up; WORKDIR as BuildKit', async () => {
    const img = await build('user', [
      'FROM BASE',
      'USER 4242',
      'RUN id -u > /tmp/uid && id -g > /tmp/gid',
      'WORKDIR /w-numeric',
      'USER docker',
      'ADD . /ctx/',
      'COPY a.txt /copied.txt',
      'WORKDIR /w-named',
      'USER 4242:7',
      'WORKDIR /w-group',
      '',
    ].join('\n'), { 'a.txt': 'a\n', 'sub/b.txt': 'b\n' });
    assert.equal(img.config.User, '4242:7');
    assert.equal(owner(entry(img, '/tmp/gid')), 'file 0644 4242:0');
    assert.equal(owner(entry(img, '/ctx')), 'dir 0755 0:0');
    assert.equal(owner(entry(img, '/ctx/a.txt')), 'file 0644 0:0');
    assert.equal(owner(entry(img, '/ctx/sub/b.txt')), 'file 0644 0:0');
    assert.equal(owner(entry(img, '/copied.txt')), 'file 0644 0:0');
    // BuildKit's file ops (WORKDIR's mkdir): a uid alone means uid:uid; a name not in /etc/passwd means 0:0.
    assert.equal(owner(entry(img, '/w-numeric')), 'dir 0755 4242:4242');
    assert.equal(owner(entry(img, '/w-named')), 'dir 0755 0:0');
    assert.equal(owner(entry(img, '/w-group')), 'dir 0755 4242:7');
    const child = await build('user-child', 'FROM IMG:user\nUSER 4242\nRUN id -g > /tmp/gid2\n');
    assert.equal(owner(entry(child, '/tmp/gid2')), 'file 0644 4242:0');
  });

  test('SHELL is stored in the config and inherited FROM it', async () => {
    const parent = await build('shell-parent', 'FROM BASE\nSHELL ["/bin/sh", "-ec"]\n');
    assert.deepEqual(parent.config.Shell, ['/bin/sh', '-ec']);
    const child = await build('shell-child', 'FROM IMG:shell-parent\nRUN echo "$0 $-" > /shell-seen\nCMD echo hi\n');
    assert.deepEqual(child.config.Shell, ['/bin/sh', '-ec']);
    assert.deepEqual(child.config.Cmd, ['/bin/sh', '-ec', 'echo hi']);
    const grandchild = await build('shell-grandchild', 'FROM IMG:shell-child\nSHELL ["/bin/sh", "-c"]\n');
    assert.deepEqual(grandchild.config.Shell, ['/bin/sh', '-c']);
  });

  test('symlink -> directory and directory -> symlink across layers, also in subdirectories, then built FROM', async () => {
    const img = await build('replace-layers', [
      'FROM BASE',
      'RUN mkdir -p /target/kept /d2s/sub /nest/a/d2s/x && ln -s /target /s2d && ln -s /target /nest/a/s2d && echo t > /d2s/sub/f && echo t > /nest/a/d2s/x/f',
      'RUN rm /s2d /nest/a/s2d && mkdir -p /s2d /nest/a/s2d/deep && echo in > /s2d/in && echo f > /nest/a/s2d/deep/f',
      'RUN rm -r /d2s /nest/a/d2s && ln -s /tmp /d2s && ln -s ../.. /nest/a/d2s',
      '',
    ].join('\n'));
    const tree = [...under(img, '/s2d'), ...under(img, '/nest')].sort();
    assert.deepEqual(tree, ['/nest/a dir', '/nest/a/d2s symlink -> ../..', '/nest/a/s2d dir', '/nest/a/s2d/deep dir',
      '/nest/a/s2d/deep/f file', '/s2d/in file']);
    assert.equal(entry(img, '/s2d')?.type, 'dir');
    assert.equal(entry(img, '/d2s')?.linkTarget, '/tmp');
    assert.deepEqual(under(img, '/target'), ['/target/kept dir']);
    assert.equal(entry(img, '/tmp/sub'), undefined);
    // Our own extraction of those layers (FROM), then one more replacement each way.
    const child = await build('replace-layers-child', [
      'FROM IMG:replace-layers',
      'RUN test -d /s2d && test -L /d2s && test ! -e /target/in && test ! -e /tmp/sub && ls /s2d /nest/a/s2d/deep > /listing',
      'RUN rm -r /s2d && ln -s /target /s2d && rm /d2s && mkdir /d2s && echo back > /d2s/back',
      '',
    ].join('\n'));
    assert.equal(entry(child, '/s2d')?.linkTarget, '/target');
    assert.deepEqual(under(child, '/d2s'), ['/d2s/back file']);
    assert.deepEqual(under(child, '/target'), ['/target/kept dir']);
    assert.equal(entry(child, '/tmp/back'), undefined);
  });

  test('COPY onto a symlink or a directory of the other type fails as in BuildKit (fsutil copy); a symlinked destination is followed', async () => {
    // BuildKit's copy never replaces across types: a directory over a symlink is "cannot copy to non-directory", a
    // file or symlink over a directory "cannot replace to directory ... with file" (the legacy builder replaced both).
    const s2d = await buildFails('copy-dir-over-link', [
      'FROM BASE',
      'RUN mkdir -p /target /dst && ln -s /target /dst/s2d',
      'COPY tree/ /dst/',
      '',
    ].join('\n'), { 'tree/s2d/in': 'in\n' });
    assert.match(s2d, /^error: .*Dockerfile:3: .*\/dst\/s2d/m);
    const d2s = await buildFails('copy-link-over-dir', [
      'FROM BASE',
      'RUN mkdir -p /dst/nest/a/d2s/old',
      'COPY tree/ /dst/',
      '',
    ].join('\n'), {}, { 'tree/nest/a/d2s': '../..' });
    assert.match(d2s, /^error: .*Dockerfile:3: .*\/dst\/nest\/a\/d2s/m);
    // The destination itself is resolved through symlinks (fs.RootPath): the files land where the link points.
    const img = await build('copy-into-link', [
      'FROM BASE',
      'RUN mkdir -p /target/sub && ln -s /target /dst && ln -s sub /target/rel',
      'COPY tree/ /dst/',
      'COPY one.txt /target/rel/',
      '',
    ].join('\n'), { 'tree/a/f': 'f\n', 'one.txt': '1\n' });
    assert.equal(entry(img, '/dst')?.linkTarget, '/target');
    assert.deepEqual(under(img, '/target'), ['/target/a dir', '/target/a/f file', '/target/rel symlink -> sub', '/target/sub dir', '/target/sub/one.txt file']);
  });

  test('WORKDIR with and without a trailing / under a symlinked parent creates the directory where the link points', async () => {
    const img = await build('workdir-link', [
      'FROM BASE',
      'RUN mkdir /real && ln -s /real /link && ln -s real /rel',
      'WORKDIR /link/a',
      'WORKDIR /link/b/',
      'WORKDIR /rel/c/d/',
      'RUN pwd > /real/pwd',
      '',
    ].join('\n'));
    assert.equal(img.config.WorkingDir, '/rel/c/d/');
    assert.deepEqual(under(img, '/real'), ['/real/a dir', '/real/b dir', '/real/c dir', '/real/c/d dir', '/real/pwd file']);
    assert.equal(entry(img, '/link')?.linkTarget, '/real');
    assert.equal(entry(img, '/rel')?.linkTarget, 'real');
    const child = await build('workdir-link-child', 'FROM IMG:workdir-link\nWORKDIR /link/a/e\nRUN pwd > /real/pwd2\n');
    assert.deepEqual(under(child, '/real/a'), ['/real/a/e dir']);
  });
  test('.dockerignore walk as fsutil: excluded dirs come back only for re-included paths that exist; ADD of one that does not fails', async () => {
    const files = {
      '.dockerignore': 'folder1\n!folder1/nosuch\nkeep\n!keep/yes\n!keep/sub/nosuch\n',
      'folder1/x': 'X', 'keep/no': 'N', 'keep/yes': 'Y', 'keep/sub/no': 'N', top: 'T',
    };
    const img = await build('ignore-walk', 'FROM BASE\nCOPY . /x/\n', files);
    assert.deepEqual(under(img, '/x').sort(), ['/x/.dockerignore file', '/x/Dockerfile file', '/x/keep dir', '/x/keep/yes file', '/x/top file']);
    const err = await buildFails('ignore-add', 'FROM BASE\nADD folder1 /f1\n', files);
    assert.match(err, /Dockerfile:2.*file not found in build context or excluded by \.dockerignore: stat folder1: file does not exist/);
  });

  test('COPY sources that match nothing: an ignored path or a glob in a missing directory fails naming the line; an empty glob copies nothing (BuildKit)', async () => {
    const files = { '.dockerignore': 'subdir\n', 'subdir/a': 'A', 'dir/b': 'B' };
    const ignoredErr = await buildFails('copy-ignored', 'FROM BASE\nWORKDIR /w\nCOPY subdir ./\n', files);
    assert.match(ignoredErr, /Dockerfile:3.*file not found in build context or excluded by \.dockerignore: stat subdir: file does not exist/);
    const globErr = await buildFails('copy-glob-nodir', 'FROM BASE\nCOPY nodir/* /d/\n', files);
    assert.match(globErr, /Dockerfile:2.*file not found in build context or excluded by \.dockerignore: stat nodir: file does not exist/);
    const img = await build('copy-empty-glob', 'FROM BASE\nCOPY missing* dir/*.none /e/\nCOPY dir/* /d/\n', files);
    assert.equal(entry(img, '/e'), undefined);
    assert.deepEqual(under(img, '/d'), ['/d/b file']);
  });
});
