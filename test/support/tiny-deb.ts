// A tiny Debian package made with dpkg-deb, for non-root RUN tests and bench/rootless-run.ts: a root-owned file, a
// setuid file, and a postinst that writes into and chowns a directory to the user `app` (which must exist).
import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export async function tinyDeb(dir: string): Promise<Buffer> {
  const pkg = join(dir, 'tiny');
  await mkdir(join(pkg, 'DEBIAN'), { recursive: true });
  await mkdir(join(pkg, 'usr', 'bin'), { recursive: true });
  await mkdir(join(pkg, 'var', 'lib', 'tiny'), { recursive: true });
  await writeFile(join(pkg, 'DEBIAN', 'control'), 'Package: tiny\nVersion: 1.0\nArchitecture: all\nMaintainer: test <t@example.com>\nDescription: tiny test package\n');
  await writeFile(join(pkg, 'DEBIAN', 'postinst'), '#!/bin/sh\nset -e\necho data > /var/lib/tiny/data\nchown -R app:app /var/lib/tiny\nchmod 0750 /var/lib/tiny\n');
  await writeFile(join(pkg, 'usr', 'bin', 'tiny'), '#!/bin/sh\necho tiny\n');
  await writeFile(join(pkg, 'usr', 'bin', 'tiny-suid'), '#!/bin/sh\necho suid\n');
  await chmod(join(pkg, 'DEBIAN', 'postinst'), 0o755);
  await chmod(join(pkg, 'usr', 'bin', 'tiny'), 0o755);
  await chmod(join(pkg, 'usr', 'bin', 'tiny-suid'), 0o4755);
  await exec('dpkg-deb', ['--root-owner-group', '--build', pkg, join(dir, 'tiny.deb')]);
  return readFile(join(dir, 'tiny.deb'));
}
