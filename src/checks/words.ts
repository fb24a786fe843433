// The small grammars BuildKit's checks test words against: "did you mean" suggestions, image references
// (docker/distribution's grammar; `checks` may not import `registry`), Go's path.Clean and containerd's platform syntax. Pure.

/** Levenshtein distance (for "did you mean"). */
function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] as number;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] as number;
      prev[j] = Math.min(up + 1, (prev[j - 1] as number) + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length] as number;
}

/** BuildKit's suggest.Search: the closest option within distance 2, '' when none (or an exact match). */
export function suggest(value: string, options: Iterable<string>): string {
  let best = '';
  let min = 3;
  for (const o of options) {
    if (o === value) return '';
    const d = distance(value, o);
    if (d < min) { min = d; best = o; }
  }
  return best;
}

// docker/distribution's reference grammar (ParseNormalizedNamed: lower-case repository, optional tag and digest).
const pathComponent = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domain = `(?:${domainComponent}(?:\\.${domainComponent})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const referencePattern = new RegExp(`^(?:${domain}/)?${pathComponent}(?:/${pathComponent})*(?::[\\w][\\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$`, 'u');

/** Whether `ref` parses as a normalized image reference. */
export function isValidReference(ref: string): boolean {
  if (ref === '' || /^[a-f0-9]{64}$/u.test(ref)) return false;
  const name = ref.split('@')[0]?.replace(/:[\w][\w.-]{0,127}$/u, '') ?? '';
  if (name.length > 255) return false;
  return referencePattern.test(ref);
}

/** Go's path.Clean: `.` and empty parts dropped, `..` folded (kept at the front of a relative path). */
export function cleanPath(p: string): string {
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') { if (out.length > 0 && out[out.length - 1] !== '..') out.pop(); else if (!rooted) out.push('..'); continue; }
    out.push(part);
  }
  const joined = out.join('/');
  return rooted ? `/${joined}` : joined === '' ? '.' : joined;
}

/** containerd's platforms.Parse, enough to know os and architecture; undefined when it would not parse. */
export function parsePlatform(s: string): { os: string; arch: string } | undefined {
  const parts = s.toLowerCase().split('/');
  if (parts.some((p) => p === '') || parts.length > 3) return undefined;
  const knownOs = new Set(['linux', 'windows', 'darwin', 'freebsd', 'netbsd', 'openbsd', 'solaris', 'illumos', 'aix', 'android', 'ios', 'plan9', 'js', 'wasip1']);
  if (parts.length === 1) {
    const only = parts[0] as string;
    return knownOs.has(only) ? { os: only, arch: 'amd64' } : { os: 'linux', arch: only };
  }
  return { os: parts[0] as string, arch: parts[1] as string };
}
