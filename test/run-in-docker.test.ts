// run_in_docker.sh and examples/docker-run-stdin.sh, run with a fake `docker` first on PATH that records its
// arguments (one per line) and its standard input, so the composed command is checked without a Docker daemon.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { executorFlags } from '../src/cli/flags.ts';

const root = join(import.meta.dirname, '..');
const script = join(root, 'run_in_docker.sh');
const stdinScript = join(root, 'examples', 'docker-run-stdin.sh');

describe('run_in_docker.sh', () => {
  let dir: string;
  let home: string;
  let ctx: string;
  let bin: string;
  before(async () => {
    dir = await realpath(await mkdtemp(join(tmpdir(), 'run-in-docker-')));
    home = join(dir, 'home');
    ctx = join(dir, 'ctx');
    bin = join(dir, 'bin');
    await mkdir(join(home, '.docker'), { recursive: true });
    await mkdir(join(ctx, 'docker'), { recursive: true });
    await mkdir(bin);
    await writeFile(join(home, '.docker', 'config.json'), '{"auths":{}}');
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\n');
    await writeFile(join(ctx, 'docker', 'app.Dockerfile'), 'FROM scratch\n');
    await writeFile(join(bin, 'docker'), `#!/bin/sh\nprintf '%s\\n' "$@" > "${dir}/docker-args"\ncat > "${dir}/docker-stdin"\n`);
    await chmod(join(bin, 'docker'), 0o755);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  function run(file: string, args: readonly string[], env: Record<string, string> = {}): { status: number | null; stderr: string } {
    const r = spawnSync('bash', [file, ...args], {
      env: { PATH: `${bin}:/usr/bin:/bin`, HOME: home, ...env },
      encoding: 'utf8',
      input: '',
    });
    return { status: r.status, stderr: r.stderr };
  }
  const recorded = async (): Promise<string[]> => (await readFile(join(dir, 'docker-args'), 'utf8')).split('\n').slice(0, -1);

  it('parses (bash -n)', () => {
    for (const f of [script, stdinScript]) assert.equal(spawnSync('bash', ['-n', f]).status, 0, f);
  });

  it('composes kaniko\'s docker run: context at /workspace, config.json read-only, cache flags last', async () => {
    const r = run(script, ['docker/app.Dockerfile', ctx, 'registry.example.com/team/app:1.0', '--cache=true', '--cache-ttl=24h']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(await recorded(), [
      'run', '--rm',
      '--volume', `${ctx}:/workspace`,
      '--volume', `${home}/.docker/config.json:/kaniko/.docker/config.json:ro`,
      'registry.example.com/kaniko-ts/executor:latest',
      '--dockerfile=/workspace/docker/app.Dockerfile',
      '--context=dir:///workspace',
      '--destination=registry.example.com/team/app:1.0',
      '--cache=true', '--cache-ttl=24h',
    ]);
  });

  it('takes the image from KANIKO_IMAGE, a relative context, an absolute Dockerfile inside it, and kaniko\'s bare "true"', async () => {
    const r = spawnSync('bash', [script, join(ctx, 'Dockerfile'), 'ctx', 'reg.example/app', 'true'], {
      cwd: dir, env: { PATH: `${bin}:/usr/bin:/bin`, HOME: home, KANIKO_IMAGE: 'mirror.example/executor:v1' }, encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const args = await recorded();
    assert.equal(args[6], 'mirror.example/executor:v1');
    assert.deepEqual(args.slice(3, 4), [`${ctx}:/workspace`]);
    assert.deepEqual(args.slice(7), ['--dockerfile=/workspace/Dockerfile', '--context=dir:///workspace', '--destination=reg.example/app', '--cache=true']);
  });

  it('mounts no config.json when there is none (docker would create a directory)', async () => {
    const r = run(script, ['Dockerfile', ctx, 'reg.example/app'], { HOME: join(dir, 'nohome') });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!(await recorded()).some((a) => a.includes('config.json')));
    assert.match(r.stderr, /pushing without registry credentials/);
  });

  const refusals: readonly [string, readonly string[], RegExp][] = [
    ['too few arguments', ['Dockerfile', 'ctx'], /^usage: .*<path to Dockerfile in context> <context dir> <destination> \[cache flags\.\.\.\]/],
    ['a missing context', ['Dockerfile', '/nonexistent-ctx', 'r/a'], /context directory '\/nonexistent-ctx' does not exist/],
    ['a missing Dockerfile', ['Nope.Dockerfile', '<ctx>', 'r/a'], /Dockerfile 'Nope\.Dockerfile' not found in the context directory/],
    ['a Dockerfile outside the context', ['/etc/hostname', '<ctx>', 'r/a'], /is not inside the context directory/],
    ['a flag for a destination', ['Dockerfile', '<ctx>', '--destination=x'], /is not an image reference/],
    ['a non-cache flag', ['Dockerfile', '<ctx>', 'r/a', '--no-push'], /'--no-push' is not a cache flag/],
  ];
  for (const [what, args, message] of refusals) {
    it(`refuses ${what} with status 2 and does not run docker`, async () => {
      await rm(join(dir, 'docker-args'), { force: true });
      const r = run(script, args.map((a) => (a === '<ctx>' ? ctx : a)));
      assert.equal(r.status, 2);
      assert.match(r.stderr, message);
      await assert.rejects(readFile(join(dir, 'docker-args')), { code: 'ENOENT' });
    });
  }

  it('passes only executor flags that exist and are built', async () => {
    const names = new Set(executorFlags.filter((f) => f.supported).map((f) => f.name));
    assert.equal(run(script, ['Dockerfile', ctx, 'reg.example/app', '--cache=true', '--cache-repo=reg.example/cache', '--cache-ttl=1h']).status, 0);
    const args = await recorded();
    const afterImage = args.slice(args.indexOf('registry.example.com/kaniko-ts/executor:latest') + 1);
    assert.equal(afterImage.length, 6);
    for (const a of afterImage) assert.ok(names.has(/^--([a-z-]+)/.exec(a)?.[1] ?? ''), a);
  });

  it('examples/docker-run-stdin.sh pipes a gzipped tar of the context into docker run -i with tar://stdin', async () => {
    const r = run(stdinScript, [ctx, 'reg.example/app:1']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(await recorded(), [
      'run', '--interactive', '--rm',
      '--volume', `${home}/.docker/config.json:/kaniko/.docker/config.json:ro`,
      'registry.example.com/kaniko-ts/executor:latest',
      '--context=tar://stdin', '--dockerfile=Dockerfile', '--destination=reg.example/app:1',
    ]);
    const tar = gunzipSync(await readFile(join(dir, 'docker-stdin'))).toString('latin1');
    assert.match(tar, /\.\/Dockerfile\0/);
    assert.match(tar, /\.\/docker\/app\.Dockerfile\0/);
    assert.equal(run(stdinScript, [ctx]).status, 2);
  });
});
