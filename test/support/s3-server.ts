// Test-only: the s3rver npm S3 server (in this process) on a free loopback port, with its data in a
// temporary directory, plus an S3 client signed with s3rver's fixed development keys to seed it.
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** s3rver's only account: these are public, documented development keys. */
export const s3rverAccessKeyId = 'S3RVER';
export const s3rverSecretAccessKey = 'S3RVER';

interface S3rverOptions {
  readonly address: string;
  readonly port: number;
  readonly directory: string;
  readonly silent: boolean;
  /** Buckets as subdomains would need DNS; path style is what S3_FORCE_PATH_STYLE selects. */
  readonly vhostBuckets: boolean;
}
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverClass = new (options: S3rverOptions) => S3rverInstance;

export interface TestS3 {
  /** http://127.0.0.1:PORT — the value for S3_ENDPOINT. */
  readonly endpoint: string;
  /** The env an executor needs to reach this server (path style, the dev keys, a region). */
  readonly env: Record<string, string>;
  createBucket(name: string): Promise<void>;
  putObject(bucket: string, key: string, body: Uint8Array | string): Promise<void>;
  stop(): Promise<void>;
}

export async function startS3(): Promise<TestS3> {
  // s3rver ships no type declarations; the shape used here is declared above.
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;
  const directory = await mkdtemp(join(tmpdir(), 'test-s3rver-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true, vhostBuckets: false });
  const address = await server.run();
  const endpoint = `http://127.0.0.1:${address.port}`;
  const client = new S3Client({
    endpoint, forcePathStyle: true, region: 'us-east-1',
    credentials: { accessKeyId: s3rverAccessKeyId, secretAccessKey: s3rverSecretAccessKey },
  });
  return {
    endpoint,
    env: {
      S3_ENDPOINT: endpoint, S3_FORCE_PATH_STYLE: 'true', AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: s3rverAccessKeyId, AWS_SECRET_ACCESS_KEY: s3rverSecretAccessKey,
    },
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async putObject(bucket, key, body) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
    async stop() {
      client.destroy();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
