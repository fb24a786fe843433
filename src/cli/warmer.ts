// `warmer`: fills the base-image cache directory. Its flags are recognised; the behaviour comes with the caching issue.
import { UsageError } from '../errors.ts';
import { warmerFlags } from './flags.ts';
import { buildProgram, parseFlags } from './parse-flags.ts';
import { exitWith, type CliIo } from './run-cli.ts';

export async function warmerMain(io: CliIo): Promise<void> {
  const program = buildProgram('warmer', 'Cache base images in a local directory for the executor', warmerFlags);
  program.configureOutput({ writeOut: io.stdout, writeErr: () => undefined });
  parseFlags(program, warmerFlags, io.argv, io.env);
  throw new UsageError('the warmer is not supported yet: pass --help to see its flags');
}

if (import.meta.main) await exitWith(warmerMain);
