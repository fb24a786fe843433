// `--check` output as `docker build --check` prints it: the count, then per warning `WARNING: Rule - url`,
// the message, `Dockerfile:N` and the excerpt with the line marked `>>>`.
import type { LintResult } from '../pipeline/lint.ts';
import { formatExcerpt } from './excerpt.ts';
import { printable } from './run-cli.ts';

export function formatCheckReport(result: LintResult): string {
  const n = result.warnings.length;
  if (n === 0) return 'Check complete, no warnings found.\n';
  let out = `Check complete, ${n === 1 ? '1 warning has' : `${n} warnings have`} been found!\n`;
  for (const w of result.warnings) {
    out += `\nWARNING: ${w.rule} - ${w.url}\n${printable(w.message)}\n`;
    const excerpt = formatExcerpt(result.source, w.line, result.escape);
    if (excerpt !== undefined) out += `${printable(result.file)}:${w.line}\n${excerpt}`;
  }
  return out;
}

/** Under --log-format=json every stdout line is one JSON object: one per warning, then the count. */
export function formatCheckReportJson(result: LintResult): string {
  const n = result.warnings.length;
  const lines = result.warnings.map((w) => JSON.stringify({
    level: 'warn', check: w.rule, url: w.url, file: result.file, line: w.line, msg: w.message, description: w.description,
  }));
  lines.push(JSON.stringify({ level: 'info', warnings: n,
    msg: n === 0 ? 'Check complete, no warnings found.' : `Check complete, ${n === 1 ? '1 warning has' : `${n} warnings have`} been found!` }));
  return lines.join('\n') + '\n';
}
