// Test-only: the Azurite emulator's blob service (the azurite npm package) as a child process on a
// free loopback port, data in a temporary directory, telemetry off; seeded with @azure/storage-blob
// signed by the emulator's well-known development account.
import {
  BlobSASPermissions, BlobServiceClient, generateBlobSASQueryParameters, StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from './executor-process.ts';

/** Azurite's fixed development account: public, documented by Microsoft, not a secret. */
export const azuriteAccount = 'devstoreaccount1';
export const azuriteKey = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface TestAzurite {
  /** http://127.0.0.1:PORT/devstoreaccount1 — the value for AZURE_STORAGE_BLOB_ENDPOINT. */
  readonly endpoint: string;
  /** The production-form context URL of a blob, as kaniko accepts it (the env redirects it here). */
  contextUrl(container: string, blob: string): string;
  /** A read-only SAS query string (no leading '?') for one blob, valid for an hour. */
  sasFor(container: string, blob: string): string;
  createContainer(name: string): Promise<void>;
  uploadBlob(container: string, blob: string, body: Uint8Array | string): Promise<void>;
  stop(): Promise<void>;
}

export async function startAzurite(): Promise<TestAzurite> {
  const location = await mkdtemp(join(tmpdir(), 'test-azurite-'));
  const child = spawn(join(projectRoot, 'node_modules', '.bin', 'azurite-blob'), [
    '--blobHost', '127.0.0.1', '--blobPort', '0', '--location', location,
    '--silent', '--skipApiVersionCheck', '--loose', '--disableTelemetry',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`azurite did not start: ${out}`)), 30_000);
      const onData = (d: Buffer): void => {
        out += d.toString();
        const m = /listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        if (m?.[1] !== undefined) { clearTimeout(timer); resolve(Number(m[1])); }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`azurite exited with ${code}: ${out}`)); });
    });
  } catch (err) {
    child.kill('SIGKILL');
    await rm(location, { recursive: true, force: true });
    throw err;
  }
  child.stdout.resume();
  child.stderr.resume();
  const endpoint = `http://127.0.0.1:${port}/${azuriteAccount}`;
  const credential = new StorageSharedKeyCredential(azuriteAccount, azuriteKey);
  const service = new BlobServiceClient(endpoint, credential);
  return {
    endpoint,
    contextUrl: (container, blob) => `https://${azuriteAccount}.blob.core.windows.net/${container}/${blob}`,
    sasFor(container, blob) {
      return generateBlobSASQueryParameters({
        containerName: container, blobName: blob, permissions: BlobSASPermissions.parse('r'),
        startsOn: new Date(Date.now() - 60_000), expiresOn: new Date(Date.now() + 3_600_000),
      }, credential).toString();
    },
    async createContainer(name) {
      await service.getContainerClient(name).create();
    },
    async uploadBlob(container, blob, body) {
      const data = typeof body === 'string' ? Buffer.from(body) : body;
      await service.getContainerClient(container).getBlockBlobClient(blob).upload(data, data.length);
    },
    async stop() {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
      await rm(location, { recursive: true, force: true });
    },
  };
}
