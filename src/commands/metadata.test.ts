// The metadata-only instructions against Docker's documented results.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { parseDockerfile } from '../dockerfile/parse.ts';
import type { ConfigFile } from '../oci/types.ts';
import type { StepContext } from './command.ts';
import { commandFor } from './index.ts';

const empty: ConfigFile = { architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/bin'] }, rootfs: { type: 'layers', diff_ids: [] } };

/** Runs the instructions of a one-stage Dockerfile (metadata only) and returns the final config. */
async function run(dockerfile: string, start: ConfigFile = empty, buildArgs: Record<string, string> = {}): Promise<ConfigFile> {
  const df = parseDockerfile(`FROM scratch\n${dockerfile}\n`, 'Dockerfile');
  let image = start;
  let args = new Map<string, string>();
  let cmdSet = false;
  for (const instr of df.stages[0]?.instructions ?? []) {
    const env = new Map(args);
    for (const kv of image.config.Env ?? []) env.set(kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1));
    const step: StepContext = {
      root: '/nonexistent', contextDir: '/nonexistent', image, args, buildArgs: new Map(Object.entries(buildArgs)), metaArgs: new Map(),
      env, cmdSet, escape: df.escape, log: pino({ level: 'silent' }), signal: new AbortController().signal,
      resolveFrom: async () => { throw new Error('no stages'); },
      runtime: { helperPath: '', isolate: true, output: () => undefined },
    };
    const result = await commandFor(instr).execute(step);
    image = result.image;
    if (result.args !== undefined) args = new Map(result.args);
    if (result.cmdSet === true) cmdSet = true;
  }
  return image;
}

describe('metadata instructions', () => {
  test('ENV sets, replaces in place, and expands against earlier values', async () => {
    const c = await run('ENV A=1 B="two words"\nENV PATH=/usr/bin:$PATH\nENV C=${A}x\nENV A 9');
    assert.deepEqual(c.config.Env, ['PATH=/usr/bin:/bin', 'A=9', 'B=two words', 'C=1x']);
  });

  test('ARG: default, --build-arg override, not persisted, ENV wins over ARG of the same name', async () => {
    const c = await run('ARG V=default\nARG W\nENV FROM_ARG=$V W=$W\nARG P=x\nENV P=env\nENV Q=$P', empty, { W: 'given' });
    assert.deepEqual(c.config.Env, ['PATH=/bin', 'FROM_ARG=default', 'W=given', 'P=env', 'Q=env']);
  });

  test('LABEL merges and expands', async () => {
    const c = await run('ARG v=1.0\nLABEL version=$v "a b"="c d"\nLABEL version=2');
    assert.deepEqual(c.config.Labels, { version: '2', 'a b': 'c d' });
  });

  test('EXPOSE: default tcp, protocols, ranges, variables', async () => {
    const c = await run('ENV P=8080\nEXPOSE 80 53/udp $P/tcp 9000-9001');
    assert.deepEqual(Object.keys(c.config.ExposedPorts ?? {}).sort(), ['53/udp', '80/tcp', '8080/tcp', '9000/tcp', '9001/tcp']);
    await assert.rejects(run('EXPOSE 80/icmp'), /protocol/);
  });

  test('CMD and ENTRYPOINT: exec form as is, shell form through SHELL', async () => {
    const c = await run('SHELL ["/bin/bash", "-c"]\nCMD echo hi\nENTRYPOINT ["/e"]');
    assert.deepEqual(c.config.Cmd, ['/bin/bash', '-c', 'echo hi']);
    assert.deepEqual(c.config.Entrypoint, ['/e']);
    assert.deepEqual(c.config.Shell, ['/bin/bash', '-c']);
  });

  test('ENTRYPOINT clears an inherited CMD, not one set in this stage', async () => {
    const inherited: ConfigFile = { ...empty, config: { ...empty.config, Cmd: ['base'] } };
    assert.equal((await run('ENTRYPOINT ["/e"]', inherited)).config.Cmd, null);
    assert.deepEqual((await run('CMD ["mine"]\nENTRYPOINT ["/e"]', inherited)).config.Cmd, ['mine']);
  });

  test('USER, VOLUME, STOPSIGNAL, MAINTAINER, ONBUILD', async () => {
    const c = await run('ARG U=app\nUSER $U:staff\nVOLUME ["/data", "/logs"]\nVOLUME /more\nSTOPSIGNAL SIGKILL\nMAINTAINER Jane <j@x>\nONBUILD RUN echo hi');
    assert.equal(c.config.User, 'app:staff');
    assert.deepEqual(Object.keys(c.config.Volumes ?? {}), ['/data', '/logs', '/more']);
    assert.equal(c.config.StopSignal, 'SIGKILL');
    assert.equal(c.author, 'Jane <j@x>');
    assert.deepEqual(c.config.OnBuild, ['RUN echo hi']);
  });

  test('HEALTHCHECK durations become nanoseconds; NONE disables', async () => {
    const c = await run('HEALTHCHECK --interval=30s --timeout=1m30s --retries=3 CMD curl -f http://localhost/ || exit 1');
    assert.deepEqual(c.config.Healthcheck, {
      Test: ['CMD-SHELL', 'curl -f http://localhost/ || exit 1'], Interval: 30e9, Timeout: 90e9, Retries: 3,
    });
    assert.deepEqual((await run('HEALTHCHECK NONE')).config.Healthcheck, { Test: ['NONE'] });
    await assert.rejects(run('HEALTHCHECK --interval=soon CMD true'), /--interval/);
  });
});
