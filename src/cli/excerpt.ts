// BuildKit's error excerpt: the Dockerfile lines around a failing instruction, numbered, the instruction's
// own lines (with its continuations) marked `>>>`, between two rules of dashes.
import { printable } from './run-cli.ts';

const rule = '--------------------';

/** Lines of context shown before and after the instruction (BuildKit shows a few). */
export const contextLines = 2;
/** Longer lines are cut (a 1 MiB ARG would flood the terminal and outlast the exit). */
export const maxLineChars = 240;
/** Lines of one instruction shown at most; the rest are summarised. */
export const maxMarkedLines = 20;

function clip(text: string): string {
  return text.length > maxLineChars ? `${text.slice(0, maxLineChars)}… (${text.length} characters)` : text;
}

/** The excerpt for the instruction starting at 1-based `line` of `text`, or undefined when the line is not in it. */
export function formatExcerpt(text: string, line: number, escape = '\\'): string | undefined {
  const lines = text.replace(/\r\n/gu, '\n').split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '' && text.endsWith('\n')) lines.pop();
  if (!Number.isInteger(line) || line < 1 || line > lines.length) return undefined;
  let last = line;
  while (last < lines.length && (lines[last - 1] ?? '').trimEnd().endsWith(escape)) last++;
  const from = Math.max(1, line - contextLines);
  const to = Math.min(lines.length, last + contextLines);
  const width = Math.max(4, String(to).length + 1);
  const out: string[] = [rule];
  for (let n = from; n <= to; n++) {
    if (n === line + maxMarkedLines && last - n > 1) {
      out.push(`${' '.repeat(width)} | >>> … (${last - n} more lines)`);
      n = last;
    }
    const mark = n >= line && n <= last ? '>>> ' : '';
    out.push(`${String(n).padStart(width)} | ${mark}${clip(printable(lines[n - 1] ?? '').replace(/\t/gu, '\\x09'))}`);
  }
  out.push(rule);
  return out.join('\n') + '\n';
}
