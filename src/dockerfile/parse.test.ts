import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDockerfile, parseInstructionText } from './parse.ts';
import { DockerfileError } from '../errors.ts';
import type { Instruction } from './instructions.ts';

/** Parses `FROM scratch` + body and returns the body's instructions. */
function body(text: string): readonly Instruction[] {
  return parseDockerfile(`FROM scratch\n${text}\n`, 'Dockerfile').stages[0]?.instructions ?? [];
}

function one(text: string): Instruction {
  const all = body(text);
  assert.equal(all.length, 1, `expected one instruction in ${JSON.stringify(text)}`);
  return all[0] as Instruction;
}

function fails(text: string, line: number, pattern: RegExp): void {
  assert.throws(() => parseDockerfile(text, 'Dockerfile'), (err: unknown) => {
    assert.ok(err instanceof DockerfileError, `expected DockerfileError, got ${String(err)}`);
    assert.equal(err.line, line, `line of ${err.message}`);
    assert.match(err.message, pattern);
    assert.ok(err.message.startsWith(`Dockerfile:${line}: `), err.message);
    return true;
  }, `${JSON.stringify(text)} should fail`);
}

test('every instruction form', () => {
  const cases: readonly (readonly [string, Record<string, unknown>])[] = [
    ['RUN echo hi  there', { kind: 'RUN', form: 'shell', command: 'echo hi  there', mounts: [], heredocs: [] }],
    ['RUN ["echo", "a b"]', { kind: 'RUN', form: 'exec', args: ['echo', 'a b'] }],
    ['RUN --mount=type=cache,target=/c --mount=type=tmpfs,target=/t --network=none --security=insecure make',
      { kind: 'RUN', command: 'make', mounts: ['type=cache,target=/c', 'type=tmpfs,target=/t'], network: 'none', security: 'insecure' }],
    ['run lower', { kind: 'RUN', command: 'lower', text: 'run lower' }],
    ["RUN ['single']", { kind: 'RUN', form: 'shell', command: "['single']" }],
    ['RUN [ "a" ', { kind: 'RUN', form: 'shell', command: '[ "a"' }],
    ['CMD ["a", "b c"]', { kind: 'CMD', form: 'exec', args: ['a', 'b c'] }],
    ['CMD []', { kind: 'CMD', form: 'exec', args: [] }],
    ['CMD echo $HOME', { kind: 'CMD', form: 'shell', command: 'echo $HOME' }],
    ['ENTRYPOINT ["/bin/app"]', { kind: 'ENTRYPOINT', form: 'exec', args: ['/bin/app'] }],
    ['ENTRYPOINT exec app', { kind: 'ENTRYPOINT', form: 'shell', command: 'exec app' }],
    ['SHELL ["/bin/bash", "-c"]', { kind: 'SHELL', form: 'exec', args: ['/bin/bash', '-c'] }],
    ['COPY a b /dst/', { kind: 'COPY', sources: ['a', 'b'], dest: '/dst/', link: false, parents: false, exclude: [], heredocs: [] }],
    ['COPY ["a b", "/d"]', { kind: 'COPY', sources: ['a b'], dest: '/d' }],
    ['COPY --from=build --chown=1:2 --chmod=0755 --link --parents --exclude=*.md --exclude=x a /d',
      { kind: 'COPY', from: 'build', chown: '1:2', chmod: '0755', link: true, parents: true, exclude: ['*.md', 'x'] }],
    ['COPY --link=false a /d', { kind: 'COPY', link: false }],
    ['COPY --chown="a b" a /d', { kind: 'COPY', chown: 'a b' }],
    ['ADD https://x/y.tgz /d', { kind: 'ADD', sources: ['https://x/y.tgz'], dest: '/d', keepGitDir: false }],
    ['ADD --checksum=sha256:abc --keep-git-dir=true --unpack=false --chown=u a /d',
      { kind: 'ADD', checksum: 'sha256:abc', keepGitDir: true, unpack: false, chown: 'u' }],
    ['ENV a="x y" b=c\\ d', { kind: 'ENV', pairs: [{ key: 'a', value: '"x y"' }, { key: 'b', value: 'c\\ d' }] }],
    ['ENV legacy value with  spaces', { kind: 'ENV', pairs: [{ key: 'legacy', value: 'value with  spaces' }] }],
    ["ENV a='q r' e=", { kind: 'ENV', pairs: [{ key: 'a', value: "'q r'" }, { key: 'e', value: '' }] }],
    ['LABEL "com.x"="v 1" b=2', { kind: 'LABEL', pairs: [{ key: '"com.x"', value: '"v 1"' }, { key: 'b', value: '2' }] }],
    ['ARG A', { kind: 'ARG', args: [{ name: 'A' }] }],
    ['ARG A=1 B="x y" C', { kind: 'ARG', args: [{ name: 'A', defaultValue: '1' }, { name: 'B', defaultValue: '"x y"' }, { name: 'C' }] }],
    ['ARG E=', { kind: 'ARG', args: [{ name: 'E', defaultValue: '' }] }],
    ['EXPOSE 80 443/tcp  53/udp', { kind: 'EXPOSE', ports: ['80', '443/tcp', '53/udp'] }],
    ['VOLUME /a /b', { kind: 'VOLUME', paths: ['/a', '/b'] }],
    ['VOLUME ["/a b"]', { kind: 'VOLUME', paths: ['/a b'] }],
    ['WORKDIR /my dir', { kind: 'WORKDIR', path: '/my dir' }],
    ['USER app:grp', { kind: 'USER', user: 'app:grp' }],
    ['STOPSIGNAL SIGKILL', { kind: 'STOPSIGNAL', signal: 'SIGKILL' }],
    ['MAINTAINER Jane <j@x>', { kind: 'MAINTAINER', name: 'Jane <j@x>' }],
    ['HEALTHCHECK NONE', { kind: 'HEALTHCHECK', none: true }],
    ['HEALTHCHECK --interval=5s --timeout=3s --start-period=1s --start-interval=2s --retries=3 CMD curl -f x',
      { kind: 'HEALTHCHECK', none: false, test: { form: 'shell', command: 'curl -f x' }, interval: '5s', timeout: '3s',
        startPeriod: '1s', startInterval: '2s', retries: '3' }],
    ['HEALTHCHECK cmd ["true"]', { kind: 'HEALTHCHECK', none: false, test: { form: 'exec', args: ['true'] } }],
    ['ONBUILD RUN make', { kind: 'ONBUILD', triggerText: 'RUN make' }],
  ];
  for (const [text, expected] of cases) {
    const got = one(text) as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(expected)) assert.deepEqual(got[k], v, `${text}: field ${k}`);
    assert.equal(got['line'], 2, text);
  }
});

test('ONBUILD parses its trigger', () => {
  const instr = one('ONBUILD COPY --chown=1 . /app');
  assert.equal(instr.kind, 'ONBUILD');
  if (instr.kind !== 'ONBUILD') return;
  assert.equal(instr.trigger.kind, 'COPY');
  assert.equal(instr.trigger.text, 'COPY --chown=1 . /app');
});

test('line numbers with continuations, comments and empty lines', () => {
  const df = parseDockerfile([
    '# a comment', // 1
    '', // 2
    'FROM alpine', // 3
    'RUN echo a \\', // 4
    '# comment inside', // 5
    '', // 6
    '    && echo b', // 7
    '  # indented comment', // 8
    'ENV A=1 \\', // 9
    '    B=2', // 10
    'CMD x', // 11
  ].join('\n'), 'Dockerfile');
  const ins = df.stages[0]?.instructions ?? [];
  assert.deepEqual(ins.map((i) => [i.kind, i.line]), [['RUN', 4], ['ENV', 9], ['CMD', 11]]);
  assert.equal(ins[0]?.text, 'RUN echo a     && echo b');
  assert.equal(ins[1]?.text, 'ENV A=1     B=2');
  const env = ins[1];
  assert.ok(env?.kind === 'ENV');
  assert.deepEqual(env.pairs, [{ key: 'A', value: '1' }, { key: 'B', value: '2' }]);
  assert.equal(df.stages[0]?.line, 3);
});

test('CRLF line endings and a BOM', () => {
  const df = parseDockerfile('\uFEFFFROM alpine\r\nRUN a \\\r\n  b\r\nUSER x\r\n', 'Dockerfile');
  const ins = df.stages[0]?.instructions ?? [];
  assert.deepEqual(ins.map((i) => [i.kind, i.line, i.text]), [['RUN', 2, 'RUN a   b'], ['USER', 4, 'USER x']]);
});

test('escape=` directive', () => {
  const df = parseDockerfile([
    '# escape=`',
    'FROM mcr.microsoft.com/windows',
    'RUN dir c:\\ `',
    '    && echo done',
    'ENV P=C:\\path a=b` c',
  ].join('\n'), 'Dockerfile');
  assert.equal(df.escape, '`');
  const ins = df.stages[0]?.instructions ?? [];
  assert.equal(ins[0]?.text, 'RUN dir c:\\     && echo done');
  assert.equal(ins[0]?.line, 3);
  assert.ok(ins[1]?.kind === 'ENV');
  assert.deepEqual(ins[1].pairs, [{ key: 'P', value: 'C:\\path' }, { key: 'a', value: 'b` c' }]);
});

test('syntax directive is recorded; directives only at the top', () => {
  const df = parseDockerfile('# syntax=docker/dockerfile:1.7\nFROM a\n', 'Dockerfile');
  assert.equal(df.syntax, 'docker/dockerfile:1.7');
  const late = parseDockerfile('FROM a\n# escape=`\nRUN a \\\n b\n', 'Dockerfile');
  assert.equal(late.escape, '\\');
  assert.equal(late.stages[0]?.instructions[0]?.text, 'RUN a  b');
});

test('heredocs', () => {
  const df = parseDockerfile([
    'FROM alpine', // 1
    'RUN <<EOF', // 2
    'echo $HOME', // 3
    'FROM inside', // 4
    'EOF', // 5
    'RUN <<-"EOT" bash', // 6
    '\techo x', // 7
    '\t\tindented', // 8
    '\tEOT', // 9
    "COPY <<one <<'two' /dst/", // 10
    'first', // 11
    'one', // 12
    'second $X', // 13
    'two', // 14
    'RUN 3<<EOF cat /dev/fd/3', // 15
    'x', // 16
    'EOF', // 17
    'USER me', // 18
  ].join('\n'), 'Dockerfile');
  assert.equal(df.stages.length, 1);
  const ins = df.stages[0]?.instructions ?? [];
  assert.deepEqual(ins.map((i) => [i.kind, i.line]), [['RUN', 2], ['RUN', 6], ['COPY', 10], ['RUN', 15], ['USER', 18]]);
  const [r1, r2, c, r3] = ins;
  assert.ok(r1?.kind === 'RUN' && r1.form === 'shell');
  assert.equal(r1.command, '<<EOF');
  assert.equal(r1.text, 'RUN <<EOF');
  assert.deepEqual(r1.heredocs, [{ name: 'EOF', content: 'echo $HOME\nFROM inside\n', expand: true }]);
  assert.ok(r2?.kind === 'RUN');
  assert.deepEqual(r2.heredocs, [{ name: 'EOT', content: 'echo x\nindented\n', expand: false }]);
  assert.ok(c?.kind === 'COPY');
  assert.deepEqual(c.sources, ['<<one', "<<'two'"]);
  assert.equal(c.dest, '/dst/');
  assert.deepEqual(c.heredocs, [{ name: 'one', content: 'first\n', expand: true }, { name: 'two', content: 'second $X\n', expand: false }]);
  assert.ok(r3?.kind === 'RUN');
  assert.deepEqual(r3.heredocs, [{ name: 'EOF', content: 'x\n', expand: true }]);
});

test('no heredoc for << inside words or in other instructions', () => {
  const r = one('RUN echo "a<<b" x<<y');
  assert.ok(r.kind === 'RUN');
  assert.deepEqual(r.heredocs, []);
  const e = one('ENV A=<<EOF');
  assert.ok(e.kind === 'ENV');
});

test('errors carry file:line', () => {
  fails('', 1, /file with no instructions/);
  fails('# only a comment\n\n', 1, /file with no instructions/);
  fails('FROM a\nFOO bar\n', 2, /unknown instruction: FOO/);
  fails('RUN x\nFROM a\n', 1, /no build stage in current context/);
  fails('ARG A\n', 1, /no FROM/);
  fails('FROM a\nRUN\n', 2, /RUN requires at least one argument/);
  fails('FROM a\nCOPY onlyone\n', 2, /COPY requires at least two arguments/);
  fails('FROM a\nCOPY --bogus a b\n', 2, /unknown flag: bogus/);
  fails('FROM a\nENV --x=1 A=1\n', 2, /unknown flag: x/);
  fails('FROM a\nCOPY --from a b\n', 2, /missing a value on flag: from/);
  fails('FROM a\nCOPY --from=a --from=b a b\n', 2, /duplicate flag specified: from/);
  fails('FROM a\nCOPY --link=maybe a b\n', 2, /expecting boolean value for flag link/);
  fails('FROM a AS b c\n', 1, /FROM requires either one or three arguments/);
  fails('FROM a AS 1bad\n', 1, /invalid name for build stage/);
  fails('FROM a\nSHELL /bin/sh -c\n', 2, /SHELL requires the arguments to be in JSON form/);
  fails('FROM a\nCMD ["a", 1]\n', 2, /must contain only strings/);
  fails('FROM a\nENV A=1 B\n', 2, /can't find = in "B"/);
  fails('FROM a\nENV A\n', 2, /ENV must have two arguments/);
  fails('FROM a\nONBUILD ONBUILD RUN x\n', 2, /Chaining ONBUILD/);
  fails('FROM a\nONBUILD FROM x\n', 2, /FROM isn't allowed as an ONBUILD trigger/);
  fails('FROM a\nONBUILD MAINTAINER x\n', 2, /MAINTAINER isn't allowed/);
  fails('FROM a\nONBUILD BOGUS x\n', 2, /unknown instruction: BOGUS/);
  fails('FROM a\n\nRUN <<EOF\necho\n', 3, /unterminated heredoc EOF/);
  fails('FROM a\nHEALTHCHECK NONE x\n', 2, /HEALTHCHECK NONE takes no arguments/);
  fails('FROM a\nHEALTHCHECK CMD\n', 2, /Missing command after HEALTHCHECK CMD/);
  fails('FROM a\nHEALTHCHECK WHAT x\n', 2, /Unknown type "WHAT"/);
  fails('FROM a\nVOLUME [""]\n', 2, /VOLUME specified can not be an empty string/);
  fails('# escape=x\nFROM a\n', 1, /invalid escape token/);
});

test('stages and meta args', () => {
  const df = parseDockerfile([
    'ARG BASE=alpine',
    'ARG V',
    'FROM --platform=$BUILDPLATFORM ${BASE}:3 AS Build',
    'RUN make',
    'FROM scratch',
    'COPY --from=build /out /',
  ].join('\n'), 'Dockerfile');
  assert.deepEqual(df.metaArgs.map((a) => a.args.map((x) => x.name)), [['BASE'], ['V']]);
  assert.equal(df.stages.length, 2);
  const [s0, s1] = df.stages;
  assert.deepEqual({ index: s0?.index, name: s0?.name, base: s0?.base, platform: s0?.platform, line: s0?.line, n: s0?.instructions.length },
    { index: 0, name: 'build', base: '${BASE}:3', platform: '$BUILDPLATFORM', line: 3, n: 1 });
  assert.equal(s1?.name, undefined);
  assert.equal(s1?.base, 'scratch');
});

test('parseInstructionText for ONBUILD triggers', () => {
  const i = parseInstructionText('COPY --from=x a /b', 'base-image', 7, '\\');
  assert.ok(i.kind === 'COPY');
  assert.equal(i.from, 'x');
  assert.equal(i.line, 7);
  assert.throws(() => parseInstructionText('NOPE x', 'base-image', 7, '\\'),
    (e: unknown) => e instanceof DockerfileError && e.line === 7 && /unknown instruction: NOPE/.test(e.message));
  const r = parseInstructionText('RUN a \\\n b', 'f', 1, '\\');
  assert.equal(r.text, 'RUN a  b');
});

test('a lone CR is part of its line, as in BuildKit (line numbers stay those of \\n)', () => {
  const df = parseDockerfile('FROM scratch\nLABEL a="1\rb"\nENV X=1\r\nENV Y=2\n', 'Dockerfile');
  const instrs = df.stages[0]!.instructions;
  assert.deepEqual(instrs.map((i) => [i.kind, i.line]), [['LABEL', 2], ['ENV', 3], ['ENV', 4]]);
  assert.throws(() => parseDockerfile('FROM scratch\r\r\r' + 'w'.repeat(70_000) + '\rCOPY a b\r', 'Dockerfile'), DockerfileError);
});
