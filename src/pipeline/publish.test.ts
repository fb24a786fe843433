import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BuildError } from '../errors.ts';
import { isImmutableTagError } from './publish.ts';

test('immutable-tag refusals are recognised by the words Artifact Registry and ECR use', () => {
  assert.ok(isImmutableTagError(new BuildError('REGISTRY', 'PUT manifest: 400: The repository has enabled tag immutability')));
  assert.ok(isImmutableTagError(new BuildError('REGISTRY', 'push failed', {
    cause: new Error("The image tag 'v1' already exists in the 'app' repository and cannot be overwritten because the repository is immutable."),
  })));
  assert.ok(!isImmutableTagError(new BuildError('REGISTRY', 'PUT manifest: 500 Internal Server Error')));
  assert.ok(!isImmutableTagError('not an error'));
});
