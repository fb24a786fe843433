// How fast does one big blob go into a loopback registry: our client (one streamed PUT, or PATCH chunks) next to
// `curl -T` of the same file (the floor: no hashing on our side, one PUT). Prints figures, asserts nothing.
// Usage: TMPDIR=/dev/shm/bench node bench/push.ts [--size MiB=1024] [--runs 3] [--chunks 64,256]
import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { createReadStream, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { anonymousKeychain } from '../src/auth/index.ts';
import { RegistryClient, type BlobSource, type RegistryOptions } from '../src/registry/index.ts';
import { digestReadable } from '../src/oci/layer.ts';
import { startRegistry } from '../test/support/registry-server.ts';
import { median } from './median.ts';

const { values } = parseArgs({
  options: { size: { type: 'string', default: '1024' }, runs: { type: 'string', default: '3' }, chunks: { type: 'string', default: '64,256' } },
});
const sizeMiB = Number(values.size);
const runs = Number(values.runs);
const chunkSizesMiB = (values.chunks ?? '').split(',').filter((s) => s !== '').map(Number);

const dir = mkdtempSync(join(tmpdir(), 'push-bench-'));
const registry = await startRegistry();
try {
  const file = join(dir, 'blob');
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < sizeMiB; i++) writeSync(fd, randomFillSync(block));
  closeSync(fd);
  const size = sizeMiB * 1024 * 1024;

  // A fresh repository per upload, so nothing is found by HEAD; the digest is known up front, as for a built layer.
  const { digest } = await digestReadable(createReadStream(file, { highWaterMark: 1024 * 1024 }));
  const blob: BlobSource = {
    digest: async () => digest,
    size: async () => size,
    compressed: async () => createReadStream(file, { highWaterMark: 1024 * 1024 }),
  };
  const options = (extra: Partial<RegistryOptions>): RegistryOptions => ({
    keychain: anonymousKeychain, insecureRegistries: new Set([registry.host]), skipTlsVerifyRegistries: new Set(),
    certificates: new Map(), clientCerts: new Map(), retries: 0, userAgent: 'kaniko-ts-bench', log: pino({ level: 'silent' }), ...extra,
  });

  let n = 0;
  const rate = (ms: number): string => `${(sizeMiB / (ms / 1000)).toFixed(0).padStart(5)} MiB/s`;
  const variants: [string, () => Promise<void>][] = [
    ['ours, one streamed PUT', async () => {
      await new RegistryClient(options({ chunkedUploadThreshold: Infinity })).uploadBlob({ registry: registry.host, repository: `mono/r${n++}` }, blob);
    }],
    ...chunkSizesMiB.map((mib): [string, () => Promise<void>] => [`ours, PATCH chunks of ${mib} MiB`, async () => {
      const chunk = mib * 1024 * 1024;
      await new RegistryClient(options({ chunkedUploadThreshold: 0, chunkSize: chunk })).uploadBlob({ registry: registry.host, repository: `chunked/r${n++}` }, blob);
    }]),
    ['curl -T (POST, then one PUT)', async () => {
      const repo = `curl/r${n++}`;
      const headers = execFileSync('curl', ['-sS', '-D', '-', '-o', '/dev/null', '-X', 'POST', `${registry.url}/v2/${repo}/blobs/uploads/`]).toString();
      const location = /^location:\s*(\S+)/im.exec(headers)?.[1];
      if (location === undefined) throw new Error('no Location from the registry');
      const url = new URL(location, registry.url);
      url.searchParams.set('digest', digest);
      execFileSync('curl', ['-sS', '-f', '-o', '/dev/null', '-T', file, '-H', 'content-type: application/octet-stream', url.toString()]);
    }],
  ];
  // CPU seconds of both ends: on 2 cores, our client and the registry (sha256 without SHA-NI in go1.19) share them.
  const registryPid = execFileSync('pgrep', ['-f', `docker-registry serve ${registry.dataDir.replace(/\/data$/, '')}`]).toString().trim().split('\n')[0] ?? '';
  const registryCpu = (): number => {
    const fields = readFileSync(`/proc/${registryPid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  };
  const times = new Map<string, number[]>();
  for (let r = 0; r < runs; r++) {
    for (const [label, fn] of variants) {
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      const reg0 = registryCpu();
      await fn();
      const ms = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      times.set(label, [...(times.get(label) ?? []), ms]);
      console.log(`run ${r + 1}  ${label.padEnd(32)} ${rate(ms)}   CPU: this process ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s, registry ${(registryCpu() - reg0).toFixed(1)} s, wall ${(ms / 1000).toFixed(1)} s`);
    }
  }
  console.log(`\n${sizeMiB} MiB into docker-registry on loopback, median of ${runs}:`);
  for (const [label, ms] of times) console.log(`  ${label.padEnd(32)} ${rate(median(ms))}`);
} finally {
  await registry.stop();
  rmSync(dir, { recursive: true, force: true });
}
