// rpm header blobs for the SBOM scanner's tests: the format rpmdb.sqlite, BerkeleyDB Packages and ndb store.

/** An rpm header blob: il, dl, 16-byte index entries, data (big-endian). Tags are [tag, type, value]. */
export function rpmHeader(tags: readonly (readonly [number, number, string | number])[]): Buffer {
  const data: Buffer[] = [];
  const index = Buffer.alloc(16 * tags.length);
  let offset = 0;
  tags.forEach(([tag, type, value], i) => {
    const bytes = typeof value === 'number' ? Buffer.alloc(4) : Buffer.from(`${value}\0`);
    if (typeof value === 'number') bytes.writeUInt32BE(value);
    index.writeUInt32BE(tag, i * 16); index.writeUInt32BE(type, i * 16 + 4); index.writeInt32BE(offset, i * 16 + 8); index.writeUInt32BE(1, i * 16 + 12);
    data.push(bytes); offset += bytes.length;
  });
  const head = Buffer.alloc(8);
  head.writeUInt32BE(tags.length); head.writeUInt32BE(offset, 4);
  return Buffer.concat([head, index, ...data]);
}
