// A build context that is already a directory on this machine (`dir://PATH` or a plain path).
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../errors.ts';
import type { ContextSource } from './source.ts';

/** dirPath may be relative: it is resolved against the current directory when fetched. */
export function dirContextSource(dirPath: string): ContextSource {
  return {
    scheme: 'dir',
    async fetch(_workDir, signal) {
      signal.throwIfAborted();
      if (dirPath === '') throw new BuildError('CONTEXT', 'build context directory is empty: give a path');
      const root = path.resolve(dirPath);
      let isDir: boolean;
      try {
        isDir = (await stat(root)).isDirectory();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const why = code === 'ENOENT' ? 'does not exist' : (err as Error).message;
        throw new BuildError('CONTEXT', `build context directory ${root} ${why}`, { cause: err });
      }
      if (!isDir) throw new BuildError('CONTEXT', `build context ${root} is not a directory`);
      return root;
    },
  };
}
