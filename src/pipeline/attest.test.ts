import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAttestFlags, subjectNames } from './attest.ts';

test('--sbom, --attest and --provenance spellings; provenance off unless asked', () => {
  assert.deepEqual(parseAttestFlags(false, []), { sbom: false });
  assert.deepEqual(parseAttestFlags(true, []), { sbom: true });
  assert.deepEqual(parseAttestFlags(false, ['type=sbom']), { sbom: true });
  assert.deepEqual(parseAttestFlags(false, ['type=provenance,mode=max']), { sbom: false, provenance: 'max' });
  assert.deepEqual(parseAttestFlags(false, ['type=provenance']), { sbom: false, provenance: 'min' });
  assert.deepEqual(parseAttestFlags(false, [], 'mode=min'), { sbom: false, provenance: 'min' });
  assert.deepEqual(parseAttestFlags(false, [], 'mode=max'), { sbom: false, provenance: 'max' });
  assert.deepEqual(parseAttestFlags(false, [], 'true'), { sbom: false, provenance: 'min' });
  assert.deepEqual(parseAttestFlags(false, [], 'false'), { sbom: false });
  assert.throws(() => parseAttestFlags(false, [], 'mode=full'), /--provenance "mode=full": mode "full": want min or max/);
  assert.throws(() => parseAttestFlags(false, ['type=vex']), /--attest "type=vex": unknown type "vex"/);
  assert.throws(() => parseAttestFlags(false, ['sbom']), /--attest "sbom": want type=sbom\|provenance/);
});

test('subjects: pkg:docker names per destination with the platform', () => {
  assert.deepEqual(subjectNames(['reg.example:5000/app:v1'], { os: 'linux', architecture: 'arm64' }), ['pkg:docker/reg.example:5000/app@v1?platform=linux%2Farm64']);
});
