import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildRunHelper } from './busybox-fixture.ts';
import { holdLock } from './run-in-root.ts';

let helper: string;
let dir: string;
before(async () => {
  helper = buildRunHelper();
  dir = await mkdtemp(join(tmpdir(), 'hold-lock-'));
});
after(async () => { if (dir !== undefined) await rm(dir, { recursive: true, force: true }); });

test('holdLock: exclusive between holders, busy without waiting, free again after release', async () => {
  const file = join(dir, 'a.lock');
  const signal = new AbortController().signal;
  const first = await holdLock(helper, file, { wait: false, signal });
  assert.ok(first !== undefined);
  assert.equal(await holdLock(helper, file, { wait: false, signal }), undefined);
  const waiting = holdLock(helper, file, { wait: true, signal });
  let got = false;
  void waiting.then(() => { got = true; });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(got, false, 'the waiter waits');
  await first.release();
  const second = await waiting;
  assert.ok(second !== undefined);
  await second.release();
});

test('holdLock: a wait ends with the signal', async () => {
  const file = join(dir, 'b.lock');
  const held = await holdLock(helper, file, { wait: false, signal: new AbortController().signal });
  const abort = new AbortController();
  const waiting = holdLock(helper, file, { wait: true, signal: abort.signal });
  setTimeout(() => abort.abort(), 200);
  await assert.rejects(waiting, /RUN was cancelled/);
  await held?.release();
});
