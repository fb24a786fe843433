import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatExcerpt } from './excerpt.ts';

describe('formatExcerpt (BuildKit error excerpt)', () => {
  const rule = '--------------------';
  it('the first line: no lines before it', () => {
    assert.equal(formatExcerpt('FROM x\nRUN a\nRUN b\nRUN c\n', 1),
      [rule, '   1 | >>> FROM x', '   2 | RUN a', '   3 | RUN b', rule, ''].join('\n'));
  });
  it('the last line: no lines after it', () => {
    assert.equal(formatExcerpt('FROM x\nRUN a\nRUN b\nRUN false\n', 4),
      [rule, '   2 | RUN a', '   3 | RUN b', '   4 | >>> RUN false', rule, ''].join('\n'));
  });
  it('a multi-line instruction marks every continuation line', () => {
    assert.equal(formatExcerpt('FROM x\nRUN a \\\n  && b \\\n  && c\nCMD d\n', 2),
      [rule, '   1 | FROM x', '   2 | >>> RUN a \\', '   3 | >>>   && b \\', '   4 | >>>   && c', '   5 | CMD d', rule, ''].join('\n'));
  });
  it('control characters are escaped', () => {
    const out = formatExcerpt('FROM x\nRUN echo \u001b[31m\u0000\tz\n', 2) ?? '';
    assert.match(out, /   2 \| >>> RUN echo \\x1b\[31m\\x00\\x09z/);
    assert.ok(!/[\u0000-\u0008\u000b-\u001f]/u.test(out));
  });
  it('a line outside the file gives no excerpt', () => {
    assert.equal(formatExcerpt('FROM x\n', 5), undefined);
  });
  it('long lines are cut and a long instruction is summarised (a huge word would outlast the exit)', () => {
    const long = formatExcerpt(`FROM x\nARG A=${'y'.repeat(5000)}\n`, 2) ?? '';
    assert.match(long, /^ {3}2 \| >>> ARG A=y{234}… \(5006 characters\)$/m);
    const many = formatExcerpt(`FROM x\nRUN a \\\n${'b \\\n'.repeat(100)}c\n`, 2) ?? '';
    assert.match(many, /\| >>> … \(\d+ more lines\)/);
    assert.ok(many.split('\n').length < 30);
  });
});
