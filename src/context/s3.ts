// `s3://bucket[/key]` build contexts, as kaniko's buildcontext/s3.go: the object (default
// `context.tar.gz`) is streamed from S3 straight into the archive extractor, never staged whole.
//
// Configuration comes from the `env` the CLI passes in, read explicitly here:
//   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN → static credentials;
//   AWS_REGION (else AWS_DEFAULT_REGION); AWS_PROFILE → the shared-config profile;
//   S3_ENDPOINT → a custom endpoint; S3_FORCE_PATH_STYLE=true → path-style addressing, honoured
//   only together with S3_ENDPOINT (as kaniko).
// Without static keys the AWS SDK's default chain runs, and that chain reads process.env itself
// (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN for IRSA,
// AWS_CONTAINER_CREDENTIALS_*, AWS_EC2_METADATA_*) and may query the instance metadata service.
// The SDK offers no seam for those short of re-assembling its chain, so they are left to it; in the
// executor process.env and `env` are the same object anyway.
import { GetObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { BuildError } from '../errors.ts';
import { redactUrl } from '../redact.ts';
import { extractContextArchive } from './archive.ts';
import type { ContextDeps, ContextSource } from './source.ts';

/** The object kaniko fetches when the context names only a bucket. */
export const defaultContextObject = 'context.tar.gz';

/** kaniko's util.GetBucketAndItem: `bucket/a/b` → [bucket, a/b]; no item → context.tar.gz. */
export function splitBucketAndItem(rest: string): { bucket: string; item: string } {
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const item = slash < 0 ? '' : rest.slice(slash + 1);
  return { bucket, item: item === '' ? defaultContextObject : item };
}

/** Non-empty value of an env var, or undefined. */
function envValue(env: ContextDeps['env'], name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

/** S3_ENDPOINT as a URL; a bare host is taken as HTTPS (aws-sdk-go-v2 needs a full URL too). */
function s3Endpoint(env: ContextDeps['env']): string | undefined {
  const endpoint = envValue(env, 'S3_ENDPOINT');
  if (endpoint === undefined) return undefined;
  return endpoint.includes('://') ? endpoint : `https://${endpoint}`;
}

/** The S3 client configuration kaniko's s3.go derives from the environment. Exported for tests. */
export function s3ClientConfig(env: ContextDeps['env']): S3ClientConfig {
  const config: S3ClientConfig = { followRegionRedirects: true };
  const region = envValue(env, 'AWS_REGION') ?? envValue(env, 'AWS_DEFAULT_REGION');
  if (region !== undefined) config.region = region;
  const profile = envValue(env, 'AWS_PROFILE');
  if (profile !== undefined) config.profile = profile;
  const accessKeyId = envValue(env, 'AWS_ACCESS_KEY_ID');
  const secretAccessKey = envValue(env, 'AWS_SECRET_ACCESS_KEY');
  if (accessKeyId !== undefined && secretAccessKey !== undefined) {
    const sessionToken = envValue(env, 'AWS_SESSION_TOKEN');
    config.credentials = sessionToken === undefined ? { accessKeyId, secretAccessKey } : { accessKeyId, secretAccessKey, sessionToken };
  }
  const endpoint = s3Endpoint(env);
  if (endpoint !== undefined) {
    config.endpoint = endpoint;
    config.forcePathStyle = env['S3_FORCE_PATH_STYLE'] === 'true';
    // A custom endpoint (MinIO, Ceph, an emulator) has no regions; the SDK still wants one to sign.
    config.region ??= 'us-east-1';
  }
  return config;
}

/** One line for an SDK failure: the S3 error code and HTTP status, never the request's headers. */
function describeS3Failure(source: string, endpoint: string | undefined, err: unknown): BuildError {
  if (err instanceof BuildError) return err;
  if (err instanceof S3ServiceException) {
    const status = err.$metadata.httpStatusCode;
    const what = ({
      NoSuchBucket: 'the bucket does not exist',
      NoSuchKey: 'the object does not exist',
      NotFound: 'not found',
      AccessDenied: 'access denied',
      InvalidAccessKeyId: 'the access key is not known (bad credentials)',
      SignatureDoesNotMatch: 'the request signature does not match (bad secret key)',
      ExpiredToken: 'the session token has expired',
    } as Record<string, string>)[err.name] ?? err.name;
    return new BuildError('CONTEXT', `cannot fetch build context ${source}: ${what}${status === undefined ? '' : ` (HTTP ${status})`}`, { cause: err });
  }
  const e = err as NodeJS.ErrnoException;
  if (e.name === 'AbortError') return new BuildError('CONTEXT', `fetching build context ${source} was aborted`, { cause: err });
  if (e.name === 'CredentialsProviderError') {
    return new BuildError('CONTEXT', `cannot fetch build context ${source}: no AWS credentials found`, {
      cause: err, hint: 'set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with an IAM role',
    });
  }
  if (/region is missing/i.test(e.message ?? '')) {
    return new BuildError('CONTEXT', `cannot fetch build context ${source}: no AWS region configured (set AWS_REGION)`, { cause: err });
  }
  if (e.code !== undefined) {
    return new BuildError('CONTEXT', `cannot fetch build context ${source}: cannot reach ${endpoint === undefined ? 'S3' : redactUrl(endpoint)} (${e.code})`, { cause: err });
  }
  return new BuildError('CONTEXT', `cannot fetch build context ${source}: ${e.name ?? 'error'}`, { cause: err });
}

export function s3ContextSource(url: string, deps: ContextDeps): ContextSource {
  const rest = url.startsWith('s3://') ? url.slice('s3://'.length) : url;
  const { bucket, item } = splitBucketAndItem(rest);
  const source = `s3://${bucket}/${item}`;
  return {
    scheme: 's3',
    async fetch(workDir, signal) {
      if (bucket === '') throw new BuildError('CONTEXT', `build context ${JSON.stringify(url)} names no bucket`);
      const config = s3ClientConfig(deps.env);
      const endpoint = s3Endpoint(deps.env);
      deps.log.info({ source, endpoint: endpoint === undefined ? undefined : redactUrl(endpoint) }, `Fetching build context from ${source}`);
      const client = new S3Client(config);
      try {
        let body: Readable;
        try {
          const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: item }), { abortSignal: signal });
          if (!(out.Body instanceof Readable)) throw new BuildError('CONTEXT', `cannot fetch build context ${source}: the response has no body`);
          body = out.Body;
        } catch (err) {
          throw describeS3Failure(source, endpoint, err);
        }
        await extractContextArchive(body, workDir, { source, log: deps.log, signal });
        return workDir;
      } finally {
        client.destroy();
      }
    },
  };
}
