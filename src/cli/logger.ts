// The one pino root logger. text/color render kaniko-style lines ("INFO[0003] message key=value");
// json passes pino's lines through. Credentials are redacted by path before anything is written.
import { pino } from 'pino';
import { UsageError } from '../errors.ts';
import { redactPaths, type Log } from '../log.ts';

const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'panic'] as const;
const formats = ['text', 'color', 'json'] as const;
export type LogFormat = (typeof formats)[number];

const labelOf: Readonly<Record<number, string>> = { 10: 'TRAC', 20: 'DEBU', 30: 'INFO', 40: 'WARN', 50: 'ERRO', 60: 'FATA' };
const colorOf: Readonly<Record<number, string>> = { 10: '37', 20: '37', 30: '36', 40: '33', 50: '31', 60: '31' };

export interface LoggerOptions {
  readonly verbosity: string;
  readonly format: string;
  readonly timestamp: boolean;
  readonly write: (line: string) => void;
}

function formatLine(json: string, format: LogFormat, timestamp: boolean, start: number): string {
  let rec: Record<string, unknown>;
  try { rec = JSON.parse(json) as Record<string, unknown>; } catch { return json; }
  const level = typeof rec['level'] === 'number' ? rec['level'] : 30;
  const time = typeof rec['time'] === 'number' ? rec['time'] : Date.now();
  const label = labelOf[level] ?? 'INFO';
  const when = timestamp ? new Date(time).toISOString() : String(Math.max(0, Math.floor((time - start) / 1000))).padStart(4, '0');
  const head = format === 'color' ? `\u001b[${colorOf[level] ?? '36'}m${label}\u001b[0m[${when}]` : `${label}[${when}]`;
  // A progress event's line (`stream` set: step, transfer, summary) says it all in its text; its fields are for JSON.
  const fields = typeof rec['stream'] === 'string' ? [] : Object.entries(rec)
    .filter(([k]) => !['level', 'time', 'msg', 'pid', 'hostname'].includes(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return `${head} ${String(rec['msg'] ?? '')}${fields.length > 0 ? ' ' + fields.join(' ') : ''}\n`;
}

export function createLogger(opts: LoggerOptions): Log {
  const verbosity = opts.verbosity === 'panic' ? 'fatal' : opts.verbosity;
  if (!(levels as readonly string[]).includes(opts.verbosity)) {
    throw new UsageError(`invalid --verbosity "${opts.verbosity}": use one of ${levels.join(', ')}`);
  }
  if (!(formats as readonly string[]).includes(opts.format)) {
    throw new UsageError(`invalid --log-format "${opts.format}": use text, color or json`);
  }
  const format = opts.format as LogFormat;
  const start = Date.now();
  const destination = {
    write: (line: string): void => opts.write(format === 'json' ? line : formatLine(line, format, opts.timestamp, start)),
  };
  return pino({ level: verbosity, base: null, redact: { paths: [...redactPaths], censor: '***' } }, destination);
}
