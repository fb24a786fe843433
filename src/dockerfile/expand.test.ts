import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expandWord, expandWords, expandsVariables } from './expand.ts';
import { BuildError } from '../errors.ts';

const bs = { escape: '\\' };

// A sample of BuildKit's frontend/dockerfile/shell/envVarTest table: [input, expected | null for error].
const envVarTable: readonly (readonly [string, string | null])[] = [
  ['hello', 'hello'],
  ["he'll'o", 'hello'],
  ["he'llo", null],
  ["he\\'llo", "he'llo"],
  ["he\\\\'llo", null],
  ['abc\\tdef', 'abctdef'],
  ['"abc\\tdef"', 'abc\\tdef'],
  ['"abc\\\\tdef"', 'abc\\tdef'],
  ["'abc\\tdef'", 'abc\\tdef'],
  ['hello\\', 'hello'],
  ['hello\\\\', 'hello\\'],
  ['"hello', null],
  ['"hello\\"', null],
  ['"hel\'lo"', "hel'lo"],
  ["'hello", null],
  ["'hello\\'", 'hello\\'],
  ["'hello\\there'", 'hello\\there'],
  ["'hello\\\\there'", 'hello\\\\there'],
  ['"\'\'"', "''"],
  ['$.', '$.'],
  ['he$1x', 'hex'],
  ['he$.x', 'he$.x'],
  ['he$pwd.', 'he.'],
  ['he$PWD', 'he/home'],
  ['he\\$PWD', 'he$PWD'],
  ['he\\\\$PWD', 'he\\/home'],
  ['"he\\$PWD"', 'he$PWD'],
  ['"he\\\\$PWD"', 'he\\/home'],
  ['\\${}', '${}'],
  ['\\${}aaa', '${}aaa'],
  ['he\\${}', 'he${}'],
  ['he\\${}xx', 'he${}xx'],
  ['${}', null],
  ['${}aaa', null],
  ['he${}', null],
  ['he${}xx', null],
  ['he${hi}', 'he'],
  ['he${hi}xx', 'hexx'],
  ['he${PWD}', 'he/home'],
  ['he${.}', null],
  ['he${XXX:-000}xx', 'he000xx'],
  ['he${PWD:-000}xx', 'he/homexx'],
  ['he${XXX:-$PWD}xx', 'he/homexx'],
  ['he${XXX:-${PWD:-yyy}}xx', 'he/homexx'],
  ['he${XXX:-${YYY:-yyy}}xx', 'heyyyxx'],
  ['he${XXX:YYY}', null],
  ['he${XXX?}', null],
  ['he${XXX:?}', null],
  ['he${PWD?}', 'he/home'],
  ['he${PWD:?}', 'he/home'],
  ['he${NULL?}', 'he'],
  ['he${NULL:?}', null],
  ['he${XXX:+${PWD}}xx', 'hexx'],
  ['he${PWD:+${XXX}}xx', 'hexx'],
  ['he${PWD:+${SHELL}}xx', 'hebashxx'],
  ['he${XXX:+000}xx', 'hexx'],
  ['he${PWD:+000}xx', 'he000xx'],
  ["'he${XX}'", 'he${XX}'],
  ['"he${PWD}"', 'he/home'],
  ['"he\'$PWD\'"', "he'/home'"],
  ['"$PWD"', '/home'],
  ["'$PWD'", '$PWD'],
  ["'\\$PWD'", '\\$PWD'],
  ['\'"hello"\'', '"hello"'],
  ["'he\\$PWD'", 'he\\$PWD'],
  ['he${PWD', null],
  ['he${PWD:=000}xx', null],
  ['he${PWD:+${PWD}:}xx', 'he/home:xx'],
  ['he${XXX:-\\$PWD:}xx', 'he$PWD:xx'],
  ['he${XXX:-\\${PWD}z}xx', 'he${PWDz}xx'],
  ['안녕하세요', '안녕하세요'],
  ["안'녕'하세요", '안녕하세요'],
  ["안'녕하세요", null],
  ["안녕\\'하세요", "안녕'하세요"],
  ['$KOREAN', '한국어'],
  ['안녕$KOREAN', '안녕한국어'],
  ['${KOREAN:-x}${KOREAN}', '한국어한국어'],
  ['$#', ''],
  ['$$', ''],
  ['${FOO=aaa}', null],
  ['${FOO=}', null],
];

const env = new Map([['PWD', '/home'], ['SHELL', 'bash'], ['KOREAN', '한국어'], ['NULL', '']]);

test('expandWord: BuildKit envVarTest sample', () => {
  for (const [input, expected] of envVarTable) {
    if (expected === null) {
      assert.throws(() => expandWord(input, env, bs), BuildError, `input ${JSON.stringify(input)} should fail`);
    } else {
      assert.equal(expandWord(input, env, bs), expected, `input ${JSON.stringify(input)}`);
    }
  }
});

test('expandWord: pattern modifiers (BuildKit TestProcessWithMatches)', () => {
  const cases: readonly (readonly [string, Record<string, string>, string | null])[] = [
    ['${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}', { FOO: 'xxx', BAR: '' }, 'xxx  ccc'],
    ['${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}', { FOO: 'xxx', BAR: '' }, 'xxx bbb ccc'],
    ['${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}', { FOO: 'xxx', BAR: '' }, 'aaa bbb '],
    ['${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}', { FOO: 'xxx', BAR: '' }, 'aaa  '],
    ['${FOO?aaa}', { FOO: 'xxx' }, 'xxx'],
    ['${BAR?bbb}', { BAR: '' }, ''],
    ['${BAZ?ccc}', {}, null],
    ['${BAR:?bbb}', { BAR: '' }, null],
    ['${FOO#()[]{\\}^$.\\*\\?|\\\\}', { FOO: '()[]{}^$.*?|\\x' }, 'x'],
    ['${FOO%%\\**}', { FOO: 'xx**' }, 'xx'],
    ['${FOO#*x*y}', { FOO: 'xxyy' }, 'y'],
    ['${FOO#*}', { FOO: 'xxyy' }, 'xxyy'],
    ['${FOO#$BAR}', { FOO: 'xxyy', BAR: 'x' }, 'xyy'],
    ['${FOO#$BAR}', { FOO: 'xxyy', BAR: '' }, 'xxyy'],
    ['${FOO#}', { FOO: 'xxyy' }, 'xxyy'],
    ['${FOO##*x}', { FOO: 'xxyy' }, 'yy'],
    ['${FOO##}', { FOO: 'xxyy' }, 'xxyy'],
    ['${FOO#?\\?}', { FOO: '???y' }, '?y'],
    ['${ABC:-.}${FOO%x}${ABC:-.}', { FOO: 'xxyy' }, '.xxyy.'],
    ['${FOO%%\\**\\*}', { FOO: 'a***yy*' }, 'a'],
    ['${FOO%}', { FOO: 'xxyy' }, 'xxyy'],
    ['${FOO%y}', { FOO: 'xxyy' }, 'xxy'],
    ['${FOO%%y*}', { FOO: 'xxyy' }, 'xx'],
    ['${FOO%y*}', { FOO: 'xxyy' }, 'xxy'],
    ['${FOO%%$BAR}', { FOO: 'xxyy', BAR: '' }, 'xxyy'],
    ['${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}', { FOO: '/foo*/*/*.txt', NEEDLE: '\\*/' }, '/foo.*/*.txt - /foo..*.txt'],
    ['${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}', { FOO: '/tmp/tmp/bar.txt', NEEDLE: '/tmp' }, '/tmp/bar.txt - /bar.txt'],
    ['${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}', { FOO: '/a/foo/b/c.txt', NEEDLE: '/?/', REPLACEMENT: '/' },
      '/foo/b/c.txt - /foo/c.txt'],
    ['${FOO/$NEEDLE/$REPLACEMENT}', { FOO: 'http://google.de', NEEDLE: 'http://', REPLACEMENT: 'https://' }, 'https://google.de'],
    ['${FOO//\\//\\/}', { FOO: '/tmp/foo.txt' }, '\\/tmp\\/foo.txt'],
    ['${FOO/$BAR/ww}', { FOO: 'xxyy', BAR: '' }, 'wwxxyy'],
    ['${FOO//ww}', { FOO: 'xxyy' }, null],
    ['${FOO//}', { FOO: 'xxyy' }, null],
    ['${FOO///}', { FOO: 'xxyy' }, 'xxyy'],
    ['${FOO///}', {}, ''],
    ['${FOO/$&/x}', { FOO: 'a$&b' }, 'axb'],
    ['something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz',
      { VERSION: 'v1.2.3', TARGETOS: 'linux', TARGETARCH: 'arm', TARGETVARIANT: 'v7' }, 'something-v1.2.3.linux-arm-v7.tar.gz'],
    ['something-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}', { TARGETARCH: 'amd64', TARGETVARIANT: '' }, 'something-amd64'],
  ];
  for (const [input, vars, expected] of cases) {
    const m = new Map(Object.entries(vars));
    if (expected === null) assert.throws(() => expandWord(input, m, bs), BuildError, input);
    else assert.equal(expandWord(input, m, bs), expected, input);
  }
});

test('expandWord: mandatory variable messages', () => {
  const unset = new Map([['ARG', 'x']]);
  assert.throws(() => expandWord('${VAR:?message here$ARG}', unset, bs), /VAR: message herex/);
  assert.throws(() => expandWord('${VAR?}', unset, bs), /VAR: is not allowed to be unset/);
  assert.throws(() => expandWord('${VAR:?}', new Map([['VAR', '']]), bs), /VAR: is not allowed to be empty/);
  assert.throws(() => expandWord('${VAR', unset, bs), /failed to process "\$\{VAR": syntax error: missing '\}'/);
  assert.equal(expandWord('${VAR?x}', new Map([['VAR', '']]), bs), '');
});

test('expandWord: backtick escape', () => {
  const bt = { escape: '`' };
  assert.equal(expandWord('C:\\foo\\$PWD', env, bt), 'C:\\foo\\/home');
  assert.equal(expandWord('`$PWD', env, bt), '$PWD');
  assert.equal(expandWord('"a`"b"', env, bt), 'a"b');
  assert.equal(expandWord('a` b', env, bt), 'a b');
});

// A sample of BuildKit's wordsTest table. ENV lines accumulate.
const wordsScript = `hello | hello
hello\${hi}bye | hellobye
ENV hi=hi
hello\${hi}bye | hellohibye
ENV space=abc  def
hello\${space}bye | helloabc,defbye
hello"\${space}"bye | helloabc  defbye
hello "\${space}"bye | hello,abc  defbye
ENV leading=  ab c
hello\${leading}def | hello,ab,cdef
hello"\${leading}" def | hello  ab c,def
hello"\${leading}" | hello  ab c
hello\${leading} | hello,ab,c
ENV trailing=ab c   
hello\${trailing} | helloab,c
hello\${trailing}d | helloab,c,d
hello"\${trailing}"d | helloab c   d
hel"lo\${trailing}" | helloab c   
hello" there  " | hello there  
hello there     | hello,there
hello\\ there | hello there
hello" there | error
hello\\" there | hello",there
hello"\\\\there" | hello\\there
hello"\\there" | hello\\there
hello'\\\\there' | hello\\\\there
hello'\\there' | hello\\there
hello'$there' | hello$there`;

test('expandWords: BuildKit wordsTest sample', () => {
  const vars = new Map<string, string>();
  for (const line of wordsScript.split('\n')) {
    if (line.startsWith('ENV ')) {
      const kv = line.slice(4);
      const eq = kv.indexOf('=');
      vars.set(kv.slice(0, eq), kv.slice(eq + 1));
      continue;
    }
    const bar = line.indexOf('|');
    const input = line.slice(0, bar).trim();
    const expected = line.slice(bar + 1).trimStart().split(',');
    let result: string[];
    try {
      result = expandWords(input, vars, bs);
    } catch {
      result = ['error'];
    }
    assert.deepEqual(result, expected, `line ${JSON.stringify(line)}`);
  }
});

test('expandsVariables', () => {
  for (const k of ['ADD', 'COPY', 'ENV', 'EXPOSE', 'FROM', 'LABEL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR'] as const) {
    assert.equal(expandsVariables(k), true, k);
  }
  for (const k of ['RUN', 'CMD', 'ENTRYPOINT', 'SHELL', 'HEALTHCHECK', 'ONBUILD', 'MAINTAINER'] as const) {
    assert.equal(expandsVariables(k), false, k);
  }
});

test('raw: quotes and escapes kept, variables substituted (BuildKit RawQuotes/RawEscapes, for COPY/ADD heredocs)', () => {
  const env = new Map([['A', 'x y'], ['B', '1']]);
  const raw = (w: string) => expandWord(w, env, { escape: '\\', raw: true });
  assert.equal(raw('$A "$B" \'$B\' \\$B\nnext ${B}\n'), 'x y "1" \'$B\' \\$B\nnext 1\n');
  assert.equal(raw('a\\\\b "c\\"d"'), 'a\\\\b "c\\"d"');
});

test('nesting of ${…} is bounded: 500 levels expand, deeper is an error, not a stack overflow', () => {
  const nested = (depth: number): string => '${A:-'.repeat(depth) + 'x' + '}'.repeat(depth);
  assert.equal(expandWord(nested(500), new Map(), bs), 'x');
  for (const depth of [501, 100_000]) {
    assert.throws(() => expandWord(nested(depth), new Map(), bs), (err: unknown) => err instanceof BuildError && /nested deeper than 500 levels/.test(err.message));
  }
});
