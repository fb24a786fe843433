// Content digests: parsing, computing (in one pass or streamed) and verifying while streaming.
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { BuildError } from '../errors.ts';
import type { Digest } from './types.ts';

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** Validates 'sha256:<64 hex>'; only sha256 is supported (as kaniko/ggcr do in practice). */
export function parseDigest(s: string): Digest {
  if (!DIGEST_RE.test(s)) {
    throw new BuildError('INVALID_JSON', `invalid digest ${JSON.stringify(s.slice(0, 100))}: want sha256:<64 lowercase hex>`);
  }
  return s as Digest;
}

export function isDigest(s: unknown): s is Digest {
  return typeof s === 'string' && DIGEST_RE.test(s);
}

export function sha256Of(bytes: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;
}

export interface Digester {
  update(chunk: Uint8Array): void;
  digest(): Digest;
  readonly bytes: number;
}

export function createDigester(): Digester {
  const hash = createHash('sha256');
  let bytes = 0;
  let result: Digest | undefined;
  return {
    update(chunk: Uint8Array): void {
      if (result !== undefined) throw new Error('digester already finished');
      hash.update(chunk);
      bytes += chunk.byteLength;
    },
    digest(): Digest {
      // Memoised: node's Hash.digest() may only be called once.
      result ??= `sha256:${hash.digest('hex')}` as Digest;
      return result;
    },
    get bytes(): number {
      return bytes;
    },
  };
}

export function digestHex(d: Digest): string {
  return d.slice('sha256:'.length);
}

/** A pass-through that errors at end if the content's digest or size is not what was promised. */
export function verifyingStream(expected: Digest, expectedSize: number | undefined, what: string): Transform {
  const digester = createDigester();
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
      digester.update(chunk);
      if (expectedSize !== undefined && digester.bytes > expectedSize) {
        cb(new BuildError('DIGEST_MISMATCH', `${what}: more than the expected ${expectedSize} bytes`));
        return;
      }
      cb(null, chunk);
    },
    flush(cb: TransformCallback): void {
      if (expectedSize !== undefined && digester.bytes !== expectedSize) {
        cb(new BuildError('DIGEST_MISMATCH', `${what}: got ${digester.bytes} bytes, expected ${expectedSize}`));
        return;
      }
      const got = digester.digest();
      if (got !== expected) {
        cb(new BuildError('DIGEST_MISMATCH', `${what}: digest is ${got}, expected ${expected}`));
        return;
      }
      cb();
    },
  });
}
