// A bounded, seeded corpus of broken Dockerfiles: valid ones mutated in the ways hostile or careless input breaks
// them. The same seed gives the same cases, byte for byte, so a failing case can be rerun alone.

import { mulberry32 } from './fault-proxy.ts';

export interface FuzzCase {
  readonly index: number;
  /** The mutations applied, in order (for the report and to reproduce by hand). */
  readonly mutations: readonly string[];
  readonly dockerfile: Buffer;
}

/** Files every case's context holds, so COPY/ADD of them can succeed. */
export const contextFiles: Readonly<Record<string, string>> = {
  'a.txt': 'a\n',
  'dir/b.txt': 'b\n',
  'dir/sub/c.txt': 'c\n',
};

/** Valid Dockerfiles that build FROM scratch with no network (each builds with exit 0 unmutated). */
export const validDockerfiles: readonly string[] = [
  'FROM scratch\nCOPY a.txt /a.txt\nENV A=1 B="two words"\nLABEL x=y\nCMD ["/a"]\n',
  'ARG BASE=scratch\nFROM ${BASE} AS one\nARG V=1\nENV P=/opt/${V}\nWORKDIR $P\nCOPY dir/ ./dir/\n\nFROM scratch\nCOPY --from=one /opt /opt\nUSER 1000:1000\nEXPOSE 80/tcp 443\n',
  '# syntax=docker/dockerfile:1\nFROM scratch\nCOPY <<EOF /hello\nhello ${HOME:-world}\nEOF\nENTRYPOINT ["/hello"]\nSTOPSIGNAL SIGTERM\n',
  '# escape=`\nFROM scratch\nLABEL a="1" `\n      b="2"\nCOPY --chown=1:1 --chmod=644 a.txt dir/b.txt /files/\nVOLUME ["/data"]\n',
  'FROM scratch\nSHELL ["/bin/sh", "-c"]\nHEALTHCHECK --interval=30s --timeout=3s CMD ["/check"]\nONBUILD COPY a.txt /onbuild\nMAINTAINER someone\nARG X\nENV Y=${X:-default} Z=${X:+set}\n',
  'FROM scratch AS base\nENV \\\n  A=1 \\\n  B=2\nCOPY dir/sub/*.txt /c/\nFROM base\nWORKDIR /w\nCOPY ["a.txt", "/w/a"]\nLABEL "k k"="v v"\n',
];

const instructions = ['FROM', 'RUN', 'CMD', 'LABEL', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR',
  'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL', 'MAINTAINER'];
const badFromRefs = ['', ':', '@', 'UPPER/Case', 'a b c', 'x@sha256:1234', 'scratch:', '127.0.0.1:1/none:tag', 'localhost:99999/x',
  '-flag', '${UNSET}', '${X:?must be set}', 'a'.repeat(300), '[::1]:1/x', 'x:-tag', '../x', 'x@sha256:' + 'g'.repeat(64), 'stage-that-does-not-exist AS x AS y'];
const oddUnicode = ['\u202e', '\ufeff', '\u200b', '\u0301', '\ud83d\ude00', '\u2028', '\u0085', '\uffff', '\ud800', 'ß', 'İ', '\u00a0', '\u3000', '\u0000'];

type Mutation = (text: string, rng: () => number) => string | Buffer;

const pick = <T>(xs: readonly T[], rng: () => number): T => xs[Math.floor(rng() * xs.length)]!;
const int = (n: number, rng: () => number): number => Math.floor(rng() * n);
const lines = (t: string): string[] => t.split('\n');
/** Inserts `what` at a random offset of `text`. */
const insert = (text: string, what: string, rng: () => number): string => { const at = int(text.length + 1, rng); return text.slice(0, at) + what + text.slice(at); };
/** Replaces one random non-empty line with `f(line)`. */
const onLine = (text: string, rng: () => number, f: (line: string) => string): string => {
  const ls = lines(text);
  const idx = ls.map((l, i) => [l, i] as const).filter(([l]) => l.trim() !== '').map(([, i]) => i);
  const i = idx.length === 0 ? 0 : pick(idx, rng);
  ls[i] = f(ls[i] ?? '');
  return ls.join('\n');
};

export const mutations: Readonly<Record<string, Mutation>> = {
  truncate: (t, rng) => t.slice(0, int(t.length, rng)),
  'random-bytes': (t, rng) => {
    const b = Buffer.from(t);
    for (let k = 1 + int(8, rng); k > 0; k--) b[int(b.length, rng)] = int(256, rng);
    return b;
  },
  nul: (t, rng) => insert(t, '\u0000'.repeat(1 + int(3, rng)), rng),
  'unterminated-quote': (t, rng) => onLine(t, rng, (l) => `${l} ${pick(['"', "'", '["a", "b', '"\\', 'x="y'], rng)}`),
  'unterminated-heredoc': (t, rng) => `${t.replace(/\nEOF\n/g, '\n')}COPY <<${pick(['EOF', '"EOF"', "'E'", 'EOF1 <<EOF2', '-EOF'], rng)} /h\nbody\n`,
  'trailing-continuation': (t, rng) => `${t.trimEnd()}${pick([' \\', ' \\\n', ' \\\n\\\n', ' `', '\\\n# comment\n'], rng)}`,
  'huge-word': (t, rng) => onLine(t, rng, (l) => `${l} ${'w'.repeat(pick([70_000, 300_000, 1_100_000], rng))}`),
  'bad-instruction-flag': (t, rng) => onLine(t, rng, (l) => {
    const [kw = 'COPY', ...rest] = l.split(' ');
    return `${kw} ${pick(['--bogus', '--from', '--chown=', '--chmod=99999', '--platform=bad/os/arch/x', '--mount=type=nope', '--interval=forever', '--=', '--link=maybe', '-x', '--network=none --network=host'], rng)} ${rest.join(' ')}`;
  }),
  'bad-from-ref': (t, rng) => t.replace(/^FROM \S+/m, `FROM ${pick(badFromRefs, rng)}`),
  'unknown-instruction': (t, rng) => onLine(t, rng, (l) => `${pick(['FORM', 'COPPY', 'RUNN', 'LABLE', 'ÉNV', 'from:', '#!', '---', 'FROM\tscratch\u000b', 'ADD\u0085'], rng)} ${l}`),
  'deep-arg-nesting': (t, rng) => {
    const depth = pick([50, 500, 5_000, 50_000], rng);
    const word = '${A:-'.repeat(depth) + 'x' + '}'.repeat(pick([depth, depth - 1, 0], rng));
    return `${t.trimEnd()}\nARG A\nENV D=${word}\n`;
  },
  'odd-unicode': (t, rng) => {
    let out = t;
    for (let k = 1 + int(4, rng); k > 0; k--) out = insert(out, pick(oddUnicode, rng), rng);
    return out;
  },
  'swap-lines': (t, rng) => {
    const ls = lines(t);
    const i = int(ls.length, rng);
    const j = int(ls.length, rng);
    [ls[i], ls[j]] = [ls[j] ?? '', ls[i] ?? ''];
    return ls.join('\n');
  },
  'empty-args': (t, rng) => onLine(t, rng, () => pick(instructions, rng) + pick(['', ' ', ' \\', ' []', ' [""]', ' ["', ' =', ' A=', ' =B', ' -'], rng)),
  'many-instructions': (t, rng) => `${t.trimEnd()}\n${Array.from({ length: pick([1_000, 20_000], rng) }, (_, i) => `${pick(['ENV', 'LABEL', 'ARG'], rng)} K${i % 7}=${i}`).join('\n')}\n`,
  'crlf-and-cr': (t, rng) => (rng() < 0.5 ? t.replace(/\n/g, '\r\n') : t.replace(/\n/g, '\r')),
};

/** `count` cases from `seed`: each a valid Dockerfile with one to three mutations, every kind used in turn first. */
export function fuzzCorpus(seed: number, count: number): FuzzCase[] {
  const rng = mulberry32(seed);
  const kinds = Object.keys(mutations);
  const cases: FuzzCase[] = [];
  for (let index = 0; index < count; index++) {
    let text: string | Buffer = pick(validDockerfiles, rng);
    const applied: string[] = [];
    const n = index < kinds.length * 4 ? 1 : 1 + int(3, rng);
    for (let m = 0; m < n; m++) {
      const kind = m === 0 ? kinds[index % kinds.length]! : pick(kinds, rng);
      // Byte-level mutations may leave invalid UTF-8: later ones see it as the executor does (U+FFFD).
      text = mutations[kind]!(typeof text === 'string' ? text : text.toString('utf8'), rng);
      applied.push(kind);
    }
    cases.push({ index, mutations: applied, dockerfile: typeof text === 'string' ? Buffer.from(text) : text });
  }
  return cases;
}
