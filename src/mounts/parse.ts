// RUN --mount=... values → typed mount specifications, with BuildKit's option names and errors
// (frontend/dockerfile/instructions/commands_runmount.go). Pure: no filesystem, no process.

export type MountType = 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';

/** A parsed --mount value. Only tmpfs is executed today; the other types are recognized so they can be refused. */
export interface MountSpec {
  readonly type: MountType;
  /** Absolute, normalized path inside the build root ('' for secret/ssh without one). */
  readonly target: string;
  /** tmpfs size limit in bytes (0: the kernel's default, half of RAM). */
  readonly size: number;
  /** Every key=value as given (after key lowercasing), in order: the cache key and later mount types read these. */
  readonly options: readonly (readonly [string, string])[];
  /** type=secret: which secret, and how it is exposed (a file at target unless only env is given). */
  readonly secret?: SecretMount;
  /** type=cache: which cache and how it is shared. */
  readonly cache?: CacheMount;
  /** type=bind: what is bound. */
  readonly bind?: BindMount;
  /** type=ssh: which --ssh agent, and the socket's permissions (target '' = the caller's default socket path). */
  readonly ssh?: SshMount;
}

/** RUN --mount=type=cache (BuildKit's options; the contents persist between builds and never reach a layer). */
export interface CacheMount {
  /** Default: the target. */
  readonly id: string;
  readonly readonly: boolean;
  readonly sharing: 'shared' | 'private' | 'locked';
  /** Stage name/index or image whose `source` seeds a new cache (default: an empty directory). */
  readonly from?: string;
  readonly source: string;
  /** Of the cache directory when it is created (default 0755, 0:0). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

/** RUN --mount=type=bind: `source` of `from` (a stage, an image or a named context; default the build context). */
export interface BindMount {
  readonly from?: string;
  /** Path inside from (default its root). */
  readonly source: string;
  /** rw/readwrite: writes allowed, then discarded (default read-only). */
  readonly readwrite: boolean;
}

export interface SshMount {
  /** The --ssh id (default `default`). */
  readonly id: string;
  /** false (default): an agent the build was not given is skipped; true: the RUN fails naming the id. */
  readonly required: boolean;
  /** The socket's mode (default 0600), uid and gid (default 0). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

export interface SecretMount {
  readonly id: string;
  /** Expose the value as this environment variable of the command. */
  readonly env?: string;
  /** false (default): a secret the build was not given is skipped; true: the RUN fails naming the id. */
  readonly required: boolean;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

/** A bad --mount value; the caller adds the Dockerfile:line. */
export class MountSpecError extends Error {
  readonly notSupported: boolean;
  constructor(message: string, notSupported = false) {
    super(message);
    this.name = 'MountSpecError';
    this.notSupported = notSupported;
  }
}

const mountTypes: readonly MountType[] = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'];
/** Keys BuildKit's parser knows (any type); anything else is "unexpected key". */
const knownKeys = new Set(['type', 'from', 'source', 'src', 'target', 'dst', 'destination', 'readonly', 'ro', 'rw',
  'readwrite', 'bind-propagation', 'bind-nonrecursive', 'id', 'sharing', 'required', 'size', 'mode', 'uid', 'gid', 'env']);
/** Types this builder runs. */
const supported: ReadonlySet<MountType> = new Set(['tmpfs', 'secret', 'cache', 'bind', 'ssh']);

/** Splits a CSV field list as encoding/csv does (double quotes group, "" is a quote). */
function csvFields(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted) {
      if (c === '"' && value[i + 1] === '"') { cur += '"'; i++; } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"' && cur === '') quoted = true;
    else if (c === ',') { out.push(cur); cur = ''; } else cur += c;
  }
  if (quoted) throw new MountSpecError(`invalid mount value ${JSON.stringify(value)}: unterminated quote`);
  out.push(cur);
  return out;
}

/** go-units RAMInBytes: "64m", "1g", "1.5GiB", "1024" (binary multiples; case-insensitive). */
export function ramInBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)*) ?([kmgtp])?(?:i?b)?$/iu.exec(text);
  if (m === null) throw new MountSpecError(`invalid size: '${text}'`);
  const exp = m[2] === undefined ? 0 : 'kmgtp'.indexOf(m[2].toLowerCase()) + 1;
  const n = Number.parseFloat(m[1] ?? '');
  const bytes = Math.floor(n * 1024 ** exp);
  if (!Number.isSafeInteger(bytes)) throw new MountSpecError(`invalid size: '${text}'`);
  return bytes;
}

function normalizeTarget(target: string): string {
  const parts: string[] = [];
  for (const p of target.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') parts.pop(); else parts.push(p);
  }
  return `/${parts.join('/')}`;
}

/**
 * One --mount value. `workdir` makes a relative target absolute, as BuildKit does. Unknown keys, unknown types,
 * a missing target and a bad size fail with BuildKit's messages; known types this builder cannot run yet fail with
 * `notSupported` set. `expand` substitutes variables in each value (the step's ARG/ENV).
 */
export function parseMount(value: string, workdir = '/', expand: (value: string) => string = (v) => v): MountSpec {
  let type: MountType = 'bind';
  let target = '';
  let sizeText: string | undefined;
  let id = '';
  let env: string | undefined;
  let required = false;
  let mode = 0o400;
  let modeGiven = false;
  let uid = 0;
  let gid = 0;
  const int = (key: string, val: string, base: number): number => {
    const ok = base === 8 ? /^0?[0-7]+$/u.test(val) : /^\d+$/u.test(val);
    const n = Number.parseInt(val, base);
    if (!ok || !Number.isSafeInteger(n) || n > 0xfffffffe) throw new MountSpecError(`invalid value for ${key}: '${val}'`);
    return n;
  };
  const options: (readonly [string, string])[] = [];
  for (const field of csvFields(value)) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    // BuildKit (dockerfile 1.3+) expands ARG/ENV in each option's value.
    const val = eq < 0 ? '' : expand(field.slice(eq + 1));
    if (!knownKeys.has(key)) throw new MountSpecError(`unexpected key '${key}' in '${field}'`);
    options.push([key, val]);
    switch (key) {
      case 'type': {
        const t = val.toLowerCase();
        if (!(mountTypes as readonly string[]).includes(t)) throw new MountSpecError(`unsupported mount type "${val}"`);
        type = t as MountType;
        break;
      }
      case 'target': case 'dst': case 'destination': target = val; break;
      case 'size': sizeText = val; break;
      case 'id': id = val; break;
      case 'env': env = val; break;
      case 'required': {
        const b = val === '' ? 'true' : val.toLowerCase();
        if (b !== 'true' && b !== 'false') throw new MountSpecError(`invalid value for required: '${val}'`);
        required = b === 'true';
        break;
      }
      case 'mode': modeGiven = true; mode = int(key, val, 8); if (mode > 0o7777) throw new MountSpecError(`invalid value for mode: '${val}'`); break;
      case 'uid': uid = int(key, val, 10); break;
      case 'gid': gid = int(key, val, 10); break;
      default: break;
    }
  }
  if (!supported.has(type)) throw new MountSpecError(`RUN --mount=type=${type} is not supported yet`, true);
  if (type === 'secret') {
    // BuildKit: the id defaults to the target's base name, the target to /run/secrets/<id>; env alone mounts no file.
    if (id === '' && target !== '') id = normalizeTarget(target).split('/').pop() ?? '';
    if (id === '') throw new MountSpecError('secret ID missing from mount options');
    if (env !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/u.test(env)) throw new MountSpecError(`invalid env name '${env}'`);
    const fileTarget = target === '' && env === undefined ? `/run/secrets/${id}` : target;
    const abs = fileTarget === '' ? '' : normalizeTarget(fileTarget.startsWith('/') ? fileTarget : `${workdir}/${fileTarget}`);
    if (abs === '/') throw new MountSpecError(`invalid mount target "${target}": cannot mount over /`);
    const secret: SecretMount = { id, required, mode, uid, gid, ...(env === undefined ? {} : { env }) };
    return { type, target: abs, size: 0, options, secret };
  }
  if (type === 'ssh') {
    // BuildKit: id defaults to "default", the socket to /run/buildkit/ssh_agent.<n> (the caller numbers them), mode 0600.
    const abs = target === '' ? '' : normalizeTarget(target.startsWith('/') ? target : `${workdir}/${target}`);
    if (abs === '/') throw new MountSpecError(`invalid mount target "${target}": cannot mount over /`);
    const ssh: SshMount = { id: id === '' ? 'default' : id, required, mode: modeGiven ? mode : 0o600, uid, gid };
    return { type, target: abs, size: 0, options, ssh };
  }
  if (target === '') throw new MountSpecError('mount destination is required');
  const abs = normalizeTarget(target.startsWith('/') ? target : `${workdir}/${target}`);
  if (abs === '/') throw new MountSpecError(`invalid mount target "${target}": cannot mount over /`);
  const size = sizeText === undefined ? 0 : ramInBytes(sizeText);
  if (type === 'cache' || type === 'bind') return { type, target: abs, size, options, ...cacheOrBind(type, abs, options, uid, gid) };
  return { type, target: abs, size, options };
}

/** BuildKit's boolean option values: empty is true. */
function boolOption(key: string, val: string): boolean {
  const b = val === '' ? 'true' : val.toLowerCase();
  if (b !== 'true' && b !== 'false') throw new MountSpecError(`invalid value for ${key}: ${val}`);
  return b === 'true';
}

/** The cache/bind part of a spec: from, source, ro/rw, sharing, id and (cache) mode with its default 0755. */
function cacheOrBind(type: 'cache' | 'bind', target: string, options: readonly (readonly [string, string])[], uid: number, gid: number):
  { cache: CacheMount } | { bind: BindMount } {
  let from: string | undefined;
  let source = '';
  let readonly = type === 'bind';
  let sharing: CacheMount['sharing'] = 'shared';
  let id = '';
  let mode = 0o755;
  for (const [key, val] of options) {
    switch (key) {
      case 'from': from = val; break;
      case 'source': case 'src': source = val; break;
      case 'readonly': case 'ro': readonly = boolOption(key, val); break;
      case 'readwrite': case 'rw': readonly = !boolOption(key, val); break;
      case 'id': id = val; break;
      case 'mode': mode = Number.parseInt(val, 8); break;
      case 'sharing': {
        const v = val.toLowerCase();
        if (v !== 'shared' && v !== 'private' && v !== 'locked') throw new MountSpecError(`unsupported sharing value "${val}"`);
        if (type !== 'cache') throw new MountSpecError(`sharing is only for type=cache mounts`);
        sharing = v;
        break;
      }
      default: break;
    }
  }
  if (from === '') throw new MountSpecError('from= needs a stage, an image or a named context');
  if (type === 'bind') return { bind: { ...(from === undefined ? {} : { from }), source, readwrite: !readonly } };
  return { cache: { id: id === '' ? target : id, readonly, sharing, ...(from === undefined ? {} : { from }), source, mode, uid, gid } };
}

/** What a RUN's cache key records of its mounts: type, target and the options as given. */
export function mountKey(spec: MountSpec): string {
  return JSON.stringify(['mount', spec.type, spec.target, spec.size, ...spec.options.map(([k, v]) => `${k}=${v}`)]);
}
