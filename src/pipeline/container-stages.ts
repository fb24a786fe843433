// Container mode (the build root is '/', kaniko's model): stages build one after another in the same root, so
// between two stages '/' is reset to nothing but the machinery's paths, and a stage that a later COPY --from
// reads gets its filesystem back, lazily, by extracting its image's layers into a directory of its own.
import { lstat, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Log } from '../log.ts';
import type { Image } from '../oci/image.ts';
import type { OwnershipTable } from '../ownership/table.ts';
import { extractLayer } from '../rootfs/extract.ts';
import { createIgnoreList, type IgnoreList } from '../rootfs/ignore-list.ts';
import { isWithin, toRootPath } from '../rootfs/resolve.ts';

export interface RootReset {
  /** The build root ('/' in container mode). */
  readonly root: string;
  /** What survives: the executor's directory, /proc, /sys, /dev, mount points, /var/run, --ignore-path. */
  readonly ignore: IgnoreList;
  /** '/a/b' paths the ignore list was made of: a directory holding one of them is walked, not removed whole. */
  readonly ignoredPaths: readonly string[];
  /** Host paths that must survive too (the build context, the cache directory) when they lie in the root. */
  readonly keep: readonly string[];
  readonly log: Log;
}

function childPath(rootPath: string, name: string): string {
  return rootPath === '/' ? `/${name}` : `${rootPath}/${name}`;
}

/**
 * Deletes everything in the build root except ignored paths, kept paths and the directories leading to them
 * (kaniko's DeleteFilesystem). Never follows a symlink: a link is removed, not walked. A subtree with nothing
 * to spare below it goes in one fs.rm, which does not follow links either.
 */
export async function resetRoot(r: RootReset): Promise<{ removed: number; durationMs: number }> {
  const started = Date.now();
  const keep = r.keep.filter((k) => isWithin(r.root, k)).map((k) => toRootPath(r.root, k)).filter((k) => k !== '/');
  const spared = [...r.ignoredPaths, ...keep];
  const isSpared = (p: string): boolean => r.ignore.ignores(p) || keep.some((k) => p === k || p.startsWith(`${k}/`));
  const holdsSpared = (p: string): boolean => spared.some((s) => s.startsWith(`${p}/`));
  let removed = 0;
  const clear = async (hostDir: string, rootPath: string): Promise<void> => {
    for (const name of await readdir(hostDir)) {
      const p = childPath(rootPath, name);
      if (isSpared(p)) continue;
      const host = join(hostDir, name);
      if ((await lstat(host)).isDirectory() && holdsSpared(p)) {
        await clear(host, p);
        continue;
      }
      await rm(host, { recursive: true, force: true });
      removed++;
    }
  };
  r.log.info('Deleting filesystem...');
  await clear(r.root, '/');
  const durationMs = Date.now() - started;
  r.log.debug({ removed, durationMs }, 'Build root reset');
  return { removed, durationMs };
}

export interface StageFilesystems {
  /** The directory holding stage `index`'s filesystem, extracted from `image` on first use. */
  dirFor(index: number, image: Image): Promise<string>;
}

/**
 * COPY --from=<stage> in container mode: the stage's files left '/' when it was reset, but its image (layers
 * as files under the work directory, base layers still in the registry) describes them exactly. Extracted
 * once, on first use, under `<workDir>/stages/<n>` (inside the executor's ignored directory).
 */
export function stageFilesystems(workDir: string, log: Log, tableFor?: (dir: string) => OwnershipTable | undefined): StageFilesystems {
  const pending = new Map<number, Promise<string>>();
  return {
    dirFor(index, image) {
      let dir = pending.get(index);
      if (dir === undefined) {
        dir = (async () => {
          const target = join(workDir, 'stages', String(index));
          await mkdir(target, { recursive: true });
          const started = Date.now();
          const layers = await image.layers();
          log.info(`Extracting the filesystem of stage ${index} for COPY --from`);
          // Non-root mode: owners and modes into the directory's own table (COPY --from reads them there).
          const owners = tableFor?.(target);
          for (const layer of layers) await extractLayer(target, await layer.uncompressed(), { ignore: createIgnoreList([]), log, ...(owners !== undefined ? { owners } : {}) });
          log.debug({ stage: index, layers: layers.length, durationMs: Date.now() - started }, 'Stage filesystem extracted');
          return target;
        })();
        pending.set(index, dir);
      }
      return dir;
    },
  };
}
