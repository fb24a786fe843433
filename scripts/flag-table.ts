// Prints the README's flag tables from src/cli/flags.ts; `--write` updates README.md in place.
// test/readme.test.ts fails when the README and the code disagree.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { executorFlags, warmerFlags, type FlagSpec } from '../src/cli/flags.ts';

function row(f: FlagSpec): string {
  const name = `${f.short !== undefined ? `\`-${f.short}\`, ` : ''}\`--${f.name}\``;
  const def = f.default === undefined ? '' : `\`${String(f.default)}\``;
  const status = f.supported ? (f.extension === true ? 'yes (ours)' : 'yes') : 'not yet';
  const env = f.env !== undefined ? ` (env \`${f.env}\`)` : '';
  const alias = f.aliasOf !== undefined ? ` Deprecated alias of \`--${f.aliasOf}\`.` : '';
  return `| ${name} | ${f.kind} | ${def} | ${status} | ${f.help.replace(/\|/g, '\\|')}${env}.${alias} |`;
}

export function flagTable(specs: readonly FlagSpec[]): string {
  return ['| flag | kind | default | built | meaning |', '|---|---|---|---|---|', ...specs.map(row)].join('\n');
}

export function renderReadme(readme: string): string {
  const put = (text: string, marker: string, table: string): string => {
    const start = `<!-- ${marker}:start -->`;
    const end = `<!-- ${marker}:end -->`;
    const i = text.indexOf(start);
    const j = text.indexOf(end);
    if (i < 0 || j < i) throw new Error(`README.md lacks the ${marker} markers`);
    return text.slice(0, i + start.length) + '\n' + table + '\n' + text.slice(j);
  };
  return put(put(readme, 'executor-flags', flagTable(executorFlags)), 'warmer-flags', flagTable(warmerFlags));
}

if (import.meta.main) {
  const path = join(import.meta.dirname, '..', 'README.md');
  const next = renderReadme(readFileSync(path, 'utf8'));
  if (process.argv.includes('--write')) writeFileSync(path, next);
  else process.stdout.write(flagTable(executorFlags) + '\n');
}
