// Which checks run and whether a warning fails the build: BuildKit's `# check=` directive syntax
// (linter.ParseLintOptions: `skip=Rule1,Rule2|all;error=true;experimental=Rule|all`), also what
// BUILDKIT_DOCKERFILE_CHECK holds.
import { BuildError } from '../errors.ts';
import { rules, type RuleName } from './rules.ts';

export interface CheckConfig {
  readonly skip: ReadonlySet<string>;
  readonly skipAll: boolean;
  readonly experimental: ReadonlySet<string>;
  readonly experimentalAll: boolean;
  /** check=error=true: a build fails when any check fires. */
  readonly error: boolean;
}

export const defaultCheckConfig: CheckConfig = { skip: new Set(), skipAll: false, experimental: new Set(), experimentalAll: false, error: false };

function ruleList(v: string): string[] {
  return v.split(',').map((r) => r.trim()).filter((r) => r !== '');
}

/** Parses `skip=A,B;error=true;experimental=all`. Errors are BuildError('DOCKERFILE') naming the option. */
export function parseCheckOptions(text: string): CheckConfig {
  const trimmed = text.trim();
  if (trimmed === '') return defaultCheckConfig;
  let skip: string[] = [];
  let experimental: string[] = [];
  let skipAll = false;
  let experimentalAll = false;
  let error = false;
  for (const part of trimmed.split(';')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) throw new BuildError('DOCKERFILE', `failed to parse check options: invalid check option "${part.trim()}"`);
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    switch (key) {
      case 'skip':
        if (value === 'all') skipAll = true;
        else skip = ruleList(value);
        break;
      case 'experimental':
        if (value === 'all') experimentalAll = true;
        else experimental = ruleList(value);
        break;
      case 'error': {
        const b = parseGoBool(value);
        if (b === undefined) throw new BuildError('DOCKERFILE', `failed to parse check options: failed to parse check option "${part.trim()}": invalid syntax`);
        error = b;
        break;
      }
      default:
        throw new BuildError('DOCKERFILE', `failed to parse check options: invalid check option "${key}"`);
    }
  }
  return { skip: new Set(skip), skipAll, experimental: new Set(experimental), experimentalAll, error };
}

/** Go's strconv.ParseBool. */
function parseGoBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
  return undefined;
}

/** Adds --check-skip's rules (a list, or `all`) to a configuration. */
export function withSkipped(config: CheckConfig, list: string): CheckConfig {
  const names = ruleList(list);
  if (names.includes('all')) return { ...config, skipAll: true };
  return { ...config, skip: new Set([...config.skip, ...names]) };
}

/** Whether a rule runs under `config` (BuildKit: an enabled experimental rule is not subject to skip). */
export function ruleEnabled(config: CheckConfig, name: RuleName): boolean {
  if (rules[name].experimental) return config.experimentalAll || config.experimental.has(name);
  return !(config.skipAll || config.skip.has(name));
}

/**
 * The value of a parser directive (`# key=value` lines at the very top, before any other comment, blank line
 * or instruction), with the line it is on; undefined when absent.
 */
export function findDirective(text: string, key: string): { value: string; line: number } | undefined {
  const lines = (text.startsWith('\uFEFF') ? text.slice(1) : text).split('\n');
  for (const [i, raw] of lines.entries()) {
    const m = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/u.exec(raw.replace(/\r$/u, ''));
    if (m === null) return undefined;
    if ((m[1] ?? '').toLowerCase() === key) return { value: m[2] ?? '', line: i + 1 };
  }
  return undefined;
}

/** Number of leading lines that are parser directives (they are not description comments). */
export function directiveLineCount(text: string): number {
  const lines = (text.startsWith('\uFEFF') ? text.slice(1) : text).split('\n');
  let n = 0;
  for (const raw of lines) {
    if (!/^#\s*[a-zA-Z][a-zA-Z0-9]*\s*=\s*.+$/u.test(raw.replace(/\r$/u, ''))) break;
    n++;
  }
  return n;
}

/** BuildKit's "lint violation found for rules: A, B" error, for check=error=true. */
export function violationMessage(ruleNames: Iterable<string>): string {
  return `lint violation found for rules: ${[...new Set(ruleNames)].sort().join(', ')}`;
}
