import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatReference, parseReference, registryApiHost, repositoryName } from './reference.ts';
import { UsageError } from '../errors.ts';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseReference', () => {
  const table: [string, string, string, string | undefined, string | undefined][] = [
    ['ubuntu', 'index.docker.io', 'library/ubuntu', 'latest', undefined],
    ['ubuntu:22.04', 'index.docker.io', 'library/ubuntu', '22.04', undefined],
    ['docker.io/ubuntu', 'index.docker.io', 'library/ubuntu', 'latest', undefined],
    ['index.docker.io/library/ubuntu', 'index.docker.io', 'library/ubuntu', 'latest', undefined],
    ['registry-1.docker.io/foo/bar:v1', 'index.docker.io', 'foo/bar', 'v1', undefined],
    ['foo/bar', 'index.docker.io', 'foo/bar', 'latest', undefined],
    ['gcr.io/project/image', 'gcr.io', 'project/image', 'latest', undefined],
    ['127.0.0.1:5000/x', '127.0.0.1:5000', 'x', 'latest', undefined],
    ['127.0.0.1:5000/x/y:tag', '127.0.0.1:5000', 'x/y', 'tag', undefined],
    ['localhost/x', 'localhost', 'x', 'latest', undefined],
    ['localhost:5000/a-b/c_d.e__f', 'localhost:5000', 'a-b/c_d.e__f', 'latest', undefined],
    [`ubuntu@${D}`, 'index.docker.io', 'library/ubuntu', undefined, D],
    [`reg.example.com:443/a/b:t@${D}`, 'reg.example.com:443', 'a/b', 't', D],
    ['[::1]:5000/x', '[::1]:5000', 'x', 'latest', undefined],
  ];
  for (const [input, registry, repository, tag, digest] of table) {
    it(input, () => {
      const ref = parseReference(input);
      assert.equal(ref.registry, registry);
      assert.equal(ref.repository, repository);
      assert.equal(ref.tag, tag);
      assert.equal(ref.digest, digest);
    });
  }

  const bad = ['', 'Ubuntu', 'foo/Bar', 'a b', 'x:', 'x:-bad', 'x@sha256:abc', 'host:5000/', 'foo//bar', 'a/-b', `x@${D.toUpperCase()}`];
  for (const input of bad) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      assert.throws(() => parseReference(input), (err: unknown) => {
        assert.ok(err instanceof UsageError);
        assert.ok(err.message.includes(`"${input}"`), err.message);
        return true;
      });
    });
  }

  it('formats and names', () => {
    const ref = parseReference(`127.0.0.1:5000/a/b:t@${D}`);
    assert.equal(formatReference(ref), `127.0.0.1:5000/a/b:t@${D}`);
    assert.equal(repositoryName(ref), '127.0.0.1:5000/a/b');
    assert.equal(formatReference(parseReference('ubuntu')), 'index.docker.io/library/ubuntu:latest');
    assert.equal(registryApiHost('index.docker.io'), 'registry-1.docker.io');
    assert.equal(registryApiHost('docker.io'), 'registry-1.docker.io');
    assert.equal(registryApiHost('gcr.io'), 'gcr.io');
  });
});
