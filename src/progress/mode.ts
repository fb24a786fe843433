// --progress: auto | plain | tty | quiet (docker buildx's values; BUILDKIT_PROGRESS sets it too).
import { UsageError } from '../errors.ts';

export const progressValues = ['auto', 'plain', 'tty', 'quiet'] as const;
export type ProgressMode = 'plain' | 'tty' | 'quiet';

/**
 * auto is tty on a terminal, plain otherwise; --log-format=json is for machines, so json makes auto and tty plain
 * (every line stays one JSON object). quiet: errors only, and the digest on stdout (buildx -q prints the image id).
 */
export function resolveProgressMode(value: string, ctx: { readonly isTTY: boolean; readonly json: boolean }): ProgressMode {
  if (!(progressValues as readonly string[]).includes(value)) {
    throw new UsageError(`invalid --progress "${value}": use auto, plain, tty or quiet`);
  }
  if (value === 'quiet' || value === 'plain') return value;
  if (ctx.json) return 'plain';
  return value === 'tty' || ctx.isTTY ? 'tty' : 'plain';
}
