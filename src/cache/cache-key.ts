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

/** What runCacheInputs reads of a step (StepContext satisfies it; cache/ may not import commands/). */
export interface RunKeyContext {
  readonly image: ConfigFile;
  /** ARGs declared in the stage so far, with their resolved values. */
  readonly args: ReadonlyMap<string, string>;
}

/** The process a RUN starts (commands/run.ts runProcess): the argv after SHELL, and a #! heredoc body. */
export interface RunKeyProcess {
  readonly argv: readonly string[];
  readonly script?: string;
}

/**
 * The inputs of a RUN beyond the instruction text: the argv (it carries the SHELL for the shell form and the
 * heredoc bodies, which the instruction text does not), the environment the command sees from the image ENV
 * and the ARGs declared in scope (sorted; ENV wins as in the process), the USER and the WORKDIR.
 * Not included: --build-args no ARG declares (the command cannot see them), the predefined proxy ARGs unless
 * declared (Docker exempts them from the cache on purpose), HOME/PATH defaults (they follow from ENV, USER and
 * the root's /etc/passwd, which the key chain already covers), ONBUILD/labels and other config (invisible to a
 * process).
 */
export function runCacheInputs(step: RunKeyContext, proc: RunKeyProcess): string[] {
  const env = new Map<string, string>(step.args);
  for (const kv of step.image.config.Env ?? []) {
    const eq = kv.indexOf('=');
    if (eq > 0) env.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  const sortedEnv = [...env].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`);
  return [
    JSON.stringify(['argv', ...proc.argv]),
    JSON.stringify(['script', proc.script ?? null]),
    JSON.stringify(['env', ...sortedEnv]),
    JSON.stringify(['user', step.image.config.User ?? '']),
    JSON.stringify(['workdir', step.image.config.WorkingDir ?? '']),
  ];
}
