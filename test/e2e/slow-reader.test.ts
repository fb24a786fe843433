// A reader that takes the executor's output slowly (a busy CI log collector): stdout/stderr to a pipe are
// asynchronous in Node, so exiting must wait for them to drain — else the end of the log and the one error line
// beyond the pipe's 64 KiB are lost, and the build "fails with no message".
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { executorBin } from '../support/executor-process.ts';

test('a slow reader still gets the whole log and the error line (output drained before exit)', { timeout: 120_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'e2e-slow-reader-'));
  try {
    // ~4000 steps print ~300 KiB of step lines, then the last one fails.
    const lines = ['FROM scratch', ...Array.from({ length: 4000 }, (_, i) => `LABEL k${i}=${i}`), 'VOLUME ["', ''];
    await writeFile(join(dir, 'Dockerfile'), lines.join('\n'));
    // A real pipe (Node's own child pipes are socket pairs with far larger buffers), read only after 8 s (the executor has exited by then).
    const cmd = `"${executorBin}" --context=dir://${dir} --root-dir=${join(dir, '.root')} --no-push --log-format=text 2>&1 >/dev/null`
      + ' | { sleep 8; cat; }; echo "exit=${PIPESTATUS[0]}" >&2';
    const child = spawn('bash', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: '/root' } });
    const chunks: Buffer[] = [];
    let status = '';
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.on('data', (d: Buffer) => { status += d.toString(); });
    await new Promise((r) => child.on('close', r));
    const code = Number(/exit=(\d+)/.exec(status)?.[1] ?? -1);
    const stderr = Buffer.concat(chunks).toString();
    assert.equal(code, 1);
    assert.ok(stderr.length > 200_000, `only ${stderr.length} bytes arrived`);
    assert.match(stderr, /^error: .*Dockerfile:4002: .*matching double-quote/m);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
