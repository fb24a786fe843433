// `tar://PATH` and `tar://stdin`: a context tarball on this machine or on standard input, unpacked
// into the work directory. kaniko accepts gzip only; gzip, zstd and plain tar are all recognised here.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { BuildError } from '../errors.ts';
import { extractContextArchive } from './archive.ts';
import type { ContextDeps, ContextSource } from './source.ts';

export function tarContextSource(tarPath: string, deps: ContextDeps): ContextSource {
  return {
    scheme: 'tar',
    async fetch(workDir, signal) {
      signal.throwIfAborted();
      if (tarPath === 'stdin') return fetchStdin(workDir, signal, deps);
      if (tarPath === '') throw new BuildError('CONTEXT', 'tar:// needs a path to a context tarball (or tar://stdin)');
      const file = path.resolve(tarPath);
      let isFile: boolean;
      try {
        isFile = (await stat(file)).isFile();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const why = code === 'ENOENT' ? 'does not exist' : (err as Error).message;
        throw new BuildError('CONTEXT', `build context tarball ${file} ${why}`, { cause: err });
      }
      if (!isFile) throw new BuildError('CONTEXT', `build context tarball ${file} is not a regular file`);
      await extractContextArchive(createReadStream(file), workDir, { source: `tar://${file}`, log: deps.log, signal });
      return workDir;
    },
  };
}

async function fetchStdin(workDir: string, signal: AbortSignal, deps: ContextDeps): Promise<string> {
  // kaniko refuses a terminal: nobody can type a tarball, and waiting forever helps no one.
  if (deps.stdin.isTTY === true) {
    throw new BuildError('CONTEXT', 'tar://stdin: standard input is a terminal, not a context tarball', {
      hint: 'run the container with -i / feed a tar.gz on standard input',
    });
  }
  deps.log.info('Reading the build context from standard input');
  const input = deps.stdin instanceof Readable ? deps.stdin : Readable.from(deps.stdin);
  await extractContextArchive(input, workDir, { source: 'tar://stdin', log: deps.log, signal });
  return workDir;
}
