// Layer-cache keys from content (kaniko's CompositeCache, without its collisions): each key is a sha256 over
// a FRAMED encoding of the previous key and the step's inputs, so two different chains or part lists can never
// produce the same byte string. What goes into the parts per instruction kind is documented in README.md.
import { createHash } from 'node:crypto';
import type { ConfigFile } from '../oci/types.ts';

/** Bumped whenever the encoding or the meaning of the parts changes: old cache entries then simply miss. */
export const CACHE_KEY_VERSION = 'kaniko-ts/layer-cache-key/v1';

const STRING = 0x73; // 's'
const BYTES = 0x62; // 'b'

function frame(hash: ReturnType<typeof createHash>, type: number, bytes: Uint8Array): void {
  // Type byte + 64-bit big-endian length: 'ab','c' and 'a','bc' (and the string vs the bytes "ab") differ.
  const header = Buffer.alloc(9);
  header.writeUInt8(type, 0);
  header.writeBigUInt64BE(BigInt(bytes.byteLength), 1);
  hash.update(header);
  hash.update(bytes);
}

/**
 * The key of a step: `parent` is the previous step's key (or, for the first step of a stage, the base image
 * digest / the parent stage's last key); `parts` are the step's inputs in a fixed order. Lowercase sha256 hex,
 * usable as a registry tag and a file name.
 */
export function cacheKey(parent: string, parts: readonly (string | Uint8Array)[]): string {
  const hash = createHash('sha256');
  frame(hash, STRING, Buffer.from(CACHE_KEY_VERSION, 'utf8'));
  frame(hash, STRING, Buffer.from(parent, 'utf8'));
  for (const part of parts) {
    if (typeof part === 'string') frame(hash, STRING, Buffer.from(part, 'utf8'));
    else frame(hash, BYTES, part);
  }
  return hash.digest('hex');
}

