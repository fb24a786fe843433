// Locates the regular files inside a tar (name -> byte range) by reading only the headers, so
// single members can later be streamed straight from the file without extracting it.
import { open } from 'node:fs/promises';
import { BuildError } from '../errors.ts';

export interface TarMember {
  readonly offset: number;
  readonly size: number;
}

const BLOCK = 512;

function field(buf: Buffer, start: number, len: number): string {
  const raw = buf.subarray(start, start + len);
  const nul = raw.indexOf(0);
  return raw.subarray(0, nul < 0 ? len : nul).toString('utf8');
}

function octal(buf: Buffer, start: number, len: number, filePath: string): number {
  const first = buf[start] ?? 0;
  if (first & 0x80) {
    // GNU base-256 encoding for sizes of 8 GiB and more.
    let n = 0;
    for (let i = start + 1; i < start + len; i++) n = n * 256 + (buf[i] ?? 0);
    return n;
  }
  const s = field(buf, start, len).trim();
  const n = s === '' ? 0 : Number.parseInt(s, 8);
  if (!Number.isSafeInteger(n) || n < 0) throw new BuildError('ARCHIVE', `${filePath}: corrupt tar header (size ${JSON.stringify(s)})`);
  return n;
}

function paxPath(data: Buffer): string | undefined {
  // Records are "<len> key=value\n".
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space < 0) break;
    const len = Number.parseInt(data.subarray(pos, space).toString('utf8'), 10);
    if (!Number.isSafeInteger(len) || len <= 0) break;
    const record = data.subarray(space + 1, pos + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (record.slice(0, eq) === 'path') return record.slice(eq + 1);
    pos += len;
  }
  return undefined;
}

function normalise(name: string): string {
  return name.replace(/^(\.\/)+/, '').replace(/^\/+/, '');
}

export async function indexTar(filePath: string): Promise<Map<string, TarMember>> {
  const members = new Map<string, TarMember>();
  const fh = await open(filePath, 'r');
  try {
    const { size: fileSize } = await fh.stat();
    const header = Buffer.alloc(BLOCK);
    let pos = 0;
    let longName: string | undefined;
    while (pos + BLOCK <= fileSize) {
      const { bytesRead } = await fh.read(header, 0, BLOCK, pos);
      if (bytesRead < BLOCK) break;
      if (header.every((b) => b === 0)) break; // end-of-archive marker
      const size = octal(header, 124, 12, filePath);
      const type = String.fromCharCode(header[156] ?? 0);
      const dataStart = pos + BLOCK;
      if (dataStart + size > fileSize) throw new BuildError('ARCHIVE', `${filePath}: truncated tar (member at ${pos})`);
      if (type === 'L' || type === 'x') {
        if (size > 1 << 20) throw new BuildError('ARCHIVE', `${filePath}: oversized tar extended header`);
        const data = Buffer.alloc(size);
        await fh.read(data, 0, size, dataStart);
        longName = type === 'L' ? field(data, 0, size) : paxPath(data) ?? longName;
      } else {
        const prefix = header.subarray(257, 263).toString('latin1').startsWith('ustar') ? field(header, 345, 155) : '';
        const name = longName ?? (prefix === '' ? field(header, 0, 100) : `${prefix}/${field(header, 0, 100)}`);
        longName = undefined;
        if (type === '0' || type === '\0' || type === '7') members.set(normalise(name), { offset: dataStart, size });
      }
      pos = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    }
  } finally {
    await fh.close();
  }
  return members;
}
