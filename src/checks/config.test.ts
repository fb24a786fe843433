// The `# check=` directive and BUILDKIT_DOCKERFILE_CHECK syntax (BuildKit's linter.ParseLintOptions).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { directiveLineCount, findDirective, parseCheckOptions, ruleEnabled, violationMessage, withSkipped } from './config.ts';

test('the check directive is read only among the parser directives at the top', () => {
  const table: readonly (readonly [string, { value: string; line: number } | undefined])[] = [
    ['# check=skip=all\nFROM a\n', { value: 'skip=all', line: 1 }],
    ['# syntax=docker/dockerfile:1\n#check = error=true \nFROM a\n', { value: 'error=true', line: 2 }],
    ['\uFEFF# check=skip=A\nFROM a\n', { value: 'skip=A', line: 1 }],
    ['\n# check=skip=all\nFROM a\n', undefined],
    ['# a comment\n# check=skip=all\nFROM a\n', undefined],
    ['FROM a\n# check=skip=all\n', undefined],
  ];
  for (const [text, want] of table) assert.deepEqual(findDirective(text, 'check'), want, JSON.stringify(text));
  assert.equal(directiveLineCount('# syntax=x\n# check=skip=all\n# a comment\nFROM a\n'), 2);
});

test('options: skip, experimental, error; --check-skip adds to them', () => {
  const c = parseCheckOptions('skip=StageNameCasing;experimental=CopyIgnoredFile;error=1');
  assert.equal(c.error, true);
  assert.ok(!ruleEnabled(c, 'StageNameCasing'));
  assert.ok(ruleEnabled(c, 'FromAsCasing'));
  assert.ok(ruleEnabled(c, 'CopyIgnoredFile'));
  assert.ok(!ruleEnabled(c, 'InvalidDefinitionDescription'));
  assert.ok(ruleEnabled(parseCheckOptions('skip=all;experimental=all'), 'InvalidDefinitionDescription'), 'enabled experimental rules are not skipped');
  const more = withSkipped(c, 'FromAsCasing, JSONArgsRecommended');
  assert.ok(!ruleEnabled(more, 'FromAsCasing') && !ruleEnabled(more, 'JSONArgsRecommended') && !ruleEnabled(more, 'StageNameCasing'));
  assert.ok(withSkipped(c, 'all').skipAll);
  assert.equal(violationMessage(['B', 'A', 'B']), 'lint violation found for rules: A, B');
});
