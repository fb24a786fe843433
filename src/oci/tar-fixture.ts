// Test support: writes small tar files with tar-stream. Imported only by *.test.ts files.
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';

export interface FixtureEntry {
  readonly name: string;
  readonly content?: string;
  readonly type?: 'file' | 'directory';
}

export async function writeTarFixture(filePath: string, entries: readonly FixtureEntry[]): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack, createWriteStream(filePath));
  for (const e of entries) {
    const fixed = { mtime: new Date(0), uid: 0, gid: 0 };
    if (e.type === 'directory') {
      pack.entry({ name: e.name, type: 'directory', mode: 0o755, ...fixed });
    } else {
      pack.entry({ name: e.name, type: 'file', mode: 0o644, ...fixed }, e.content ?? '');
    }
  }
  pack.finalize();
  await done;
}
