import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expandWords } from '../dockerfile/expand.ts';
import { parsePortSpecs } from './expose.ts';

test('kaniko Dockerfile_test_expose: $port/$protocol with protocol=tcp is 83/tcp (Docker gives it too)', () => {
  // FROM x / EXPOSE 80 / EXPOSE 81/udp / ENV protocol tcp / EXPOSE 82/$protocol / ENV port 83 /
  // EXPOSE $port/udp / EXPOSE $port/$protocol
  const env = new Map([['protocol', 'tcp'], ['port', '83']]);
  const words = ['80', '81/udp', '82/$protocol', '$port/udp', '$port/$protocol'];
  const ports = new Set<string>();
  for (const w of words) for (const s of expandWords(w, env, { escape: '\\' })) for (const p of parsePortSpecs(s)) ports.add(p);
  assert.deepEqual([...ports], ['80/tcp', '81/udp', '82/tcp', '83/udp', '83/tcp']);
});

test('parsePortSpecs: default tcp, lower-cased protocol, ranges, bad input refused', () => {
  assert.deepEqual(parsePortSpecs('80'), ['80/tcp']);
  assert.deepEqual(parsePortSpecs('53/UDP'), ['53/udp']);
  assert.deepEqual(parsePortSpecs('8000-8002/sctp'), ['8000/sctp', '8001/sctp', '8002/sctp']);
  assert.throws(() => parsePortSpecs('80/icmp'));
  assert.throws(() => parsePortSpecs('x'));
  assert.throws(() => parsePortSpecs('9-8'));
});
