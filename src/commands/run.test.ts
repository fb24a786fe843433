// RUN against a busybox build root, through the real parser and the instructions around it (ARG/ENV/USER/
// WORKDIR), isolated as for --root-dir builds.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import type { RunInstruction } from '../dockerfile/instructions.ts';
import { parseDockerfile } from '../dockerfile/parse.ts';
import { BuildError } from '../errors.ts';
import type { ConfigFile } from '../oci/types.ts';
import { buildRunHelper, createBusyboxRoot } from '../sandbox/busybox-fixture.ts';
import { runInRoot } from '../sandbox/run-in-root.ts';
import type { StepContext } from './command.ts';
import { commandFor } from './index.ts';
import { buildRunEnv, checkRunFlags, runFlagInputs, runProcess } from './run.ts';

const start: ConfigFile = { architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/bin'] }, rootfs: { type: 'layers', diff_ids: [] } };

describe('RUN', () => {
  let helper = '';
  let base = '';
  let root = '';
  let outside = '';

  before(() => {
    helper = buildRunHelper();
  });
  beforeEach(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'run-cmd-'));
    root = path.join(base, 'root');
    outside = path.join(base, 'outside');
    await mkdir(outside);
    await writeFile(path.join(outside, 'sentinel'), 'x');
    await createBusyboxRoot(root);
  });
  afterEach(async () => {
    assert.deepEqual(await readdir(outside), ['sentinel']);
    await rm(base, { recursive: true, force: true });
  });

  /** Runs a one-stage Dockerfile's instructions; returns the final config and everything RUN printed. */
  async function build(dockerfile: string, buildArgs: Record<string, string> = {}): Promise<{ image: ConfigFile; output: string }> {
    const df = parseDockerfile(`FROM scratch\n${dockerfile}\n`, 'Dockerfile');
    const chunks: Buffer[] = [];
    let image = start;
    let args = new Map<string, string>();
    for (const instr of df.stages[0]?.instructions ?? []) {
      const env = new Map(args);
      for (const kv of image.config.Env ?? []) env.set(kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1));
      const step: StepContext = {
        root, contextDir: '/nonexistent', image, args, buildArgs: new Map(Object.entries(buildArgs)), metaArgs: new Map(),
        env, cmdSet: false, escape: df.escape, log: pino({ level: 'silent' }), signal: AbortSignal.timeout(60_000),
        resolveFrom: async () => { throw new Error('no stages'); },
        runtime: { helperPath: helper, isolate: true, output: (chunk) => chunks.push(chunk) },
      };
      const result = await commandFor(instr).execute(step);
      image = result.image;
      if (result.args !== undefined) args = new Map(result.args);
    }
    return { image, output: Buffer.concat(chunks).toString() };
  }

  it('shell form runs through /bin/sh -c and writes into the root; the config is unchanged', async () => {
    const { image, output } = await build('RUN echo "$0 $1" > /out; echo done');
    assert.equal(await readFile(path.join(root, 'out'), 'utf8'), '/bin/sh \n');
    assert.equal(output, 'done\n');
    assert.deepEqual(image, start);
  });

  it('exec form looks argv[0] up in the image PATH; SHELL changes the shell form', async () => {
    await build('RUN ["touch", "/made"]\nSHELL ["/bin/sh", "-c", "echo shell-args: \\"$@\\" > /shell; eval \\"$1\\"", "sh"]\nRUN echo x > /y');
    assert.equal((await stat(path.join(root, 'made'))).isFile(), true);
    assert.equal(await readFile(path.join(root, 'y'), 'utf8'), 'x\n');
    assert.equal(await readFile(path.join(root, 'shell'), 'utf8'), 'shell-args: echo x > /y\n');
  });

  it('environment: image ENV, ARGs not shadowed by ENV, proxy --build-args, HOME; not the executor env', async () => {
    const { output } = await build('ARG A=arg\nARG B=arg\nENV B=env\nRUN env | sort', { HTTP_PROXY: 'http://proxy:3128', OTHER: 'no' });
    const vars = output.trim().split('\n').filter((l) => !/^(PWD|SHLVL)=/.test(l));
    assert.deepEqual(vars, ['A=arg', 'B=env', 'HOME=/root', 'HTTP_PROXY=http://proxy:3128', 'PATH=/bin']);
  });

  it('USER app: uid, primary group, supplementary groups and HOME from the root', async () => {
    const { output } = await build('USER app\nRUN id; echo $HOME');
    assert.equal(output, 'uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)\n/home/app\n');
  });

  it('USER uid:gid honours the group; an unknown uid gets gid 0 (as runc) and HOME /', async () => {
    assert.equal((await build('USER 1000:2000\nRUN id')).output, 'uid=1000(app) gid=2000(extra) groups=2000(extra)\n');
    assert.equal((await build('USER 4242\nRUN id -u; id -g; echo $HOME')).output, '4242\n0\n/\n');
    await assert.rejects(build('USER nobody\nRUN true'), (e: unknown) => e instanceof BuildError && e.code === 'ROOTFS');
  });

  it('runs in WORKDIR, creating a missing one owned by root', async () => {
    const image: ConfigFile = { ...start, config: { ...start.config, WorkingDir: '/w/x' } };
    const instr = parseDockerfile('FROM scratch\nRUN pwd > /pwd', 'Dockerfile').stages[0]?.instructions[0];
    assert.ok(instr !== undefined);
    const step: StepContext = {
      root, contextDir: '/nonexistent', image, args: new Map(), buildArgs: new Map(), metaArgs: new Map(), env: new Map(),
      cmdSet: false, escape: '\\', log: pino({ level: 'silent' }), signal: AbortSignal.timeout(60_000),
      resolveFrom: async () => { throw new Error('no stages'); },
      runtime: { helperPath: helper, isolate: true, output: () => {} },
    };
    await commandFor(instr).execute(step);
    assert.equal(await readFile(path.join(root, 'pwd'), 'utf8'), '/w/x\n');
    const st = await stat(path.join(root, 'w', 'x'));
    assert.equal(st.uid, 0);
    assert.equal(st.mode & 0o7777, 0o755);
  });

  it('a non-zero exit is RUN_FAILED carrying the status, worded as BuildKit', async () => {
    await assert.rejects(build('RUN echo failing; exit 3'), (e: unknown) =>
      e instanceof BuildError && e.code === 'RUN_FAILED' && e.exitCode === 3
        && e.message === 'process "/bin/sh -c echo failing; exit 3" did not complete successfully: exit code: 3');
    await assert.rejects(build('RUN ["/bin/sh", "-c", "exit 4"]'), (e: unknown) =>
      e instanceof BuildError && e.message === 'process "/bin/sh -c exit 4" did not complete successfully: exit code: 4');
  });

  it('leaves no process, mountpoint or resolv.conf behind; the host stays invisible', async () => {
    const before = (await readdir(root)).sort();
    const { output } = await build('RUN sleep 987661 & test -s /etc/resolv.conf && echo resolv; grep -c "^Pid:" /proc/self/status; ls /work || echo hidden');
    assert.equal(output.replace(/ls: .*\n/, ''), 'resolv\n1\nhidden\n');
    assert.deepEqual((await readdir(root)).sort(), before);
    assert.deepEqual((await readdir(path.join(root, 'etc'))).sort(), ['group', 'passwd']);
    const cmdlines = await Promise.all((await readdir('/proc')).filter((p) => /^\d+$/.test(p))
      .map(async (p) => readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')));
    assert.equal(cmdlines.some((c) => c.split('\0').includes('987661')), false);
  });

  it('heredocs: a plain body is the shell command, #! bodies run as programs, others go to the shell whole', async () => {
    await build([
      'RUN <<EOF',
      'echo one > /h1',
      'echo two >> /h1',
      'EOF',
      'RUN <<EOF',
      '#!/bin/sh',
      'echo "shebang $(id -u)" > /h2',
      'EOF',
      'RUN cat <<EOF > /h3',
      'line $HOME',
      'EOF',
    ].join('\n'));
    assert.equal(await readFile(path.join(root, 'h1'), 'utf8'), 'one\ntwo\n');
    assert.equal(await readFile(path.join(root, 'h2'), 'utf8'), 'shebang 0\n');
    assert.equal(await readFile(path.join(root, 'h3'), 'utf8'), 'line /root\n');
  });

  it('refuses unknown mount types and unknown --network values; accepts --network=host', async () => {
    await assert.rejects(build('RUN --mount=type=bogus,target=/c true'), (e: unknown) =>
      e instanceof BuildError && e.code === 'DOCKERFILE' && /unsupported mount type "bogus"/.test(e.message));
    await assert.rejects(build('RUN --network=bridge true'), (e: unknown) => e instanceof BuildError && e.code === 'DOCKERFILE');
    await build('RUN --network=host true');
  });

  it('--network=none: only loopback, up', async () => {
    const { output } = await build("RUN --network=none cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' ' && cat /sys/class/net/lo/operstate; ping -c1 -W1 127.0.0.1 >/dev/null && echo ping-lo");
    assert.match(output, /^lo\n(unknown|up)\nping-lo\n$/);
  });

  it('--mount=type=tmpfs: a tmpfs for that RUN only; its files and the directories made for it are gone after', async () => {
    const before = (await stat(root)).mtimeMs;
    const { output } = await build([
      'RUN --mount=type=tmpfs,target=/new/deep/t,size=1m grep " /new/deep/t tmpfs " /proc/mounts | cut -d" " -f2-3 && echo x > /new/deep/t/f && df -k /new/deep/t | tail -1 | tr -s " " | cut -d" " -f2',
      'RUN --mount=type=tmpfs,target=/tmp echo y > /tmp/f',
    ].join('\n'));
    assert.equal(output, '/new/deep/t tmpfs\n1024\n');
    await assert.rejects(stat(path.join(root, 'new')), { code: 'ENOENT' });
    await assert.rejects(stat(path.join(root, 'tmp', 'f')), { code: 'ENOENT' });
    assert.equal((await stat(root)).mtimeMs, before, 'the root directory times are restored');
  });

  it('--mount=type=tmpfs: a target through a symlink resolves inside the root; also without isolate (container mode)', async () => {
    await mkdir(path.join(root, 'real'));
    await symlink('/real', path.join(root, 'link'));
    const { output } = await build('RUN --mount=type=tmpfs,target=/link/t grep -c " /real/t tmpfs " /proc/mounts');
    assert.equal(output, '1\n');
    await assert.rejects(stat(path.join(root, 'real', 't')), { code: 'ENOENT' });
    // Container mode's path (no isolate): the tmpfs lives in a mount namespace of its own, the stub goes after.
    const chunks: Buffer[] = [];
    const { exitCode } = await runInRoot({ root, argv: ['/bin/sh', '-c', 'stat -f -c %T /new2/t && echo x > /new2/t/f'],
      env: ['PATH=/bin'], cwd: '/', uid: 0, gid: 0, groups: [], isolate: false, networkNone: true,
      helperPath: helper, tmpfs: [{ target: 'new2/t', size: 0 }], onOutput: (c) => chunks.push(c), signal: AbortSignal.timeout(10_000) });
    assert.equal(exitCode, 0, Buffer.concat(chunks).toString());
    assert.equal(Buffer.concat(chunks).toString(), 'tmpfs\n');
    await assert.rejects(stat(path.join(root, 'new2')), { code: 'ENOENT' });
  });
});

describe('RUN pieces', () => {
  const instr = (fields: Partial<RunInstruction>): RunInstruction =>
    ({ kind: 'RUN', line: 2, text: 'RUN …', mounts: [], heredocs: [], form: 'shell', command: 'true', ...fields }) as RunInstruction;

  it('runProcess: shell, exec and heredoc shapes', () => {
    assert.deepEqual(runProcess(instr({ command: 'a b' }), undefined), { argv: ['/bin/sh', '-c', 'a b'] });
    assert.deepEqual(runProcess(instr({ command: 'a' }), ['bash', '-ec']), { argv: ['bash', '-ec', 'a'] });
    assert.deepEqual(runProcess(instr({ form: 'exec', args: ['x', 'y'] } as Partial<RunInstruction>), undefined), { argv: ['x', 'y'] });
    const doc = { name: 'EOF', content: 'echo hi\n', expand: true };
    assert.deepEqual(runProcess(instr({ command: '<<EOF', heredocs: [doc] }), undefined), { argv: ['/bin/sh', '-c', 'echo hi\n'] });
    assert.deepEqual(runProcess(instr({ command: '<<-"EOF"', heredocs: [doc] }), undefined), { argv: ['/bin/sh', '-c', 'echo hi\n'] });
    assert.deepEqual(runProcess(instr({ command: 'python3 <<EOF', heredocs: [doc] }), undefined),
      { argv: ['/bin/sh', '-c', 'python3 <<EOF\necho hi\nEOF'] });
    assert.deepEqual(runProcess(instr({ command: '<<EOF', heredocs: [{ ...doc, content: '#!/bin/sh\nx\n' }] }), undefined),
      { argv: ['/dev/pipes/EOF'], script: '#!/bin/sh\nx\n' });
  });

  it('buildRunEnv: ENV wins over ARG, undeclared non-proxy build args stay out, HOME/PATH only when missing', () => {
    const env = buildRunEnv(['A=env', 'HOME=/h'], new Map([['A', 'arg'], ['B', 'arg']]),
      new Map([['no_proxy', 'x'], ['C', 'c']]), '/root');
    assert.deepEqual(env, ['A=env', 'HOME=/h', 'B=arg', 'no_proxy=x', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
  });

  it('checkRunFlags: security values', () => {
    checkRunFlags({ mounts: [], security: 'insecure' });
    assert.throws(() => checkRunFlags({ mounts: [], security: 'bogus' }), BuildError);
  });

  it('runFlagInputs: the cache key changes with each flag and mount; a plain RUN adds nothing', () => {
    const key = (f: { mounts: string[]; network?: string; security?: string }): string[] => runFlagInputs(f, checkRunFlags(f));
    assert.deepEqual(key({ mounts: [] }), []);
    const keys = [key({ mounts: [], network: 'none' }), key({ mounts: [], network: 'host' }), key({ mounts: [], security: 'insecure' }),
      key({ mounts: ['type=tmpfs,target=/t'] }), key({ mounts: ['type=tmpfs,target=/t,size=1m'] })].map((k) => JSON.stringify(k));
    assert.equal(new Set(keys).size, keys.length);
  });

  it('checkRunFlags: network values, tmpfs mounts parsed, unknown mount types refused', () => {
    for (const network of ['default', 'none', 'host']) assert.deepEqual(checkRunFlags({ mounts: [], network }), []);
    assert.throws(() => checkRunFlags({ mounts: [], network: 'bridge' }), /RUN --network=bridge: expected default, none or host/);
    assert.deepEqual(checkRunFlags({ mounts: ['type=tmpfs,target=t,size=1k'] }, '/w').map((m) => [m.target, m.size]), [['/w/t', 1024]]);
    assert.throws(() => checkRunFlags({ mounts: ['type=device,target=/c'] }),
      (e: unknown) => e instanceof BuildError && e.code === 'DOCKERFILE' && /unsupported mount type "device"/.test(e.message));
    assert.throws(() => checkRunFlags({ mounts: ['type=tmpfs,target=/t,bogus=1'] }),
      (e: unknown) => e instanceof BuildError && e.code === 'DOCKERFILE' && /unexpected key 'bogus'/.test(e.message));
  });
});
