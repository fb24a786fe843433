import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gitSourceUrl, provenancePredicate, type ProvenanceInput } from './provenance.ts';

const base: ProvenanceInput = {
  mode: 'min', builderId: 'https://example/builder', builderVersion: '0.1.0', dockerfile: 'Dockerfile', buildArgs: new Map([['B', '2'], ['A', '1']]),
  secretIds: ['token'], platform: 'linux/amd64', materials: [{ uri: 'pkg:docker/busybox@latest?platform=linux%2Famd64', digest: { sha256: 'ab' } }],
  startedOn: new Date('2024-01-01T00:00:00Z'), finishedOn: new Date('2024-01-01T00:01:00Z'), invocationId: 'id-1',
  dockerfileText: 'FROM busybox\n', steps: [{ stage: '0', line: 1, instruction: 'RUN x', cached: false, startedOn: 'a', finishedOn: 'b' }],
};

test('min: builder, parameters (build args sorted, secret ids only), materials, times; no Dockerfile, no steps', () => {
  const p = provenancePredicate(base) as Record<string, any>;
  assert.deepEqual(p['builder'], { id: 'https://example/builder' });
  assert.equal(p['buildType'], 'https://mobyproject.org/buildkit@v1');
  assert.deepEqual(p['invocation'].parameters.args, { 'build-arg:A': '1', 'build-arg:B': '2' });
  assert.deepEqual(p['invocation'].parameters.secrets, [{ id: 'token', optional: false }]);
  assert.deepEqual(p['materials'], base.materials);
  assert.equal(p['metadata'].buildStartedOn, '2024-01-01T00:00:00.000Z');
  assert.equal(p['buildConfig'], undefined);
  assert.equal(p['metadata']['https://mobyproject.org/buildkit@v1#metadata'].source, undefined);
});

test('max: the Dockerfile (base64) and the steps; a git context adds its URL and commit', () => {
  const p = provenancePredicate({ ...base, mode: 'max', target: 'final', git: { url: 'https://git.example/r.git', commit: 'c0ffee' } }) as Record<string, any>;
  const meta = p['metadata']['https://mobyproject.org/buildkit@v1#metadata'];
  assert.equal(Buffer.from(meta.source.infos[0].data, 'base64').toString(), 'FROM busybox\n');
  assert.deepEqual(meta.vcs, { source: 'https://git.example/r.git', revision: 'c0ffee' });
  assert.deepEqual(p['buildConfig'].steps, base.steps);
  assert.equal(p['invocation'].parameters.args.target, 'final');
  assert.deepEqual(p['materials'].at(-1), { uri: 'https://git.example/r.git', digest: { sha1: 'c0ffee' } });
  assert.deepEqual(p['invocation'].configSource, { uri: 'https://git.example/r.git', digest: { sha1: 'c0ffee' }, entryPoint: 'Dockerfile' });
});

test('git URLs lose credentials and #ref', () => {
  assert.equal(gitSourceUrl('git://user:tok@github.com/a/b.git#refs/heads/main#abc'), 'https://github.com/a/b.git');
  assert.equal(gitSourceUrl('git://http://127.0.0.1:9/r.git'), 'http://127.0.0.1:9/r.git');
});

test('--build-context: context:NAME args as BuildKit records them; a directory is a local too', () => {
  const p = provenancePredicate({ ...base, namedContexts: [
    { name: 'alpine', value: 'docker-image://127.0.0.1:5000/alpine:3', local: false },
    { name: 'src', value: '/home/me/src', local: true },
  ] }) as Record<string, any>;
  assert.equal(p['invocation'].parameters.args['context:alpine'], 'docker-image://127.0.0.1:5000/alpine:3');
  assert.equal(p['invocation'].parameters.args['context:src'], 'local:src');
  assert.deepEqual(p['invocation'].parameters.locals, [{ name: 'context' }, { name: 'dockerfile' }, { name: 'src' }]);
});
