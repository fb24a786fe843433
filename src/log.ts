// The logger every module receives as a parameter. Only src/cli creates the pino root.
// Modules log human sentences with facts in fields: log.info({ ref, digest }, 'Pushed image').
import type { Logger } from 'pino';

export type Log = Pick<Logger, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'child'>;

/** pino redaction paths: credentials never reach a log line. */
export const redactPaths: readonly string[] = [
  '*.authorization', '*.Authorization', '*.password', '*.identityToken', '*.registryToken',
  '*.token', '*.secret', 'headers.*', '*.headers.authorization', 'auth', '*.auth',
];
