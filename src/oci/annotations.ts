// --annotation KEY=VALUE with buildx's type prefixes: manifest: (the default), index:, manifest-descriptor:,
// index-descriptor:. A prefix may carry a platform in brackets (manifest[linux/arm64]:key=v), as buildx allows.
import { UsageError } from '../errors.ts';
import { parsePlatformSpec } from './platform.ts';
import type { Platform } from './types.ts';

export type AnnotationTarget = 'manifest' | 'index' | 'manifest-descriptor' | 'index-descriptor';

export interface Annotation {
  readonly target: AnnotationTarget;
  /** Only for images of this platform (manifest / manifest-descriptor); undefined: all. */
  readonly platform?: Platform;
  readonly key: string;
  readonly value: string;
}

const TARGETS: readonly AnnotationTarget[] = ['manifest', 'index', 'manifest-descriptor', 'index-descriptor'];
const PREFIX_RE = /^([a-z-]+)(?:\[([^\]]+)\])?:(.*)$/s;

export function parseAnnotation(s: string): Annotation {
  const eq = s.indexOf('=');
  if (eq <= 0) throw new UsageError(`--annotation ${JSON.stringify(s)}: want [TYPE:]KEY=VALUE (TYPE: ${TARGETS.join(', ')})`);
  let head = s.slice(0, eq);
  const value = s.slice(eq + 1);
  let target: AnnotationTarget = 'manifest';
  let platform: Platform | undefined;
  const m = PREFIX_RE.exec(head);
  if (m !== null && (TARGETS as readonly string[]).includes(m[1] ?? '')) {
    target = m[1] as AnnotationTarget;
    if (m[2] !== undefined) {
      if (target === 'index' || target === 'index-descriptor') {
        throw new UsageError(`--annotation ${JSON.stringify(s)}: a platform applies only to manifest: and manifest-descriptor:`);
      }
      try { platform = parsePlatformSpec(m[2]); } catch {
        throw new UsageError(`--annotation ${JSON.stringify(s)}: invalid platform ${JSON.stringify(m[2])}: want os/arch[/variant]`);
      }
    }
    head = m[3] ?? '';
  } else if (m !== null && m[2] !== undefined) {
    throw new UsageError(`--annotation ${JSON.stringify(s)}: unknown type ${JSON.stringify(m[1])} (want ${TARGETS.join(', ')})`);
  }
  if (head === '' || /[\s=]/.test(head)) throw new UsageError(`--annotation ${JSON.stringify(s)}: empty or invalid key`);
  return { target, key: head, value, ...(platform !== undefined ? { platform } : {}) };
}

/** The annotations of one target (and platform, for per-image targets): later values win. */
export function annotationsFor(list: readonly Annotation[], target: AnnotationTarget, matches?: (p: Platform) => boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of list) {
    if (a.target !== target) continue;
    if (a.platform !== undefined && (matches === undefined || !matches(a.platform))) continue;
    out[a.key] = a.value;
  }
  return out;
}
