// Test-only: the regular files of an image's layers (after the first `skip`), by path, with their contents as text;
// a later layer's file replaces an earlier one's. For asserting what RUN steps wrote.
import * as tar from 'tar-stream';
import { parseReference } from '../../src/registry/reference.ts';
import { remoteImage, type RemoteOptions } from '../../src/registry/remote.ts';

export async function layerFiles(ref: string, opts: RemoteOptions, skip = 1): Promise<Map<string, string>> {
  const img = await remoteImage(parseReference(ref), opts);
  const files = new Map<string, string>();
  for (const layer of (await img.layers()).slice(skip)) {
    const extract = tar.extract();
    (await layer.uncompressed()).pipe(extract);
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      if (entry.header.type === 'file') files.set(entry.header.name, Buffer.concat(chunks).toString('utf8'));
    }
  }
  return files;
}
