// Platform strings ('linux/arm64/v8') and matching index entries against a wanted platform.
import { UsageError } from '../errors.ts';
import type { Platform } from './types.ts';

const PART_RE = /^[A-Za-z0-9_.-]+$/;

/** Parses the --custom-platform value: os/arch[/variant]. */
export function parsePlatformSpec(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || !parts.every((p) => PART_RE.test(p))) {
    throw new UsageError(`--custom-platform: invalid platform ${JSON.stringify(s)}: want os/arch[/variant], e.g. linux/arm64/v8`);
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return { os, architecture, ...(variant !== undefined ? { variant } : {}) };
}

const ARCH_BY_NODE: Readonly<Record<string, string>> = {
  x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64',
  loong64: 'loong64', mips: 'mips', mipsel: 'mipsle',
};

/** The platform kaniko builds for by default: linux on this machine's architecture. */
export function hostPlatform(arch: string = process.arch): Platform {
  const architecture = ARCH_BY_NODE[arch] ?? arch;
  return architecture === 'arm64' ? { os: 'linux', architecture, variant: 'v8' } : { os: 'linux', architecture };
}

function normaliseVariant(p: Platform): string | undefined {
  // arm64 images usually omit the variant; v8 is the only one in use.
  if (p.architecture === 'arm64' && (p.variant === undefined || p.variant === '')) return 'v8';
  return p.variant === '' ? undefined : p.variant;
}

export function platformMatches(candidate: Platform | undefined, want: Platform): boolean {
  if (candidate === undefined) return false;
  if (candidate.os !== want.os || candidate.architecture !== want.architecture) return false;
  const wantVariant = normaliseVariant(want);
  if (wantVariant === undefined) return true;
  return normaliseVariant(candidate) === wantVariant;
}

export function formatPlatform(p: Platform): string {
  return p.variant !== undefined && p.variant !== '' ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/** A comma-separated platform list (--custom-platform, --platform): each os/arch[/variant], no duplicates. */
export function parsePlatformList(s: string): Platform[] {
  const out: Platform[] = [];
  const seen = new Set<string>();
  for (const part of s.split(',').map((p) => p.trim())) {
    const p = parsePlatformSpec(part);
    const key = formatPlatform(p);
    if (seen.has(key)) throw new UsageError(`--custom-platform: platform ${key} is listed twice`);
    seen.add(key);
    out.push(p);
  }
  return out;
}
